/**
 * Stage fusion (operator chaining): when a stage routes a record to one stream only, and the
 * stage reading that stream runs in the same worker process (config `process`, `fuse` not false,
 * same Redis user), the downstream stage runs on it right away, in the upstream's batch, and the
 * upstream's one hand-off script acks the input and writes the downstream's output. The record
 * skips a hop (an XADD, a read, an envelope decode and encode) and keeps every guarantee: its
 * input entry stays pending until that hand-off, so a crash anywhere re-runs both stages on it
 * (reclaim), and the hand-off is as atomic as ever.
 *
 * An outage (every message of a fused call failed with a TransientError) is waited out in place
 * and the same messages called again (StageRunner.once): a sink that wrote some of them before
 * failing sees the same entry ids again, a re-delivery, not a second copy. A record the fused
 * stage fails on otherwise (error, timeout, no route) is written to that stage's stream instead,
 * exactly as without fusion (logged as `fusion.fallback` with its ids), and its own consumer
 * retries or dead-letters it with that stage's settings. Entries that reach the stream any other way
 * (another process, reprocess, DLQ replay) are read there as always.
 */
import type { Message } from '../stream/codec.js';
import { isFused, unfused, type Forwarder, type FusedForward, type FusedStage } from '../stream/forwarder.js';
import type { Forward } from '../stream/handoff.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { RouteError } from '../core/errors.js';
import type { StageRunner } from './stage-runner.js';
import type { RevokeList } from '../stream/revokes.js';

/** Chains longer than this (a routing cycle inside one process) are cut: the rest goes through streams. */
export const MAX_FUSED_DEPTH = 16;

/**
 * Replace, in place, every fused forward of a batch's hand-off by what its stage made of it,
 * stage after stage (a fused stage may fuse into the next), each stage called once per level
 * with all the messages routed to it; all of it inside `hold` (those messages' entries kept claimed).
 * A fallback that cannot be encoded (an output before the failed stage cannot be) is removed and
 * given to `onError`, for the consumer's failure policy, as its forward would have been unfused.
 */
export async function resolveFused(
  forwards: Forward[],
  hold: (ids: string[], work: () => Promise<void>) => Promise<void> = (_, w) => w(),
  onError: (id: string, message: Message, err: Error) => void = (_, __, err) => {
    throw err;
  },
  maxDepth = MAX_FUSED_DEPTH,
): Promise<void> {
  const ids = forwards.filter(isFused).map((f) => f.id);
  if (ids.length === 0) return;
  const failed = new Map<FusedForward, Error>();
  await hold(ids, () => fuseLevels(forwards, maxDepth, failed));
  for (let i = forwards.length - 1; i >= 0; i--) if (failed.has(forwards[i] as FusedForward)) forwards.splice(i, 1);
  for (const [f, err] of failed) onError(f.id, f.fused.message, err);
}

async function fuseLevels(forwards: Forward[], maxDepth: number, failed: Map<FusedForward, Error>): Promise<void> {
  const fallback = (f: FusedForward): Forward => {
    try {
      return unfused(f);
    } catch (err) {
      failed.set(f, err instanceof Error ? err : new Error(String(err)));
      return f;
    }
  };
  for (let depth = 0; ; depth++) {
    const groups = new Map<FusedStage, number[]>();
    forwards.forEach((f, i) => {
      if (!isFused(f) || failed.has(f)) return;
      if (depth >= maxDepth) forwards[i] = fallback(f);
      else if (groups.has(f.fused.into)) groups.get(f.fused.into)!.push(i);
      else groups.set(f.fused.into, [i]);
    });
    if (groups.size === 0) return;
    for (const [stage, at] of groups) {
      const results = await stage.runFused(at.map((i) => (forwards[i] as FusedForward).fused.message));
      at.forEach((i, j) => (forwards[i] = results[j] ?? fallback(forwards[i] as FusedForward)));
    }
  }
}

/** What a stage's consumer lends its fused runs: its runner, forwarder and metrics. */
export interface FusedParts {
  runner: StageRunner;
  forwarder: Forwarder;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
  /** Revoked ids (`pipeline revoke`): a fused stage reads its messages too, so it acks a revoked one unprocessed. @defaultValue none */
  revokes?: Pick<RevokeList, 'match' | 'size'>;
}

/**
 * One fused call of a stage (FusedStage.runFused): the stage once on the messages (timeout and
 * poison split as always, no outage wait), then its own routing; undefined for a message that
 * failed, matched no rule or could not be encoded (its own consumer retries or dead-letters it,
 * with the reason).
 */
export async function runFusedBatch(p: FusedParts, all: Message[]): Promise<(Forward | undefined)[]> {
  if (!p.revokes?.size) return runFusedMessages(p, all); // no revoke known: no work per batch
  // Revoked on the way here (`pipeline revoke`): acked without running, as the stage's own consumer would.
  const { revokes } = p;
  const revoked = all.map((m) => revokes.match(m.envelope.key, m.envelope.origin, m.envelope.rebuiltAt));
  const messages = all.filter((_, i) => !revoked[i]);
  const ran = await runFusedMessages(p, messages);
  let j = 0;
  return all.map((m, i) => (revoked[i] ? p.forwarder.revoke(m, revoked[i]) : ran[j++]));
}

async function runFusedMessages(p: FusedParts, messages: Message[]): Promise<(Forward | undefined)[]> {
  if (messages.length === 0) return [];
  const { metrics, tags } = p;
  metrics.histogram('batch.size', messages.length, tags);
  metrics.increment('messages.in', messages.length, tags);
  metrics.increment('messages.fused', messages.length, tags);
  const started = Date.now();
  const results = await p.runner.once(messages);
  const doneAt = Date.now();
  const routed = new Map<string, number>();
  const out = results.map((res, i) => {
    if (!res.ok) return undefined;
    const msg = messages[i]!;
    try {
      return p.forwarder.forward(msg, res.output, started, doneAt, messages.length, routed);
    } catch (err) {
      // No route: nothing was added. Anything else (the envelope cannot be encoded) came after
      // the output was added: take it back, so the stage's own consumer meets the same error.
      if (!(err instanceof RouteError)) {
        p.forwarder.retract(msg);
        p.logger.warn('fusion.forward_error', { id: msg.id, key: msg.envelope.key, err });
      }
      return undefined;
    }
  });
  for (const [route, n] of routed) metrics.increment('messages.routed', n, { ...tags, route });
  const fallback = out.flatMap((f, i) => (f === undefined ? [i] : []));
  if (fallback.length > 0) {
    metrics.increment('messages.fused_fallback', fallback.length, tags);
    const failed = results.find((r) => !r.ok);
    p.logger.info('fusion.fallback', {
      count: fallback.length,
      ids: fallback.map((i) => messages[i]!.id),
      keys: fallback.map((i) => messages[i]!.envelope.key),
      err: failed && !failed.ok ? failed.error : undefined,
    });
  }
  return out;
}
