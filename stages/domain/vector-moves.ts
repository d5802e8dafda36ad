import type { Redis } from 'ioredis';
import { TransientError } from '../../lib/core/errors.js';
import { Script } from '../../lib/redis/script.js';

/**
 * A product's vector is under one category only (vector-add-N.lua): the add records the product's
 * category per shard and, when it was another, removes the vector from there and appends a removal
 * entry to that category's log. This module holds both sides of that: the write, and the reading
 * of a log that holds removals.
 */
const vectorAdd = new Script('vector-add-N');
/** A log entry that removes its key from the category: NUL, then the key. */
const REMOVED = '\0';
/** Calls of vector-add-N.lua for one vector at most: each further one means another worker moved the product in between. */
const MOVE_TRIES = 8;

/** One log entry to apply to a copy, in log order: the key's vector added (read from the hash), or removed. */
export type LogStep = [key: string, removed: boolean];

/** Whether a log entry is a removal (it names no vector). */
export function isRemoval(entry: string): boolean {
  return entry.startsWith(REMOVED);
}

/**
 * The steps a copy applies for these log entries, in order. `own`: entries this worker wrote and
 * has not read past yet (key → count), skipped and counted down. A removal of a key with such an
 * entry still to come is skipped too: that entry is later in the log, so the key stays.
 */
export function logSteps(logged: readonly string[], own: Map<string, number>): LogStep[] {
  const steps: LogStep[] = [];
  for (const k of logged) {
    if (isRemoval(k)) {
      if (!own.has(k.slice(1))) steps.push([k.slice(1), true]);
      continue;
    }
    const n = own.get(k);
    if (n === undefined) steps.push([k, false]);
    else if (n <= 1) own.delete(k);
    else own.set(k, n - 1);
  }
  return steps;
}

/** The Redis keys of one category on the product's shard. */
export interface CategoryKeys {
  vectors: string;
  log: string;
}

/**
 * Stores `key`'s vector under `category` (`at`) and records it there. One call, unless the product
 * is under another category: the script then names it and is called again with that category's
 * keys (`keysOf`). Resolves the script's 1 (stored and logged) or 0 (the same vector was there),
 * and the category the vector was moved from, if any.
 */
export async function addVector(
  redis: Redis,
  at: CategoryKeys & { record: string; product: string },
  keysOf: (category: string) => CategoryKeys,
  key: string,
  bytes: Buffer,
  category: string,
): Promise<{ logged: number; movedFrom?: string }> {
  let old = '';
  for (let tries = 1; ; tries++) {
    const moveKeys = old === '' ? [] : [keysOf(old).vectors, keysOf(old).log];
    const got = await vectorAdd.run<number | string>(redis, [at.vectors, at.log, at.record, at.product, ...moveKeys], [key, bytes, category, old]);
    if (typeof got === 'number') return old === '' ? { logged: got } : { logged: got, movedFrom: old };
    // Transient: the batch is retried, by then the others are done moving it.
    if (tries >= MOVE_TRIES)
      throw new TransientError(`vector of ${key}: moved between categories by other workers ${tries} times while adding it to ${category}`);
    old = got;
  }
}
