/**
 * `npm run soak`: many records (default 1,000,000) through the full model pipeline
 * (config/pipeline.json: worker processes under the supervisor of `pipeline up`) while a random
 * worker is SIGKILLed every `--kill-every-ms` (default 30 s), sampling each stage's RSS and Redis's
 * memory; then every record is checked.
 *
 * Prints `records:`, `stored:`, `lost:`, `duplicated:`, `forwarded twice:`, `dlq:`, `rss growth: N%` (per stage, its
 * peak RSS over the last 10 % of the run against its peak over the first 10 %, after the models
 * loaded; the largest growth of any stage; then the same for the stages that hold no data, i.e.
 * all but match, whose vector index (in spill files, an entry per product in memory) grows with the
 * catalogue by design, and match's
 * growth per product), `redis memory: N MB` (peak used_memory), `seconds:`.
 * `lost` = records neither stored, nor in a terminal stream (review), nor, when the config has a
 * model stage, dead-lettered as bad (`dlq bad records`, counted apart; every record is good, so
 * without a model stage one dead-lettered is lost); `duplicated` = records stored from more than
 * one production (`copies` > 1, by lineage) or sent to a terminal stream twice by one stage;
 * `forwarded twice` = records a stage forwarded twice (one production in two entries of a stream,
 * scripts/scenarios/forward-tally.ts) among the entries the streams still hold: the soak keeps
 * trimming acked entries (its Redis memory is measured), so `unchecked (trimmed)` says how many
 * could not be checked. Exit 1 if anything was lost, duplicated or forwarded twice, or the DLQ
 * holds anything else.
 *
 * Titles are real listings (`--titles`, default the data set's train.jsonl, cycled through; each
 * record has its own id, so a repeated title is a duplicate listing the match stage finds), or
 * generated ones with `--titles synthetic`.
 *
 * The producer keeps at most `--max-backlog` records in flight (produced, not yet stored or
 * dead-lettered; the gate also opens once the pipeline stays idle), so Redis holds a bounded backlog
 * however fast the input comes. Drained = idle for `--idle-polls` polls in a row: the count then
 * finds any record lost. No kills in the last 20 % (a restarted worker's fresh heap in the last window).
 */
import { Command } from 'commander';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { RedisServer } from '../../lib/redis/server.js';
import { prng } from './chaos-input.js';
import { hasModelStage, tallyChaos, tallyFailures } from './chaos-tally.js';
import { startFaultRun } from './fault-run.js';
import { REPO } from '../commands/common.js';

const o = new Command('soak')
  .description('records through the full model pipeline while a worker is SIGKILLed every interval; checks nothing is lost or duplicated and memory stays flat')
  .option('--records <n>', 'records to send', '1000000')
  .option('--kill-every-ms <ms>', 'SIGKILL a random worker this often', '30000')
  .option('--max-kills <n>', 'stop killing after this many (default: no limit)')
  .option('--config <file>', 'pipeline config', 'config/pipeline.json')
  .option('--workers <n>', 'worker processes per stage (per process with --colocate)', '1')
  .option('--colocate', 'run the stages as the config’s process groups, as `pipeline up` does (fused stages included); RSS per process')
  .option('--max-backlog <n>', 'records produced but not yet stored, reviewed or dead-lettered, at most (at least 2000)', '20000')
  .option('--sample-ms <ms>', 'how often RSS, Redis memory and progress are sampled (and the drain polled)', '1000')
  .option('--idle-polls <n>', 'the pipeline is drained once it is idle (nothing undelivered or pending) this many polls in a row', '3')
  .option('--seed <n>', 'seed of the input and of the victims', '1')
  .option(
    '--titles <file>',
    "JSONL whose titles the records cycle through (real listings: the match stage's index gets realistic vectors), or 'synthetic' for generated ones",
    resolve(REPO, '../shared/data/products/train.jsonl'),
  )
  .option('--timeout <ms>', 'give up if the pipeline is not done by then', String(48 * 3600 * 1000))
  .option('--keep', 'keep the temp dir (config, worker logs)')
  .option('--parent-poll-ms <ms>', 'stop (exit 129) once the process it was started under (npm, npx, tsx) is gone; polled this often, 0: never', '1000')
  .parse()
  .opts<Record<string, string | boolean | undefined>>();
