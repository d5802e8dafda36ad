import { revokeIds, waitRevoked, type RevokeResult } from '../../lib/ops/revoke.js';
import { isPermissionRefusal } from '../../lib/core/failure-policy.js';
import { adminOnlyRefusal, cliActor, cliRedis, loadConfig, type GlobalOptions } from './common.js';

/** `revoke`: some id was not revoked: its trip had ended (stored, review, dead_lettered), or with --wait it ended so after all. */
export const EXIT_NOT_REVOKED = 6;
/** `revoke --wait --wait-timeout ms`: some id had no end yet when the time was up (precedes 6), as `produce --wait`. */
export const EXIT_STILL_WAITING = 5;

export interface RevokeCommandOptions extends GlobalOptions {
  reason?: string;
  force?: boolean;
  wait?: boolean;
  waitTimeout?: string;
  json?: boolean;
}

/** What one id's line says (without --json). */
function line(r: RevokeResult, end: string | undefined): string {
  if (r.outcome === 'ended')
    return r.status === 'revoked' ? `${r.id}: revoked already` : `${r.id}: not revoked, its trip ended ${r.status} (--force revokes a version produced since)`;
  if (end === undefined) return `${r.id}: revoked (was ${r.was}): a version submitted before now is acked unprocessed by the next stage that reads it`;
  if (end === 'waiting') return `${r.id}: revoked, not ended yet after --wait-timeout`;
  return end === 'revoked' ? `${r.id}: revoked` : `${r.id}: ${end} (it was past the stages that check revokes)`;
}

/**
 * `pipeline revoke <id...> [--reason text] [--force] [--wait [--wait-timeout ms]] [--json]`, as the admin
 * (REDIS_URL; lib/ops/revoke.ts): one line per id. Exit 0 when every id was (or, with --wait,
 * ended) revoked; 6 when some was not; 5 when --wait-timeout passed first.
 */
export async function revokeCommand(ids: string[], opts: RevokeCommandOptions): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  try {
    const results = await revokeIds(redis, config, ids, { by: cliActor(), reason: opts.reason?.trim() || undefined, force: opts.force });
    const marked = results.flatMap((r) => (r.outcome === 'revoked' ? [r] : []));
    const timeoutMs = opts.waitTimeout === undefined ? undefined : Number(opts.waitTimeout);
    const ends = opts.wait ? await waitRevoked(redis, config, marked, { timeoutMs }) : new Map<string, string>();
    let waiting = false;
    let notRevoked = false;
    for (const r of results) {
      const end = r.outcome === 'revoked' ? ends.get(r.id) : r.status;
      if (end === 'waiting') waiting = true;
      else if (end !== undefined && end !== 'revoked') notRevoked = true;
      const shown = r.outcome === 'revoked' ? { id: r.id, outcome: r.outcome, was: r.was, cutoff: r.cutoff, ...(end ? { ended: end } : {}) } : r;
      if (opts.json) process.stdout.write(JSON.stringify({ event: 'revoke', ...shown }) + '\n');
      else process.stdout.write(line(r, r.outcome === 'revoked' ? end : undefined) + '\n');
    }
    if (waiting) process.exitCode = EXIT_STILL_WAITING;
    else if (notRevoked) process.exitCode = EXIT_NOT_REVOKED;
  } catch (err) {
    throw isPermissionRefusal(err) ? await adminOnlyRefusal(err, 'pipeline revoke', 'writes the revokes stream', config.redis.url) : err;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
