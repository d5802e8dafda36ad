import type { ResolvedStage } from '../config/types.js';
import { NotRunError } from '../core/errors.js';
import { decide } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Message } from '../stream/codec.js';
import type { Forwarder } from '../stream/forwarder.js';
import type { Forward } from '../stream/handoff.js';
import type { Queued, RetryQueue } from '../stream/retry-queue.js';

export interface BatchFailureDeps {
  stage: ResolvedStage;
  metrics: Metrics;
  logger: Logger;
  tags: Record<string, string>;
  forwarder: Forwarder;
  /** The consumer's local queue of retries. */
  queue: RetryQueue;
}

/**
 * One message of a batch failed: by the one failure policy (lib/core/failure-policy.ts) it is
 * dead-lettered (a forward in the batch's hand-off) or queued for its retry (added to `retries`,
 * whose delivery counts the consumer records after the hand-off).
 */
export function onBatchFailure(d: BatchFailureDeps, q: Queued, msg: Message, error: Error, forwards: Forward[], retries: Queued[]): void {
  const { stage, metrics, logger, tags } = d;
  const notRun = error instanceof NotRunError; // another message of its batch hung first: not its failure (the runner counts messages.deferred)
  if (!notRun) metrics.increment('messages.errors', 1, tags);
  const next = decide(error, q.attempt, stage); // an outage never counts a delivery
  if (next.action === 'dead_letter') {
    forwards.push(d.forwarder.deadLetter(q.entry, { reason: next.reason, error: error.message, deliveries: q.attempt }));
    return;
  }
  const at = { id: q.entry.id, key: msg.envelope.key, attempt: q.attempt, delayMs: next.delayMs };
  if (notRun) logger.info('message.deferred', { ...at, hung: error.hungId });
  else logger.warn('message.retry', { ...at, class: next.class, err: error });
  if (!notRun) metrics.increment('messages.retries', 1, tags);
  const queued = { entry: q.entry, attempt: next.attempt, dueAt: Date.now() + next.delayMs };
  d.queue.set(queued);
  retries.push(queued);
}
