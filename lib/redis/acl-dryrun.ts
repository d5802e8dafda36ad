import type { Redis } from 'ioredis';
import { errorMessage, PermissionError } from '../core/errors.js';
import { isPermissionRefusal } from '../core/failure-policy.js';
import { library } from './functions.js';

/** One command a worker will run, to check with ACL DRYRUN: its name and arguments (a key of each pattern it is granted on). */
export interface DryRunProbe {
  /** `xreadgroup`, `xinfo|groups`, `fcall`. */
  command: string;
  /** The arguments after the command (and subcommand). */
  args: string[];
  /** The key it names (for the message). */
  key: string;
}

/** A key matching `pattern` (`{p}:liveness:store:*` → `{p}:liveness:store:acl-check`). */
export const sampleKey = (pattern: string) => pattern.replace(/\*/g, 'acl-check');

/**
 * The arguments of each command the pipeline grants its stage users, for ACL DRYRUN (which checks
 * the arity and finds the keys as the command would): `k` is the key. A command without a shape
 * here (a config's own `settings.acl` grant) is not checked.
 */
const SHAPES: Record<string, (k: string) => string[]> = {
  xreadgroup: (k) => ['GROUP', 'g', 'c', 'STREAMS', k, '>'],
  xack: (k) => [k, 'g', '0-1'],
  xclaim: (k) => [k, 'g', 'c', '0', '0-1'],
  xautoclaim: (k) => [k, 'g', 'c', '0', '0-0'],
  xpending: (k) => [k, 'g'],
  xlen: (k) => [k],
  xtrim: (k) => [k, 'MAXLEN', '0'],
  exists: (k) => [k],
  'xinfo|stream': (k) => [k],
  'xinfo|groups': (k) => [k],
  'xinfo|consumers': (k) => [k, 'g'],
  'xgroup|create': (k) => [k, 'g', '$'],
  'xgroup|createconsumer': (k) => [k, 'g', 'c'],
  'xgroup|delconsumer': (k) => [k, 'g', 'c'],
  xadd: (k) => [k, '*', 'k', 'v'],
  type: (k) => [k],
  set: (k) => [k, 'v'],
  get: (k) => [k],
  del: (k) => [k],
  hmget: (k) => [k, 'f'],
  hget: (k) => [k, 'f'],
  hset: (k) => [k, 'f', 'v'],
  hdel: (k) => [k, 'f'],
  hincrby: (k) => [k, 'f', '1'],
  pexpire: (k) => [k, '1000'],
  sadd: (k) => [k, 'm'],
  srem: (k) => [k, 'm'],
  lrange: (k) => [k, '0', '-1'],
  rpush: (k) => [k, 'v'],
  // The library's no-key probe, naming the key as a function's declared key.
  fcall: (k) => [library().probe, '1', k],
};

/** ACL DRYRUN probes of `commands` on a key of each of `patterns` (commands without a known shape are left out). */
export function probesFor(commands: readonly string[], patterns: readonly string[]): DryRunProbe[] {
  return commands.flatMap((command) => {
    const shape = SHAPES[command];
    return shape ? patterns.map((p) => ({ command, args: shape(sampleKey(p)), key: sampleKey(p) })) : [];
  });
}

/**
 * Check that `user` may run every probe (ACL DRYRUN, Redis >= 7.0; nothing is run). Resolves
 * `'ok'`; `{ unchecked }` with the reason when the check cannot be made (this connection may not
 * run ACL DRYRUN: rules not made by `pipeline acl` of this release; a missing permission then shows
 * when a command is refused, as `redis.noperm`); a PermissionError naming the refused commands and keys.
 */
export async function dryRun(client: Redis, user: string, probes: readonly DryRunProbe[]): Promise<'ok' | { unchecked: string } | PermissionError> {
  const replies = await Promise.all(
    probes.map((p) =>
      (client.call('ACL', 'DRYRUN', user, ...p.command.split('|'), ...p.args) as Promise<unknown>).then(
        (r) => ({ reply: String(r) }),
        (err: unknown) => ({ error: errorMessage(err), refused: isPermissionRefusal(err) }),
      ),
    ),
  );
  const failed = replies.find((r) => 'error' in r);
  if (failed && 'error' in failed)
    return {
      unchecked: failed.refused
        ? `user ${user} may not run ACL DRYRUN (its rules predate this release or were not made by \`pipeline acl\`) [${failed.error}]`
        : failed.error,
    };
  const refused = probes.flatMap((p, i) => {
    const r = replies[i]!;
    return 'reply' in r && r.reply !== 'OK' ? [{ ...p, reply: r.reply }] : [];
  });
  if (refused.length === 0) return 'ok';
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const commands = uniq(refused.map((r) => r.command.replace('|', ' ').toUpperCase()));
  return new PermissionError(user, commands.join(', '), uniq(refused.map((r) => r.key)), `ACL DRYRUN: ${refused[0]!.reply}`);
}
