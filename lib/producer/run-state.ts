import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { RunInputMismatchError } from '../core/errors.js';
import { retryBudget, retryOrThrow, type RetrySettings } from './retry.js';

/**
 * A producer run's state in Redis, per input stream (produce-batch-2.lua): how many of its
 * records are in, and their fingerprint (a hash of their lines, in order).
 */
export interface RunState {
  count: number;
  fingerprint: string;
}

/** What an earlier run with this run id had added to a stream, read (and retried) as batches are. */
export async function readRunState(redis: Redis, key: string, opts: RetrySettings & { runId?: string }): Promise<RunState | null> {
  let failingSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    let value: string | null;
    try {
      value = await redis.get(key);
    } catch (err) {
      failingSince ??= Date.now();
      retryOrThrow(redis, err, failingSince, retryBudget(opts), opts);
      await sleep(backoffMs(attempt, opts.retryBaseMs ?? 50, opts.retryMaxMs ?? 1_000));
      continue;
    }
    if (value === null) return null;
    const m = /^(\d+) (\S*)$/.exec(value);
    if (!m) throw new RunInputMismatchError(`run id ${opts.runId}: ${key} holds state of an older version of produce; use a new --run-id`);
    return { count: Number(m[1]), fingerprint: m[2]! };
  }
}

/** At the last record an earlier run had added (`fingerprint`: the input's up to it): the input so far must be the one it read. */
export function checkFingerprint(stream: string, fingerprint: string, state: RunState, runId: string): void {
  if (fingerprint === state.fingerprint) return;
  throw new RunInputMismatchError(
    `run id ${runId}: the first ${state.count} records for ${stream} differ from those the run added (another input, or the file changed since): use a new --run-id, or none`,
  );
}
