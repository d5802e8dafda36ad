import type { Redis } from 'ioredis';
import type { FusedRoute } from '../../lib/config/fusion-plan.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { consumerWaits, type OutageWaitRow, type PermissionWaitRow } from '../../lib/ops/consumer-waits.js';
import { liveFusedRoutes } from '../../lib/ops/fusion-live.js';
import { dataLossSentence, readDataLoss } from '../../lib/ops/data-loss.js';
import { backlog, pipelineStatus, storeSink, type PipelineStatus } from '../../lib/ops/inspect.js';
import { configShards } from '../../lib/redis/shard.js';
import { asCluster } from '../../lib/redis/url.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { keySlot } from '../../lib/redis/shard.js';
import { webhooksStatus, webhooksText } from '../../lib/webhooks/status.js';
import { cliRedis, loadConfig, warnEvictionPolicy, type GlobalOptions } from './common.js';
import { warnIfNoPipeline } from './pipeline-hint.js';
import { pausedStages } from '../../lib/ops/pause.js';
import { pauseLine, type PauseRecord } from '../../lib/stream/pause-flag.js';
import { writeRefusal, writeRefusalLine } from '../../lib/ops/write-refusal.js';
import { modelFolderErrors } from '../../stages/domain/model-options.js';

/** A paused stage as `status --json` and `top` list it. */
export type PausedRow = { stage: string } & PauseRecord;

/** The paused stages, a line each (`PAUSED store: paused by cli:ann 42 s ago: swapping the model`); undefined when none is (`status`, `top`). */
export const pausedLine = (paused: readonly PausedRow[], now = Date.now()): string | undefined =>
  paused.length ? paused.map((p) => `PAUSED ${p.stage}: ${pauseLine(p, now)}`).join('\n') : undefined;

/** Every paused stage as rows. */
export const pausedRows = async (redis: Redis, config: ResolvedConfig): Promise<PausedRow[]> =>
  [...(await pausedStages(redis, config))].map(([stage, r]) => ({ stage, ...r }));

/** A stage's `rateLimit` (per shard on a sharded pipeline) as `status --json` and `top` list it. */
export type RateLimitRow = { stage: string; records: number; perMs: number; perShard: boolean };

/** The stages with a `rateLimit`, from the config (a new limit applies when the workers restart). */
export const rateLimitRows = (config: ResolvedConfig): RateLimitRow[] =>
  config.stages.flatMap((s) => (s.rateLimit ? [{ stage: s.name, records: s.rateLimit.records, perMs: s.rateLimit.perMs, perShard: config.shards > 1 }] : []));

/** `rate limited: enrich 50 per 1000 ms` (`status`, `top`); undefined when no stage has a limit. */
export const rateLimitLine = (rows: readonly RateLimitRow[]): string | undefined =>
  rows.length
    ? `rate limited${rows[0]!.perShard ? ' (per shard)' : ''}: ${rows.map((r) => `${r.stage} ${r.records} per ${r.perMs} ms`).join(', ')}`
    : undefined;

/**
 * The line naming the stages that run fused after another (`top`, `status`): their streams, and so
 * their rows, see only what did not run fused. Undefined when nothing is fused.
 */
export const fusedLine = (fused: readonly FusedRoute[]): string | undefined =>
  fused.length ? `fused (run in the batch of the stage before; their streams count only the rest): ${fusedAfter(fused)}` : undefined;

/**
 * Each fused stage once, with the stages it runs after: `validate after extract.a/extract.b, match
 * after validate` (`status`, `top`, `start`'s summary). A stage fused after several (validate after
 * each extractor) had been named once per upstream in `status` and `top`.
 */
export function fusedAfter(fused: readonly FusedRoute[]): string {
  const after = new Map<string, string[]>();
  for (const r of fused) after.set(r.to, [...(after.get(r.to) ?? []), r.from]);
  return [...after].map(([to, from]) => `${to} after ${from.join('/')}`).join(', ');
}

/**
 * The short form of the consumers waiting out a dependency outage (`status`): a line per stage and
 * dependency, the longest wait, how many consumers (`store waits 35 s for PostgreSQL (1 consumer)`);
 * `top` has a line per consumer with the last error. Undefined when none waits.
 */
