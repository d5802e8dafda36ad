import { timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ConfigError } from '../core/errors.js';

/**
 * Roles of the HTTP API. `submit` may add products (`POST /v1/products`, `POST /v1/enrich`),
 * `read` may read statuses, products and events, `admin` may do everything (and is what the
 * console's actions require). A token carries one or more roles; `admin` implies the other two.
 */
export const ROLES = ['submit', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** One configured bearer token and what it may do. */
export interface ApiToken {
  /** The secret the client sends as `Authorization: Bearer <token>`. */
  token: string;
  roles: Role[];
  /** Shown in logs instead of the secret. @defaultValue "<first role>-<n>" */
  name?: string;
}

/** Who made a request: set on `request.principal` by the auth hook (undefined = no valid token). */
export interface Principal {
  name: string;
  roles: ReadonlySet<Role>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, from its bearer token; `open` mode (no tokens configured, loopback only) gives every role. */
    principal?: Principal;
  }
}

/** A token's name, given as `role@name:token`: what logs, the console's audit and review decisions say. */
const TOKEN_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** The shortest token taken: a role this long or longer is not repeated in an error (an entry written `token:role` has its secret there). */
const TOKEN_MIN = 16;

/**
 * Tokens from the environment: `API_TOKENS="role[+role][@name]:token,..."`, for example
 * `API_TOKENS="submit:s3cret,read+submit:app-token,admin@alice:ops-token"`. Tokens must be 16+
 * characters. A name (letters, digits, `.`, `_`, `-`) tells operators apart: without one a token
 * is `<first role>-<n>`, its place in the list (`admin-1`). Throws ConfigError naming the entry
 * that is wrong (never echoing a secret).
 */
export function parseTokens(spec: string | undefined, where = 'API_TOKENS'): ApiToken[] {
  if (!spec || !spec.trim()) return [];
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) throw new ConfigError(`${where}[${i}]`, 'expected role[+role][@name]:token');
      const head = entry.slice(0, colon);
      const at = head.indexOf('@');
      const name = at >= 0 ? head.slice(at + 1).trim() : undefined;
      if (name !== undefined && !TOKEN_NAME.test(name))
        throw new ConfigError(`${where}[${i}]`, `name ${JSON.stringify(name)}: 1 to 64 letters, digits, ".", "_" or "-"`);
      const roles = (at >= 0 ? head.slice(0, at) : head).split('+').map((r) => r.trim());
      for (const r of roles)
        if (!(ROLES as readonly string[]).includes(r)) {
          const said = r.length < TOKEN_MIN ? JSON.stringify(r) : '(not shown: as long as a token)';
          throw new ConfigError(`${where}[${i}]`, `unknown role ${said}; an entry is role[+role][@name]:token (known roles: ${ROLES.join(', ')})`);
        }
      const token = entry.slice(colon + 1).trim();
      if (token.length < TOKEN_MIN) throw new ConfigError(`${where}[${i}]`, `token shorter than ${TOKEN_MIN} characters`);
      return { token, roles: roles as Role[], name: name ?? `${roles[0]}-${i}` };
    });
}

/**
 * True when `host` only accepts connections from this machine: `localhost`, `::1` or an IPv4
 * address in 127.0.0.0/8. A name that only starts with `127.` (`127.0.0.1.attacker.example`) is
 * not one: its DNS can point anywhere, or be rebound to 127.0.0.1 under a web page's feet.
 */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

/** The host name of a Host header or an Origin (`127.0.0.1:8080`, `[::1]:80`, `http://localhost:3000`), brackets off; undefined when unreadable. */
function hostNameOf(value: string, isOrigin: boolean): string | undefined {
  try {
    return new URL(isOrigin ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/**
 * Without tokens every caller has every role, and the server listens on loopback only; but a web
 * page in a browser on this machine can still reach it: a cross-site POST (its Origin another
 * site's) or a DNS-rebound name (its Host not a loopback name). Returns why such a request is
 * refused, or undefined for a request from this machine's own tools (curl, the console itself).
 */
export function openModeRefusal(headers: { host?: string | undefined; origin?: string | undefined }): string | undefined {
  const host = headers.host === undefined ? undefined : hostNameOf(headers.host, false);
  if (host === undefined || !isLoopback(host))
    return `Host ${JSON.stringify(headers.host ?? '')} is not a loopback name; without API_TOKENS only this machine's own clients are served`;
  if (headers.origin === undefined || headers.origin === 'null')
    return headers.origin === 'null' ? 'a request from an opaque origin (Origin: null); without API_TOKENS only pages of this server are served' : undefined;
  const origin = hostNameOf(headers.origin, true);
  if (origin === undefined || !isLoopback(origin)) return `Origin ${headers.origin} is another site; without API_TOKENS only pages of this server are served`;
  return undefined;
}

/** Compare secrets in constant time (length leaks, content does not). */
function sameSecret(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Resolve the caller of a request from its `Authorization` header. With no tokens configured
 * every caller is `open` with every role (the server then binds to loopback only: see
 * buildServer's `host`). Returns undefined for a missing or unknown token.
 */
export function authenticator(tokens: readonly ApiToken[]): (request: FastifyRequest) => Principal | undefined {
  if (tokens.length === 0) {
    const open: Principal = { name: 'open', roles: new Set(ROLES) };
    return () => open;
  }
  const known = tokens.map((t, i) => ({
    secret: Buffer.from(t.token),
    principal: { name: t.name ?? `${t.roles[0]}-${i}`, roles: new Set<Role>(t.roles.includes('admin') ? ROLES : t.roles) } as Principal,
  }));
  return (request) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string') return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return undefined;
    const given = Buffer.from(m[1]!);
    // Check every token (no early exit), so timing does not tell which prefix matched.
    let found: Principal | undefined;
    for (const k of known) if (sameSecret(given, k.secret)) found = k.principal;
    return found;
  };
}

/**
 * An onRequest hook that lets a request through only if its caller has `role` (`admin` has all):
 * 401 with `WWW-Authenticate: Bearer` without a valid token, 403 with a valid token lacking the
 * role. As onRequest, it answers before the body is read: a caller without a token cannot make
 * the server buffer and parse a body. For the console and any other plugin:
 *
 * ```ts
 * app.get('/console/api/x', { onRequest: requireRole('admin') }, handler)
 * ```
 *
 * The server's auth hook (registered by buildServer, an onRequest hook too, so it runs first) has
 * already set `request.principal`.
 */
export function requireRole(role: Role): onRequestHookHandler {
  return function checkRole(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    const p = request.principal;
    if (!p) {
      reply
        .header('www-authenticate', 'Bearer')
        .code(401)
        .send({ error: 'unauthorized', message: 'missing or unknown bearer token (Authorization: Bearer <token>)' });
      return;
    }
    if (!p.roles.has(role)) {
      reply.code(403).send({ error: 'forbidden', message: `this token lacks the "${role}" role` });
      return;
    }
    done();
  };
}
