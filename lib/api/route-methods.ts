/**
 * Which methods each path of the server takes, for an answer to a method it does not: 405 with
 * `Allow` (RFC 9110), and an OPTIONS answered 204 with `Allow`. A path no route matches under any
 * method stays a 404. Patterns with a wildcard (`/console/*`, the console's files) are left out: a
 * path they match is not a route the server names.
 */
export class RouteMethods {
  private readonly routes: { pattern: RegExp; methods: Set<string> }[] = [];
  private readonly byUrl = new Map<string, Set<string>>();

  /** A route as Fastify's onRoute hook gives it (`url` its pattern, `/v1/products/:id`). */
  add(method: string | string[], url: string): void {
    if (url.includes('*')) return;
    let methods = this.byUrl.get(url);
    if (!methods) {
      methods = new Set();
      this.byUrl.set(url, methods);
      // A parameter is one path segment, as Fastify's router reads it.
      const source = url
        .split('/')
        .map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
        .join('/');
      this.routes.push({ pattern: new RegExp(`^${source}$`), methods });
    }
    for (const m of [method].flat()) {
      methods.add(m);
      if (m === 'GET') methods.add('HEAD');
    }
  }

  /** The methods the server takes for `path` (no query string), sorted; empty when no route has it. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(path)) for (const m of r.methods) out.add(m);
    return [...out].sort();
  }
}
