/**
 * What the cluster test files share: a rules-only pipeline config on the test cluster with
 * `shards` shards and shrunk timers, and a fresh pipeline name whose shards span two masters.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { Keys } from '../../lib/redis/keys.js';
import { keySlot } from '../../lib/redis/shard.js';
import type { ClusterNode, RedisCluster } from './cluster.js';
import { FAST } from './pipeline.js';
import { randomPipeline } from './redis.js';

const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;

/** The master serving `slot`. */
export function ownerOf(topology: ClusterNode[], slot: number): number {
  const m = topology.find((n) => n.role === 'master' && !n.failing && n.slots.some(([a, b]) => slot >= a && slot <= b));
  if (!m) throw new Error(`no master for slot ${slot}`);
  return m.port;
}

/**
 * A fresh pipeline name (`prefix` + random) whose shards' masters (ports, by shard) pass `accept`:
 * shard tags are `{name:i}`, so their slots are as random as any key's and a few draws find one.
 */
export async function pipelineWhere(
  cluster: RedisCluster,
  shards: number,
  prefix: string,
  accept: (masterOf: number[]) => boolean,
): Promise<{ pipeline: string; masterOf: number[] }> {
  const topology = await cluster.topology();
  for (;;) {
    const pipeline = randomPipeline(prefix);
    const masterOf = Keys.shards(pipeline, shards).map((k) => ownerOf(topology, keySlot(k.tag)));
    if (accept(masterOf)) return { pipeline, masterOf };
  }
}

export function clusterPipelines(cluster: RedisCluster, shards: number) {
  /** `store`: settings merged into the store stage's (e.g. another sink). */
  const clusterConfig = (pipeline: string, store: Record<string, unknown> = {}): ResolvedConfig => {
    const stages = RAW.stages.map((st) => (st.kind === 'store' ? { ...st, settings: { ...st.settings, ...store } } : st));
    return resolveConfig({ ...RAW, pipeline, shards, stages, defaults: { ...RAW.defaults, ...FAST } }, 'test', { env: { REDIS_URL: cluster.url } });
  };
  /**
   * A fresh pipeline name whose shard tags land on at least two masters. Tags are `{name:i}`, so
   * their slots are as random as any key's; with 4 shards on 3 masters all four share one master
   * 1 time in 27, and that draw is skipped (production: see docs/scale-out.md, spread).
   */
  const spreadPipeline = (): Promise<{ pipeline: string; masterOf: number[] }> =>
    pipelineWhere(cluster, shards, 'c', (masterOf) => new Set(masterOf).size >= 2);
  return { clusterConfig, spreadPipeline };
}
