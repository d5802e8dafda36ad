import type { Redis } from 'ioredis';
import type { StoredProductRef } from '../../lib/ops/reprocess.js';
import type { Keys } from '../../lib/redis/keys.js';
import { cli, exited } from './pipeline.js';

/**
 * Product `key` (the `i`th) stored as the redis sink keeps it: its hash and its member of the
 * products set, having gone through preprocess and validate (what `reprocess --from-stage
 * validate` puts back). Written through `redis`, a node's own connection or a Cluster client.
 */
export async function writeStoredProduct(redis: Pick<Redis, 'hset' | 'sadd'>, keys: Keys, key: string, i: number): Promise<void> {
  const doc = {
    key,
    input: { id: key, title: `Acme widget ${i}` },
    outputs: {},
    route: ['preprocess', 'validate', 'store'],
    hops: [{ stage: 'preprocess' }, { stage: 'validate' }],
  };
  await redis.hset(keys.product(key), {
    doc: JSON.stringify(doc),
    category: 'widgets',
    copies: '1',
    entry: `1-${i}`,
    trace: `t${i}`,
    storedAt: String(Date.now()),
    version: `1700000000000-${i}`,
  });
  await redis.sadd(keys.products, key);
}

/** What an `export` or `reprocess` run over the stored products ended with: its exit code, output and its `.done` event ({} when it wrote none). */
export interface StoredRun {
  code: number | null;
  out: string;
  done: Record<string, unknown>;
}

/** Runs `pipeline --config <config> <args>` (an `export` or `reprocess`) against `url` to its end. */
export async function runOverStored(url: string, config: string, args: string[]): Promise<StoredRun> {
  const child = cli(['--config', config, ...args], url);
  const code = await exited(child);
  const out = child.output();
  const line = out.split('\n').find((l) => /^\{"event":"(export|reprocess)\.done"/.test(l));
  return { code, out, done: line ? (JSON.parse(line) as Record<string, unknown>) : {} };
}

/** Product `key` as `reprocess` reads it from a sink: version 10-0 by store entry 1000-0, through preprocess and validate. */
export const storedRef = (key: string): StoredProductRef => ({
  key,
  category: 'uncategorized',
  entryId: '1000-0',
  traceId: 't',
  storedAt: new Date().toISOString(),
  version: '10-0',
  doc: {
    key,
    input: { id: key, title: `item ${key}` },
    outputs: { preprocess: { text: key }, validate: {} },
    route: ['preprocess', 'validate', 'store'],
    hops: ['preprocess', 'validate'].map((stage, j) => ({ stage, consumer: 'c', readAt: j, doneAt: j, batch: 1 })),
  },
});

/** `items` as the async iterable `reprocess` takes. */
export async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
