import type { Redis } from 'ioredis';
import { backoffMs } from '../core/backoff.js';
import { classify, type Outage } from '../core/failure-policy.js';
import { isNoGroup } from '../core/redis-replies.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { explainRefusal } from '../redis/noperm.js';

export interface ReadErrorsDeps {
  webhook: string;
  stream: string;
  consumer: string;
  /** The connection's Redis user (the URL's), named when a permission is missing. */
  user: string;
  /** The command connection: a refused function's declared keys are narrowed on it (lib/redis/noperm.ts). */
  command: Redis;
  logger: Logger;
  metrics: Metrics;
  /** The webhook's backoff: `backoffBaseMs` doubling with the errors in a row, to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Errors of an outage in a row past this are said once more, at error (the webhook's `stallTimeoutMs`). */
  stallTimeoutMs: number;
}

/** What a read error is, for the log line and the metric: an outage of the failure policy, the group gone, or anything else. */
export type ReadErrorCause = Outage | 'nogroup' | 'unexpected';

/**
 * A webhook reader's errors (its XREADGROUP, the claim and trim checks, its acks and dead letters),
 * classified by the one failure policy (lib/core/failure-policy.ts), as a worker's read loop does
 * (lib/worker/loop-error.ts), and said without a flood: every error is counted
 * (`webhooks.read_errors`, tags `webhook`, `cause`) and waited out with the webhook's backoff; the
 * log line `webhook.read_error` (fields `webhook`, `stream`, `consumer`, `class`, `cause`) is
 *
 * - an outage (Redis full, unable to persist, loading, failing over, a connection lost): warn, once
 *   per cause while the errors come in a row; the reader recovers on its own. Once the row has
 *   lasted `stallTimeoutMs`, one error line more (`persistedPastMs`), so an alert on error lines
 *   sees an outage that lasts, as it sees a worker's;
 * - a permission the reader's user lacks (NOPERM): error, once per row, naming the user, the command,
 *   its keys and the fix (lib/redis/noperm.ts);
 * - the group gone (NOGROUP: deleted, or Redis lost its data): error each time; the reader makes it
 *   again where its last batch ended (`webhook.group_recreated`, lib/lua/webhook-group-1.lua), so what
 *   was added meanwhile is sent (at least once); one with no batch yet makes it at the stream's end;
 * - anything else: error each time (the backoff spaces them).
 *
 * `webhook.read_resumed` (info) says when a row that was logged ends.
 */
export class ReadErrors {
  private inARow = 0;
  private since = 0;
  private readonly said = new Set<ReadErrorCause>();
  /** The row's outage was said at error for lasting past `stallTimeoutMs`. */
  private persisted = false;

  constructor(private readonly d: ReadErrorsDeps) {}

  private get fields() {
    return { webhook: this.d.webhook, stream: this.d.stream, consumer: this.d.consumer };
  }

  /** A turn of the reader went through: the errors in a row, if any, are over. */
  clear(now = Date.now()): void {
    if (this.inARow === 0) return;
    if (this.said.size > 0) this.d.logger.info('webhook.read_resumed', { ...this.fields, errors: this.inARow, failedMs: now - this.since });
    this.inARow = 0;
    this.said.clear();
    this.persisted = false;
  }

  /** Count and say `err` (as above); returns how long to wait before the next try. */
  async after(err: unknown, now = Date.now()): Promise<number> {
    if (this.inARow++ === 0) this.since = now;
    const c = classify(err);
    const cause: ReadErrorCause = isNoGroup(err) ? 'nogroup' : (c.outage ?? 'unexpected');
    this.d.metrics.increment('webhooks.read_errors', 1, { webhook: this.d.webhook, cause });
    const delayMs = backoffMs(this.inARow, this.d.backoffBaseMs, this.d.backoffMaxMs);
    const line = { ...this.fields, class: c.class, cause, errors: this.inARow, failingMs: now - this.since, delayMs };
    const first = !this.said.has(cause);
    this.said.add(cause);
    if (cause === 'redis_noperm') {
      if (!first) return delayMs;
      const e = await explainRefusal(err, { user: this.d.user, client: this.d.command }).catch(() => undefined);
      this.d.logger.error('webhook.read_error', { ...line, user: this.d.user, ...(e ? { command: e.command, keys: e.keys, fix: e.fix } : {}), err: e ?? err });
    } else if (c.class === 'transient') {
      if (first) this.d.logger.warn('webhook.read_error', { ...line, err });
      else if (!this.persisted && line.failingMs >= this.d.stallTimeoutMs) {
        this.persisted = true;
        this.d.logger.error('webhook.read_error', { ...line, persistedPastMs: this.d.stallTimeoutMs, err });
      }
    } else this.d.logger.error('webhook.read_error', { ...line, err });
    return delayMs;
  }
}
