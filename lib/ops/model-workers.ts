/**
 * Which live workers run a model other than the one `pipeline reprocess` sees: each model stage's
 * consumer writes the version it loaded into its liveness marker (`modelVersion`, lib/worker/worker.ts).
 * A worker started before the model files changed keeps the model it loaded: the products put back
 * would be stored with the old version again, and every later run would put them back once more.
 * The markers are found by SCAN (`{p}:liveness:*`, on the node that holds each shard's tag), not
 * by the groups' consumer lists: a consumer that has read nothing since it started is not listed
 * there yet. A stopped worker deletes its marker, a dead one's expires; a marker without
 * `modelVersion` (a worker of an older release) says nothing.
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { configShards } from '../redis/shard.js';
import { asCluster, masterForKey } from '../redis/url.js';

/** Keys per SCAN call: the pipeline's products share the node, so a call covers many. */
const SCAN_COUNT = 10_000;

export interface OtherModelWorker {
  stage: string;
  /** The consumer name (`<host>-<pid>-<n>`). */
  consumer: string;
  /** The version the worker loaded. */
  runs: string;
  /** The version of the model files here. */
  current: string;
}

/** The live consumers of the stages in `current` whose marker names another version than the stage's in `current`. */
export async function workersOnOtherModels(redis: Redis, config: ResolvedConfig, current: Readonly<Record<string, string>>): Promise<OtherModelWorker[]> {
  const cluster = asCluster(redis);
  const out: OtherModelWorker[] = [];
  for (const keys of configShards(config).all) {
    const node = cluster ? masterForKey(cluster, keys.tag) : redis;
    if (!node) throw new Error(`no Redis node known for ${keys.tag}`);
    const markers: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${keys.tag}:liveness:*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      markers.push(...found);
    } while (cursor !== '0');
    // Only the markers of model stages' consumers, `{p}:liveness:<stage>:<consumer>` (no consumer name holds a `:`), not their `:alive` / `:registered`.
    const wanted = markers.flatMap((key) =>
      Object.keys(current).flatMap((stage) => {
        const consumer = key.startsWith(keys.liveness(stage, '')) ? key.slice(keys.liveness(stage, '').length) : '';
        return consumer !== '' && !consumer.includes(':') ? [{ key, stage, consumer }] : [];
      }),
    );
    if (wanted.length === 0) continue;
    const raw = await redis.mget(wanted.map((w) => w.key));
    wanted.forEach((w, i) => {
      const runs = raw[i] ? modelVersionOf(raw[i]) : undefined;
      if (runs !== undefined && runs !== current[w.stage]) out.push({ stage: w.stage, consumer: w.consumer, runs, current: current[w.stage]! });
    });
  }
  return out;
}

function modelVersionOf(raw: string): string | undefined {
  try {
    const v = (JSON.parse(raw) as { modelVersion?: unknown }).modelVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