export function outagesLine(outages: readonly OutageWaitRow[], now = Date.now()): string | undefined {
  const by = new Map<string, { stage: string; dependency: string; since?: number; n: number }>();
  for (const o of outages) {
    const k = `${o.stage}\0${o.dependency}`;
    const g = by.get(k) ?? { stage: o.stage, dependency: o.dependency, n: 0 };
    g.n++;
    if (o.since !== undefined && (g.since === undefined || o.since < g.since)) g.since = o.since;
    by.set(k, g);
  }
  const lines = [...by.values()].map((g) => {
    const secs = g.since === undefined ? '' : ` ${Math.max(0, Math.round((now - g.since) / 1000))} s`;
    return `${g.stage} waits${secs} for ${g.dependency} (${g.n} consumer${g.n === 1 ? '' : 's'}; an outage, waited out in place)`;
  });
  return lines.length ? lines.join('\n') : undefined;
}

/**
 * The short form of the consumers waiting for a permission their Redis user or the store's database
 * role lacks (`status`): a line per stage and missing grant, as for outages, with the details and the
 * fix (`store waits 40 s for a PostgreSQL privilege (1 consumer; ...): database role ... GRANT ...`);
 * `top` and `health` have a line per consumer. Undefined when none waits.
 */
export function permissionsLine(waiting: readonly PermissionWaitRow[], now = Date.now()): string | undefined {
  const by = new Map<string, { stage: string; kind: string; detail: string; since?: number; n: number }>();
  for (const w of waiting) {
    const k = `${w.stage}\0${w.kind}\0${w.detail}`;
    const g = by.get(k) ?? { stage: w.stage, kind: w.kind, detail: w.detail, n: 0 };
    g.n++;
    if (w.since !== undefined && (g.since === undefined || w.since < g.since)) g.since = w.since;
    by.set(k, g);
  }
  const lines = [...by.values()].map((g) => {
    const secs = g.since === undefined ? '' : ` ${Math.max(0, Math.round((now - g.since) / 1000))} s`;
    return `${g.stage} waits${secs} for ${g.kind} (${g.n} consumer${g.n === 1 ? '' : 's'}; missing, not an outage: nothing moves until it is granted): ${g.detail}`;
  });
  return lines.length ? lines.join('\n') : undefined;
}

/**
 * The status as a table. A sharded pipeline's rows are sums over its shards, followed by one line
 * per shard: its tag, cluster slot (and master, when `masterOf` knows it), backlog, DLQ and, for the
 * redis sink, its stored products. Then the fused stages (`fused`, as the workers report them), as
 * `top` names them: a fused stage's row reads 0 added and 0 consumers while its work runs fused.
 */
export function formatStatus(
  s: PipelineStatus,
  masterOf?: (slot: number) => string | undefined,
  sink = 'redis',
  fused: readonly FusedRoute[] = [],
  outages: readonly OutageWaitRow[] = [],
  waiting: readonly PermissionWaitRow[] = [],
  paused: readonly PausedRow[] = [],
  limits: readonly RateLimitRow[] = [],
): string {
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
    return `shard ${sh.shard} ${sh.tag} slot ${slot}${master ? ` on ${master}` : ''}: lag ${lag ?? '?'}, pending ${pending}, dlq ${sh.dlq}, ${revokesText(sh, ', ')}${stored}`;
  });
  const stored = storedText(s.stored, sink);
  const head = `pipeline ${s.pipeline}  ${stored}  ${revokesText(s)}${s.shards ? `  shards ${s.shards.length}` : ''}`;
  const note = [fusedLine(fused), rateLimitLine(limits)].filter((l) => l !== undefined).join('\n');
  const waits = [pausedLine(paused), permissionsLine(waiting), outagesLine(outages)].filter((l) => l !== undefined).join('\n');
  return `${head}\n${lines.join('\n')}\n${shards.length ? shards.join('\n') + '\n' : ''}${note ? `\n${note}\n` : ''}${waits ? `\n${waits}\n` : ''}`;
}

