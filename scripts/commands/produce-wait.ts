import type { Redis } from 'ioredis';
import { FeedWaiter, type FeedEnds } from '../../lib/ops/feed-wait.js';
import { createLogger, stderrSink } from '../../lib/observe/logger.js';
import type { Shards } from '../../lib/redis/shard.js';
import { counted } from '../../lib/core/counted.js';

/** `produce --wait`: some record this run sent was dead-lettered (all others stored, sent to review or revoked). */
export const EXIT_DEAD_LETTERED = 4;
/** `produce --wait --wait-timeout ms`: records of this run had no end yet when the time was up (precedes 4 and 1). */
export const EXIT_STILL_WAITING = 5;

/** How `produce --wait` goes: where it says things, and its retry budget. */
export interface ProduceWaitOptions {
  tty: boolean;
  retryForMs: number;
  /** ms after the last record went in; undefined: no deadline. */
  timeoutMs?: number;
  /** Off a terminal: a progress line on stderr every this many ms of the wait; 0: none (on a terminal the line is redrawn in place). */
  progressEveryMs: number;
  /** Off a terminal: progress lines as JSON (`produce.waiting`) instead of text. */
  json: boolean;
  /** produce's own "waiting: <cause>" line (once per cause). */
  onRetry: (err: unknown, retriedMs: number, budgetMs: number) => void;
  /** The checks answer again after failing this long. */
  onResumed: (failedMs: number) => void;
}

/**
 * Opens the wait before the first record is sent: the completion streams are followed from where
 * they stand now, so no end is missed however fast the pipeline is.
 */
export function openProduceWait(redis: Redis, shards: Shards, o: ProduceWaitOptions): Promise<FeedWaiter> {
  // Read errors of the completion readers are retried by them; what the user sees is the checks' "waiting:" line.
  const logger = createLogger({ component: 'produce' }, 'error', stderrSink);
  return FeedWaiter.open(redis, shards, logger, {
    retryForMs: o.retryForMs,
    onRetry: o.onRetry,
    onResumed: o.onResumed,
    onProgress: (e) => {
      if (o.tty) process.stderr.write(`\r${progressLine(e)} `);
    },
    onGap: (stream, ended) =>
      process.stderr.write(
        `${o.tty ? '\n' : ''}produce: ${stream} was trimmed (limits.doneMaxLen) past what this wait had read: ${counted(ended, 'id')} found ended by their status keys\n`,
      ),
  });
}

/** Waits for the ends, prints them (stderr for people, a `produce.waited` JSON line on stdout) and returns the exit code they call for (0, 4 or 5). */
export async function finishProduceWait(waiter: FeedWaiter, o: ProduceWaitOptions): Promise<number> {
  const t0 = Date.now();
  // In CI or cron (no terminal) a long wait had said nothing until its end: a line every progressEveryMs.
  const ticker =
    !o.tty && o.progressEveryMs > 0
      ? setInterval(() => process.stderr.write(waitingLine(waiter.report(), (Date.now() - t0) / 1000, o.json) + '\n'), o.progressEveryMs)
      : undefined;
  let ends: FeedEnds;
  try {
    ends = await waiter.wait(o.timeoutMs === undefined ? undefined : t0 + o.timeoutMs);
  } finally {
    clearInterval(ticker);
  }
  if (o.tty) process.stderr.write('\n');
  process.stderr.write(summaryText(ends, o.timeoutMs));
  process.stdout.write(JSON.stringify({ event: 'produce.waited', ...ends, seconds: (Date.now() - t0) / 1000 }) + '\n');
  return exitCodeOf(ends);
}

export function exitCodeOf(ends: FeedEnds): number {
  if (ends.waiting > 0) return EXIT_STILL_WAITING;
  return deadCount(ends) > 0 ? EXIT_DEAD_LETTERED : 0;
}

const deadCount = (e: FeedEnds) => Object.values(e.deadLettered).reduce((a, b) => a + b, 0);

/** The wait's progress off a terminal: `produce: waiting: ... (30 s)`, or a `produce.waiting` JSON object. */
export function waitingLine(e: FeedEnds, seconds: number, json: boolean): string {
  if (json)
    return JSON.stringify({
      event: 'produce.waiting',
      ids: e.ids,
      stored: e.stored,
      review: e.review,
      revoked: e.revoked,
      deadLettered: e.deadLettered,
      waiting: e.waiting,
      seconds,
    });
  return `produce: ${progressLine(e)}  (${Math.round(seconds)} s)`;
}

export function progressLine(e: FeedEnds): string {
  return `waiting: ${e.ids} ids  stored ${e.stored}  review ${e.review}  revoked ${e.revoked}  dead-lettered ${deadCount(e)}  in flight ${e.waiting}`;
}

/** `produce: 1000 ids: 990 stored, 5 review, 3 dead-lettered (max_deliveries 3), 2 still in flight ...` and a line of example ids per kind. */
export function summaryText(e: FeedEnds, timeoutMs: number | undefined): string {
  const dead = Object.entries(e.deadLettered).map(([r, n]) => `${r} ${n}`);
  const parts = [
    `${e.stored} stored`,
    `${e.review} review`,
    ...(e.revoked ? [`${e.revoked} revoked`] : []),
    `${deadCount(e)} dead-lettered${dead.length ? ` (${dead.join(', ')})` : ''}`,
  ];
  if (e.waiting > 0) parts.push(`${e.waiting} still in flight after --wait-timeout ${timeoutMs} ms`);
  const lines = [`produce: ${counted(e.ids, 'id')} sent by this run: ${parts.join(', ')}`];
  const more = (n: number, shown: number) => (n > shown ? ', ...' : '');
  if (e.examples.review.length) lines.push(`  review: ${e.examples.review.join(', ')}${more(e.review, e.examples.review.length)}`);
  if (e.examples.revoked.length) lines.push(`  revoked: ${e.examples.revoked.join(', ')}${more(e.revoked, e.examples.revoked.length)} (pipeline revoke)`);
  if (e.examples.deadLettered.length)
    lines.push(`  dead-lettered: ${e.examples.deadLettered.join(', ')}${more(deadCount(e), e.examples.deadLettered.length)} (pipeline dlq list)`);
  if (e.examples.waiting.length) lines.push(`  in flight: ${e.examples.waiting.join(', ')}${more(e.waiting, e.examples.waiting.length)}`);
  return lines.join('\n') + '\n';
}
