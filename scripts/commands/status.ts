import type { Redis } from 'ioredis';
import type { FusedRoute } from '../../lib/config/fusion-plan.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { liveFusedRoutes } from '../../lib/ops/fusion-live.js';
import { backlog, pipelineStatus, storeSink, type PipelineStatus } from '../../lib/ops/inspect.js';
import { configShards } from '../../lib/redis/shard.js';
import { asCluster } from '../../lib/redis/url.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { keySlot } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig, warnEvictionPolicy, type GlobalOptions } from './common.js';
import { warnIfNoPipeline } from './pipeline-hint.js';

/**
 * The line naming the stages that run fused after another (`top`, `status`): their streams, and so
 * their rows, see only what did not run fused. Undefined when nothing is fused.
 */
export const fusedLine = (fused: readonly FusedRoute[]): string | undefined =>
  fused.length
    ? `fused (run in the batch of the stage before; their streams count only the rest): ${fused.map((r) => `${r.to} after ${r.from}`).join(', ')}`
    : undefined;

/**
 * The status as a table. A sharded pipeline's rows are sums over its shards, followed by one line
 * per shard: its tag, cluster slot (and master, when `masterOf` knows it), backlog, DLQ and, for the
 * redis sink, its stored products. Then the fused stages (`fused`, as the workers report them), as
 * `top` names them: a fused stage's row reads 0 added and 0 consumers while its work runs fused.
 */
export function formatStatus(s: PipelineStatus, masterOf?: (slot: number) => string | undefined, sink = 'redis', fused: readonly FusedRoute[] = []): string {
  const rows = [['stream', 'stage', 'length', 'added', 'lag', 'pending', 'consumers']];
  for (const st of s.streams) {
    const g = st.group;
    rows.push([
      st.stream,
      st.stage ?? '-',
      String(st.length),
      String(st.added),
      // A stage stream without its group yet waits with all of it, as `top` and the autoscaler count it.
      // `~`: Redis could not tell the lag, it was counted (GroupStatus.lagEstimated).
      (g?.lagEstimated ? '~' : '') + (st.stage ? String(backlog(st) ?? '?') : g ? String(g.lag ?? '?') : '-'),
      g ? String(g.pending) : '-',
      g ? String(g.consumers) : '-',
    ]);
  }
  rows.push(['dlq', '-', String(s.dlq), '-', '-', '-', '-']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const shards = (s.shards ?? []).map((sh) => {
    const slot = keySlot(sh.tag);
    let lag: number | null = 0;
    for (const st of sh.streams) {
      const l = st.stage ? backlog(st) : 0;
      lag = lag === null || l === null ? null : lag + l;
    }
    const pending = sh.streams.reduce((n, st) => n + (st.group?.pending ?? 0), 0);
    const master = masterOf?.(slot);
    // Another sink's products are not in Redis: no per-shard count (it had said `stored 0` under the header's "not counted here").
    const stored = sink === 'redis' ? `, stored ${sh.stored}` : '';
    return `shard ${sh.shard} ${sh.tag} slot ${slot}${master ? ` on ${master}` : ''}: lag ${lag ?? '?'}, pending ${pending}, dlq ${sh.dlq}${stored}`;
  });
  const stored = storedText(s.stored, sink);
  const head = `pipeline ${s.pipeline}  ${stored}${s.shards ? `  shards ${s.shards.length}` : ''}`;
  const note = fusedLine(fused);
  return `${head}\n${lines.join('\n')}\n${shards.length ? shards.join('\n') + '\n' : ''}${note ? `\n${note}\n` : ''}`;
}

/**
 * `stored N` for the redis sink; another sink holds its own products (Postgres: `pipeline export
 * --sink postgres`), which Redis cannot count: said so rather than "stored 0" (status, top, start).
 */
export const storedText = (stored: number, sink: string): string => (sink === 'redis' ? `stored ${stored}` : `stored: in the ${sink} sink (not counted here)`);

/**
 * What `pipeline status` prints (`--json`: one JSON line), and the status it read. The review
 * stream with the console's group, as the console counts it: lag (not listed by the console yet)
 * plus pending (listed, undecided) is what is left to review (it showed the stream's length only).
 * The table names the fused stages as the workers report them (their rows had read as idle stages
 * with no consumer, unexplained); the JSON has them as `fused` (`{from, to}`).
 */
export async function statusOutput(redis: Redis, config: ResolvedConfig, json = false): Promise<{ text: string; status: PipelineStatus }> {
  const [status, fused] = await Promise.all([
    pipelineStatus(redis, config, { terminalGroup: REVIEW_GROUP }),
    liveFusedRoutes(redis, config, configShards(config)),
  ]);
  const cluster = asCluster(redis);
  const sink = storeSink(config);
  const text = json
    ? JSON.stringify({ ...status, sink, fused }) + '\n'
    : formatStatus(status, cluster ? (slot) => cluster.slots[slot]?.[0] : undefined, sink, fused);
  return { text, status };
}

/** `pipeline status`: per stream length, group lag, pending, consumers; DLQ length; stored count; the fused stages. */
export async function statusCommand(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  try {
    await warnEvictionPolicy(redis);
    const { text, status } = await statusOutput(redis, config, opts.json);
    process.stdout.write(text);
    // All zeros reads as "idle", but is as often a mistyped PIPELINE or the wrong database: say which pipelines this Redis has.
    await warnIfNoPipeline(redis, config, status);
  } finally {
    redis.disconnect();
  }
}