const num = (k: string) => Number(o[k]);
const t0 = Date.now();
const say = (msg: string) => process.stderr.write(`[soak ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

/** Resident set size of a process in bytes (Linux /proc), 0 when it is gone. */
function rssOf(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

const N = num('records');
const rand = prng(num('seed'));
const dir = mkdtempSync(join(tmpdir(), 'soak-'));
const log = createLogger({ component: 'soak' }, 'warn');
const server = await new RedisServer({ appendonly: true, appendfsync: 'everysec' }).start();
const redis = new Redis(server.url, { connectionName: 'soak:check', maxRetriesPerRequest: null });
const producerRedis = new Redis(server.url, { connectionName: 'soak:producer', maxRetriesPerRequest: null });
redis.on('error', () => {});
producerRedis.on('error', () => {});

const raw = JSON.parse(readFileSync(resolve(REPO, o.config as string), 'utf8')) as PipelineConfig;
const workers = num('workers');
const pipeline = `soak${Date.now().toString(36)}`;
// Reclaim within seconds of a kill, as in the chaos run.
const defaults = {
  blockMs: 500,
  claimMinIdleMs: 5000,
  claimIntervalMs: 1000,
  keepClaimedMs: 1000,
  drainTimeoutMs: 5000,
  consumerIdleRemoveMs: 60_000,
  stallTimeoutMs: 30_000,
  minWorkers: workers,
  maxWorkers: workers,
};
const { config, units, shards, supervisor, abort, allLive, finish } = startFaultRun({
  dir,
  server,
  redis,
  raw,
  pipeline,
  defaults,
  workers,
  colocate: o.colocate === true,
  workerLogLevel: 'warn',
  say,
  log,
  parentPollMs: num('parentPollMs'),
});
const input = shards.all[0]!.stream(config.input);

// Every worker's read loop running (models loaded): the RSS baseline starts after this.
await allLive(500);
say(`workers up (${workers} per stage, models loaded); ${N} records, killing a worker every ${o.killEveryMs} ms`);

// Progress (a hint for the RSS windows and the backlog gate, never the end of the run): distinct
// stored products + dead letters. A record routed to review is stored too (or counted by neither:
// review-only records are not progress here, so the gate below also opens once the pipeline is idle).
let done = 0;
const countDone = async () => {
  let n = 0;
  for (const k of shards.all) n += (await redis.scard(k.products)) + (await redis.xlen(k.dlq));
  return n;
};
/** Idle: every stage's group exists with nothing undelivered or pending. */
const idleNow = async () => {
  const st = await pipelineStatus(redis, config).catch(() => undefined);
  return st !== undefined && isIdle(st) && (st.shards ?? [st]).every((sh) => sh.streams.every((s) => !s.stage || s.group));
};

// Sampling: per stage the largest RSS of its workers, in the first and the last 10 % of the run; Redis's used_memory peak.
const peakFirst = new Map<string, number>();
const peakLast = new Map<string, number>();
let redisPeak = 0;
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    done = await countDone().catch(() => done);
    const window = done <= N * 0.1 ? peakFirst : done >= N * 0.9 ? peakLast : undefined;
    if (window) {
      for (const u of units) {
        const rss = Math.max(0, ...supervisor.pids(u.name).map(rssOf));
        window.set(u.name, Math.max(window.get(u.name) ?? 0, rss));
      }
    }
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory').catch(() => ''))?.[1] ?? 0);
    redisPeak = Math.max(redisPeak, used);
    await sleep(num('sampleMs'));
  }
})();

let kills = 0;
let killing = true;
// No kills in the last 20 % of the run: a worker restarted there has a fresh heap and would hide growth in the last window.
const killer = (async () => {
  const max = o.maxKills === undefined ? Infinity : num('maxKills');
  while (killing && kills < max) {
    await sleep(num('killEveryMs'));
    const pids = supervisor.pids();
    if (!killing || done >= N * 0.8 || pids.length === 0) continue;
    process.kill(pids[Math.floor(rand() * pids.length)]!, 'SIGKILL');
    kills++;
  }
})();

// Titles: real listings cycled through (record i, each id unique), or generated ("Product s12 k3x9q2").
const titles =
  o.titles === 'synthetic'
    ? undefined
    : readFileSync(resolve(o.titles as string), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => (JSON.parse(l) as { title: string }).title);
if (titles?.length === 0) await abort(`${o.titles as string} has no titles`, 2);

// At least a few producer batches (500 records each, read ahead by the stream): a smaller gate would wait for records the producer has not sent yet.
const maxBacklog = Math.max(num('maxBacklog'), 2_000);
const idlePolls = Math.max(1, num('idlePolls'));
let sent = 0;
async function* lines(): AsyncGenerator<string> {
  let chunk = '';
  for (let i = 0; i < N; i++) {
    const r = rand();
    const id = `s${i}`;
    chunk +=
      JSON.stringify({
        id,
        title: titles ? titles[i % titles.length]! : `Product ${id} ${r.toString(36).slice(2, 8)}`,
        ...(r < 0.3 ? { mpn: `MX-${i}` } : r < 0.45 ? { description: 'UPC 036000291452' } : {}),
      }) + '\n';
    sent++;
    if (chunk.length > 16_384) {
      yield chunk;
      chunk = '';
      // The gate opens once the backlog is under the limit, or the pipeline stays idle (records lost or review-only are never done).
      for (let idle = 0; sent - done > maxBacklog && idle < idlePolls;) {
        await sleep(num('sampleMs'));
        idle = (await idleNow()) ? idle + 1 : 0;
      }
    }
  }
  yield chunk;
}
let lastSay = 0;
const summary = await produce(producerRedis, Readable.from(lines()), {
  stream: input,
  ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
  source: 'soak',
  maxRecordBytes: config.limits.maxRecordBytes,
  onProgress: (n) => {
    if (Date.now() - lastSay < 30_000) return;
    lastSay = Date.now();
    say(`produced ${n}, done ${done}, kills ${kills}, redis peak ${Math.round(redisPeak / 1e6)} MB`);
  },
});
say(`produced ${summary.produced}; waiting for the pipeline to drain`);

// Drained once idle holds for --idle-polls polls in a row; the tally then finds any record lost.
const deadline = t0 + num('timeout');
for (let idle = 0; idle < idlePolls;) {
  idle = (await idleNow()) ? idle + 1 : 0;
  if (Date.now() > deadline) await abort('timed out', 2);
  if (idle < idlePolls) await sleep(num('sampleMs'));
}
killing = false;
await killer;
sampling = false;
await sampler;
await supervisor.stop();

// Count, in pages (a million records). Every record is good: only a model stage may refuse one for good.
const badAllowed = hasModelStage(config);
const tally = await tallyChaos(redis, config, shards, summary.produced, { prefix: 's', badAllowed });
const { stored, duplicated, lost } = tally;
const growth = units.map((u) => {
  const a = peakFirst.get(u.name) ?? 0;
  const b = peakLast.get(u.name) ?? 0;
  return { stage: u.name, first: a, last: b, pct: a > 0 && b > 0 ? ((b - a) / a) * 100 : NaN };
});
const worstOf = (gs: typeof growth) => Math.max(...gs.map((g) => g.pct).filter((x) => Number.isFinite(x)));
const worst = worstOf(growth);
// A match stage holds an entry per product by design (stages/domain/vector-index.ts: its rows are in
// spill files, a position and a key entry in memory): its growth is data, so the leak signal is the
// other stages, and match's growth per product.
const matchStages = new Set(config.stages.filter((s) => s.kind === 'match').map((s) => s.name));
const holdsData = new Set(units.filter((u) => u.stages.some((n) => matchStages.has(n))).map((u) => u.name));
const worstOther = worstOf(growth.filter((g) => !holdsData.has(g.stage)));
const perProduct = growth
  .filter((g) => holdsData.has(g.stage) && g.first > 0 && g.last > 0)
  .map(
    (g) =>
      `${g.stage} +${Math.round((g.last - g.first) / 1e6)} MB, ${Math.round((g.last - g.first) / (0.9 * summary.produced))} bytes per product (RSS; its vector rows in spill files)`,
  );
const mb = (b: number) => Math.round(b / 1e6);
const result: [string, string | number][] = [
  ['records', summary.produced],
  ['stored', stored],
  ['lost', lost],
  ['duplicated', duplicated],
  ['forwarded twice', tally.forwardedTwice],
  ['dlq', tally.dlq],
  ['rss growth', `${Number.isFinite(worst) ? worst.toFixed(1) : '?'}%`],
  ['rss growth, stages that hold no data', `${Number.isFinite(worstOther) ? worstOther.toFixed(1) : '?'}%`],
  ['match index growth', perProduct.join(', ') || 'none'],
  ['redis memory', `${mb(redisPeak)} MB`],
  ['seconds', Math.round((Date.now() - t0) / 1000)],
  ['in a terminal stream', tally.inTerminal],
  ['dlq bad records', tally.dlqBad],
  ['dlq unexpected', tally.dlqUnexpected],
  ['entries checked', tally.checked],
  ['unchecked (trimmed)', tally.unchecked],
  ['kills', kills],
  ['worker restarts', supervisor.restarts],
  [`rss per ${o.colocate ? 'process' : 'stage'} (first 10% -> last 10%, MB)`, growth.map((g) => `${g.stage} ${mb(g.first)}->${mb(g.last)}`).join(', ')],
];
process.stdout.write(result.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
const failures = [...tallyFailures(tally, badAllowed), ...(summary.produced !== N ? [`sent ${summary.produced} of ${N}`] : [])];
await finish(failures, Boolean(o.keep), [producerRedis]);
