import type { Redis } from 'ioredis';
import { errorMessage, PermissionError } from '../core/errors.js';
import { isPermissionRefusal } from '../core/failure-policy.js';
import { library, type FunctionLibrary } from './functions.js';
import { parseRedisUrl } from './url.js';

/**
 * Redis's ACL refusals, explained for a person: which user, which command, which key. Redis's own
 * reply names at best the command ("NOPERM this user has no permissions to run the 'xreadgroup'
 * command"), often nothing ("... to access one of the keys used as arguments"; inside a function
 * "The user executing the script can't run this command or subcommand script:
 * sle_<hash>_claim_2, on @user_function:30"). ioredis keeps the command it sent on the reply error
 * (`command`: name and arguments), and the pipeline's functions are its own library, so the
 * function's script and the line's Redis command can be named, and a refused declared key found
 * with the library's no-key probe (FCALL_RO, read-only, writes nothing).
 */

/** The command ioredis attaches to a reply error. */
interface SentCommand {
  name: string;
  args: unknown[];
}

/** The user a Redis URL logs in as: its user name, `default` without one. */
export function urlUser(url: string): string {
  try {
    const target = parseRedisUrl(url);
    if (target.kind !== 'single') return target.username || 'default';
    return decodeURIComponent(new URL(url).username) || 'default';
  } catch {
    return 'default';
  }
}

/** ACL WHOAMI on `client`; the URL's user when this user may not run it (rules of a release before it). */
export async function whoAmI(client: Redis, url: string): Promise<string> {
  try {
    return String(await client.call('ACL', 'WHOAMI'));
  } catch {
    return urlUser(url);
  }
}

/** The reply error with its command inside `err` (wrappers keep it as their `cause`), else the innermost refusal. */
function refusalOf(err: unknown): (Error & { command?: SentCommand }) | undefined {
  let found: (Error & { command?: SentCommand }) | undefined;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (!isPermissionRefusal(e) || e instanceof PermissionError) continue;
    found = e as Error & { command?: SentCommand };
    if (found.command) return found;
  }
  return found;
}

const text = (a: unknown) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a));
/** The pipeline's keys all start with their hash tag: `{<pipeline>}:...`. */
const KEY = /^\{[^}]+\}/;

/** A function of the library by its FCALL name: its script (`claim-3`). */
function scriptOf(lib: FunctionLibrary, fn: string): string | undefined {
  for (const [script, name] of lib.functions) if (name === fn) return script;
  return undefined;
}

/** The Redis command on line `line` of the library's code (what `@user_function:<line>` points at). */
function commandAtLine(lib: FunctionLibrary, line: number): string | undefined {
  const m = /redis\.p?call\(\s*'([A-Za-z|]+)'/.exec(lib.code.split('\n')[line - 1] ?? '');
  return m?.[1]?.toUpperCase();
}

/**
 * The refusal in `err` explained (undefined when `err` is no ACL refusal). `user`: who the
 * connection is (ACL WHOAMI at start). `client`: when given, a refusal of a function's declared keys
 * is narrowed to the key refused, one FCALL_RO of the library's probe per key (a read-only,
 * no-key function: nothing runs on the keys). `fix`: what to say to do.
 */
export async function explainRefusal(
  err: unknown,
  o: { user: string; client?: Redis; lib?: FunctionLibrary; fix?: string },
): Promise<PermissionError | undefined> {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) if (e instanceof PermissionError) return e;
  const refusal = refusalOf(err);
  if (!refusal) return undefined;
  const reply = errorMessage(refusal).trim();
  const lib = o.lib ?? library();
  const sent = refusal.command;
  const args = (sent?.args ?? []).map(text);
  const named = /to run the '([^']+)' command/i.exec(reply)?.[1]?.toUpperCase().replace('|', ' ');
  if (sent && /^fcall(_ro)?$/i.test(sent.name)) {
    const script = scriptOf(lib, args[0] ?? '') ?? args[0] ?? '?';
    const keys = args.slice(2, 2 + Number(args[1] ?? 0));
    const line = /@user_function:(\d+)/.exec(reply);
    if (line) {
      // Refused inside the function: the line names the command; its keys are among the declared ones.
      return new PermissionError(o.user, `${named ?? commandAtLine(lib, Number(line[1])) ?? 'a command'} in function ${script}`, keys, reply, o.fix);
    }
    const refused = o.client && /keys/i.test(reply) ? await refusedKey(o.client, lib, keys) : undefined;
    return new PermissionError(o.user, `FCALL ${script}`, refused ? [refused] : keys, reply, o.fix);
  }
  const command = named ?? (sent ? commandName(sent.name, args) : 'a command');
  return new PermissionError(
    o.user,
    command,
    args.filter((a) => KEY.test(a)),
    reply,
    o.fix,
  );
}

/** `XINFO GROUPS`, `XGROUP CREATE`: the container command with its subcommand. */
function commandName(name: string, args: string[]): string {
  const n = name.toUpperCase();
  return /^(XINFO|XGROUP|ACL|CLIENT|CONFIG|FUNCTION|SCRIPT|CLUSTER|OBJECT|MEMORY)$/.test(n) && args[0] ? `${n} ${args[0].toUpperCase()}` : n;
}

/** The first of `keys` this user may not name in an FCALL (the library's probe, one key at a time), if one is. */
async function refusedKey(client: Redis, lib: FunctionLibrary, keys: readonly string[]): Promise<string | undefined> {
  for (const key of keys) {
    try {
      await client.call('FCALL_RO', lib.probe, 1, key);
    } catch (err) {
      if (isPermissionRefusal(err)) return key;
      return undefined; // another error (the library missing, a connection): no narrowing
    }
  }
  return undefined;
}
