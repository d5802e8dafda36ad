import { ConfigError } from '../core/errors.js';

/** Percent-decode one part of a Redis URL (`what`: "password", "master name"...); bad encoding is a ConfigError naming the part, never echoing it. */
export function decodeUrlPart(part: string, what: string, where: string, kind: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(where, `the ${what} of the ${kind} is not valid percent-encoding (a % in it is written %25)`);
  }
}

/**
 * Split a URL's `user:password@` off what follows its scheme. At the last `@`: a password may hold
 * one (percent-encoded or not); a host list or a master's name does not.
 */
export function splitUrlAuth(afterScheme: string, where: string, kind: string): { rest: string; username?: string; password?: string } {
  const at = afterScheme.lastIndexOf('@');
  if (at < 0) return { rest: afterScheme };
  const auth = afterScheme.slice(0, at);
  const colon = auth.indexOf(':');
  const user = colon >= 0 ? auth.slice(0, colon) : auth;
  return {
    rest: afterScheme.slice(at + 1),
    username: user ? decodeUrlPart(user, 'user name', where, kind) : undefined,
    password: colon >= 0 ? decodeUrlPart(auth.slice(colon + 1), 'password', where, kind) : undefined,
  };
}

/**
 * A URL's comma-separated `host[:port]` list (IPv6 in brackets), `defaultPort` where none is given.
 * `what` names an item in errors ("cluster seed", "sentinel address").
 */
export function parseHostList(hosts: string, defaultPort: number, what: string, where: string): { host: string; port: number }[] {
  return hosts
    .split(',')
    .filter(Boolean)
    .map((h) => {
      const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(h);
      if (!m) throw new ConfigError(where, `bad ${what} ${JSON.stringify(h)} (expected host:port)`);
      const port = m[2] === undefined ? defaultPort : Number(m[2]);
      if (!(port > 0 && port < 65536)) throw new ConfigError(where, `bad port in ${what} ${JSON.stringify(h)}`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    });
}
