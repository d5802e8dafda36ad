import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';

const auditScript = new Script('audit-1');
/** Newest lines audit-1.lua looks through for a re-sent call's line: more than admins write while a connection is re-established. */
const RESEND_WINDOW = 100;

/** One admin action (the console's, a pause or resume through the API): who did what to which entries, and what came of it. */
export interface AuditEvent {
  action: string;
  /** The token's name (`admin-2`), never the secret. */
  by: string;
  requestId: string;
  [detail: string]: unknown;
}

/** The audit stream `{p}:console:audit`, capped at about `maxLen` entries. */
export const auditKey = (keys: Keys) => keys.extra('console:audit');

/**
 * Record an action twice: one JSON log line (`console.<action>`, with `by` and the request id)
 * and one entry of `{p}:console:audit`, which the console shows. The log line is written first,
 * so an action is logged even when Redis refuses the audit entry (that error is logged too).
 */
export async function audit(redis: Redis, keys: Keys, logger: Logger, e: AuditEvent, maxLen = 10_000): Promise<void> {
  const at = Date.now();
  logger.info(`console.${e.action}`, { ...e });
  try {
    // A token per line: the client's re-send of a call whose reply was lost with the connection adds no second line.
    await auditScript.run(redis, [auditKey(keys)], [maxLen, JSON.stringify({ ...e, at }), randomUUID(), RESEND_WINDOW]);
  } catch (err) {
    logger.error('console.audit_error', { err, action: e.action, by: e.by, requestId: e.requestId });
  }
}

export async function readAudit(redis: Redis, keys: Keys, count = 50): Promise<Record<string, unknown>[]> {
  const rows = (await redis.xrevrange(auditKey(keys), '+', '-', 'COUNT', count)) as [string, string[]][];
  return rows.flatMap(([, f]) => {
    try {
      return [JSON.parse(f[f.indexOf('a') + 1]!) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}
