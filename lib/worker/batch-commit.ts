import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';
import type { StageOptions } from '../config/types.js';
import { completionsOf, recordCompletionsForBatch, type CompletionSettings } from '../stream/done.js';
import type { Forwarder } from '../stream/forwarder.js';
import { commitHandOff, type CommitOptions, type Forward, type HandOffSource } from '../stream/handoff.js';
import type { Queued } from '../stream/retry-queue.js';
import type { Message } from '../stream/codec.js';
import { errorMessage } from '../core/errors.js';
import { dependencyWait, type DependencyWait } from './stage-runner.js';
import type { RevokeList } from '../stream/revokes.js';

/**
 * A read batch as messages to run (`messages`, their entries in `live`), the dead letters of
 * those that cannot run (delivered more than `maxDeliveries` times, or undecodable) and the acks
 * of those `revokes` says were revoked (`pipeline revoke`): not run, not forwarded.
 */
export function decodeBatch(
  batch: readonly Queued[],
  forwarder: Forwarder,
  maxDeliveries: number,
  revokes?: Pick<RevokeList, 'match'>,
): { forwards: Forward[]; messages: Message[]; live: Queued[] } {
  const forwards: Forward[] = [];
  const messages: Message[] = [];
  const live: Queued[] = [];
  for (const q of batch) {
    if (q.attempt > maxDeliveries) {
      forwards.push(forwarder.deadLetter(q.entry, { reason: 'max_deliveries', error: `delivered ${q.attempt} times`, deliveries: q.attempt }));
      continue;
    }
    try {
      const msg = forwarder.decode(q.entry);
      const revoked = revokes?.match(msg.envelope.key, msg.envelope.origin, msg.envelope.rebuiltAt);
      if (revoked) {
        forwards.push(forwarder.revoke(msg, revoked));
        continue;
      }
      messages.push(msg);
      live.push(q);
    } catch (err) {
      forwards.push(forwarder.deadLetter(q.entry, { reason: 'undecodable', error: errorMessage(err), deliveries: q.attempt }));
    }
  }
  return { forwards, messages, live };
}

/** What one stage's consumer commits its batches with. */
export interface BatchCommitTarget {
  stage: string;
  keys: Keys;
  forwarder: Forwarder;
  source: HandOffSource;
  /** Terminal stream keys (review) → their names: a forward there ends the product's trip. */
  terminalKeys: Map<string, string>;
  completions: CompletionSettings;
}

/**
 * Where consumer `consumer` of a stage hands its batches off from, with its hand-off memory
 * (Keys.livenessHandOff): rewritten by each batch it hands off, and kept `consumerIdleRemoveMs`
 * after its last (as long as the group keeps a consumer gone), so a call re-sent after a Redis
 * restart that took less is still answered as the first was.
 */
export function consumerHandOffSource(
  keys: Keys,
  stage: Pick<StageOptions, 'consumerIdleRemoveMs'> & { name: string },
  stream: string,
  group: string,
  consumer: string,
): HandOffSource {
  return {
    stream,
    group,
    fenceKey: keys.fence(stage.name),
    memory: { key: keys.livenessHandOff(stage.name, consumer), ttlMs: stage.consumerIdleRemoveMs },
  };
}

/**
 * Commit a processed batch: the completion events of the products it ends (dead letters, review
 * routes; lib/stream/done.ts) first, then the one hand-off script that forwards and acks. A target
 * the script finds unwritable (WRONGTYPE, NOPERM) acks nothing; the messages routed there go to
 * the DLQ instead, with the reason, so none is lost or stuck.
 */
export async function commitBatch(
  redis: Redis,
  t: BatchCommitTarget,
  batch: readonly Queued[],
  forwards: Forward[],
  fence: string,
  o: Omit<CommitOptions, 'divert'>,
): Promise<{ fresh: number; fence?: string }> {
  const byId = new Map(batch.map((q) => [q.entry.id, q]));
  const divert = (f: Forward, err: Error & { key: string }): Forward => {
    const q = byId.get(f.id);
    if (!q) throw err;
    return t.forwarder.deadLetter(q.entry, { reason: 'unwritable_target', error: err.message, deliveries: q.attempt });
  };
  await recordCompletionsForBatch(redis, t.keys, completionsOf(forwards, t.stage, t.keys.dlq, t.terminalKeys), t.completions, o);
  return commitHandOff(redis, t.source, forwards, fence, { ...o, divert });
}

/**
 * Write each retried entry's attempt number into the group (XCLAIM RETRYCOUNT, which also resets
 * its idle time): should this process die before the retry, the reclaimer sees the true count
 * and `maxDeliveries` still holds across crashes. A failed write is counted and logged, not thrown.
 */
export async function recordRetryCounts(
  redis: Redis,
  source: HandOffSource,
  consumer: string,
  retries: readonly Queued[],
  o: { metrics: Metrics; logger: Logger; tags: Record<string, string> },
): Promise<void> {
  await Promise.all(
    retries.map((q) =>
      redis.xclaim(source.stream, source.group, consumer, 0, q.entry.id, 'RETRYCOUNT', q.attempt, 'JUSTID').catch((err: unknown) => {
        o.metrics.increment('retry_count.errors', 1, o.tags);
        o.logger.warn('consumer.retrycount_error', { id: q.entry.id, err });
      }),
    ),
  );
}

/**
 * What a batch's commit (its completions, then its hand-off) waits for while Redis refuses it
 * (full, unable to persist, restarting): both retry in place, and each retry lands in `retried`,
 * which keeps the wait (the consumer's liveness record's `outage`, as for a stage's own outage:
 * `pipeline status`, `top`, `health`) and tells the watchdog the loop is alive: a
 * commit waiting out Redis is no stall, so the probe passes and no healthy connection is reset.
 */
export class CommitWait {
  current?: DependencyWait;
  constructor(private readonly progress: () => void) {}

  readonly retried = (err: unknown): void => {
    this.current = dependencyWait(err, this.current?.since ?? Date.now());
    this.progress();
  };

  /** `commit`, the wait cleared once it settles. */
  async during<T>(commit: () => Promise<T>): Promise<T> {
    try {
      return await commit();
    } finally {
      this.current = undefined;
    }
  }
}