/**
 * `revoked N  revoke marks M` (status, top; `sep` between them): records that ended revoked, all
 * time, and the revoke marks outstanding (`pipeline revoke`'s, kept `limits.revokeTtlMs`).
 */
export const revokesText = (s: { revoked: number; revokeMarks: number }, sep = '  '): string => `revoked ${s.revoked}${sep}revoke marks ${s.revokeMarks}`;

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
 * with no consumer, unexplained); the JSON has them as `fused` (`{from, to}`). A stage waiting out a
 * dependency outage gets a line (`store waits 35 s for PostgreSQL (1 consumer; ...)`): a growing
 * lag with its reason; the JSON has them as `outages` (`{stage, consumer, dependency, cause, since, error}`).
 * A stage waiting for a permission its Redis user or the store's database role lacks (a missing
 * GRANT, as `top` and `health` show it) gets a line too, with the fix; the JSON has them as `waiting`
 * (`{stage, consumer, cause, since, reason}`). A paused stage (`pipeline pause`) gets a line
 * `PAUSED <stage>: paused by <who> <n> s ago: <reason>`; the JSON has them as `paused` (`{stage, by, at, reason}`). The stages with a `rateLimit` get a line
 * `rate limited: <stage> <records> per <perMs> ms`; the JSON has them as `rateLimits` (`{stage, records, perMs, perShard}`). A data loss the workers recorded and no operator
 * acknowledged yet (lib/ops/data-loss.ts) comes first, as its sentence; the JSON has it as `dataLost`
 * (`[]` when none: `{tag, at, what, stage, consumer, stream, seen, reports, lastAt}` each). Before
 * even that, while Redis refuses writes because it cannot persist (MISCONF, asked with a PING:
 * lib/ops/write-refusal.ts), the refusal and what to do: the lag then grows and the consumers make no
 * progress because of Redis, not because the workers are stuck; the JSON has the reply as
 * `redisRefusesWrites` (null when writes are taken). Each webhook (`pipeline webhooks`) gets a line
 * with its group's lag on `{p}:done`; the JSON has them as `webhooks` (`{name, lag, pending,
 * consumers, deadLetters}`, lib/webhooks/status.ts).
 */
export async function statusOutput(redis: Redis, config: ResolvedConfig, json = false): Promise<{ text: string; status: PipelineStatus }> {
  const [status, fused, waits, dataLost, paused, refusal, webhooks] = await Promise.all([
    pipelineStatus(redis, config, { terminalGroup: REVIEW_GROUP }),
    liveFusedRoutes(redis, config, configShards(config)),
    consumerWaits(redis, config),
    readDataLoss(redis, config),
    pausedRows(redis, config),
    writeRefusal(redis),
    webhooksStatus(redis, config),
  ]);
  const outages = waits.outages.map(({ line: _, ...o }) => o);
  const waiting = waits.permissions.map(({ stage, consumer, cause, since, reason }) => ({ stage, consumer, cause, since, reason }));
  const cluster = asCluster(redis);
  const sink = storeSink(config);
  const lost = dataLossSentence(dataLost);
  const text = json
    ? JSON.stringify({
        ...status,
        sink,
        fused,
        waiting,
        outages,
        dataLost,
        paused,
        rateLimits: rateLimitRows(config),
        redisRefusesWrites: refusal ?? null,
        webhooks,
      }) + '\n'
    : (refusal ? `${writeRefusalLine(refusal)}\n\n` : '') +
      (lost ? `${lost}\n\n` : '') +
      formatStatus(
        status,
        cluster ? (slot) => cluster.slots[slot]?.[0] : undefined,
        sink,
        fused,
        waits.outages,
        waits.permissions,
        paused,
        rateLimitRows(config),
      ) +
      webhooksText(webhooks);
  return { text, status };
}

/** `pipeline status`: per stream length, group lag, pending, consumers; DLQ length; stored count; revoked count and revoke marks; the fused stages; the stages waiting for a missing permission or out an outage. */
export async function statusCommand(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const config = loadConfig(opts);
  // Read-only, and perhaps run where the models are not: a warning, in the words `up` refuses to start with.
  for (const err of modelFolderErrors(config)) process.stderr.write(`warning: ${err.message}\n`);
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
