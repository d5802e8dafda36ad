/**
 * `npm run chaos`: N records through the whole pipeline (worker processes under the supervisor of
 * `pipeline up`) while a random worker is SIGKILLed every few seconds and redis-server is killed
 * and restarted (AOF on) in the middle of producing; then every record is checked.
 *
 * Input: N good records, plus one bad JSONL line per `--bad-every` lines (the producer must reject
 * each, with its line number) and `--garbage` undecodable entries added straight to the input
 * stream (each must end in the DLQ with reason `undecodable`). Nothing else may reach the DLQ.
 *
 * Checks: `stored` = good records whose product exists; `duplicated` = records stored from more
 * than one production (`copies` > 1, counted by lineage: the producer sending a record twice; the
 * producer's exactly-once batches make that impossible, and `produced twice` checks it
 * independently from the input stream's entries-added); `forwarded twice` = records a stage
 * forwarded twice, one production in two entries of a stream (scripts/scenarios/forward-tally.ts:
 * the atomic hand-off makes that impossible; the run keeps its streams untrimmed,
 * `streams.trimAcked` false, so every entry is checked, and `unchecked` says how many were not); `lost` = good
 * records neither stored nor in a terminal stream (nor, when the config has a model stage, which
 * may refuse a record for good, dead-lettered as permanent_error / no_route: `dlq bad records`). Exit 1 if anything was lost, duplicated or forwarded twice, if
 * the DLQ holds anything but the garbage, or if the rejects are not exactly the bad lines.
 *
 * `--scenario oom`: Redis full instead. redis-server runs with `maxmemory-policy noeviction`;
 * once the workers are up, `maxmemory` is set to what Redis uses plus `--headroom-mb`, so the
 * producer and the stages are refused with OOM part way through; `--oom-hold-ms` after the first
 * refusal the limit is lifted (`CONFIG SET maxmemory 0`) and the run drains. No kills, no
 * restarts: the same checks, so any good record dead-lettered (an outage treated as bad data)
 * fails the run. Prints `redis oom refusals` and `seconds full` with the rest.
 */
import { Command, InvalidArgumentError } from 'commander';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { appendBatchOnce } from '../../lib/stream/handoff.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { RedisServer } from '../../lib/redis/server.js';
import { ChaosInput, prng } from './chaos-input.js';
import { hasModelStage, tallyChaos, tallyFailures } from './chaos-tally.js';
import { startFaultRun } from './fault-run.js';
import { REPO } from '../commands/common.js';

/** 0 (no bad lines) or an integer >= 2: with 1 every line would be bad and the N good records never made. */
function badEveryValue(v: string): string {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n === 1) throw new InvalidArgumentError('Expected 0 (no bad lines) or an integer >= 2.');
  return v;
}

const o = new Command('chaos')
  .description('records through the pipeline while workers are SIGKILLed and redis-server restarts; checks nothing is lost or duplicated')
  .option('--records <n>', 'good records to send', '100000')
  .option('--kill-every-ms <ms>', 'SIGKILL a random worker this often', '3000')
  .option('--max-kills <n>', 'stop killing after this many (default: no limit)')
  .option('--seed <n>', 'seed of the input and of the victims', '1')
  .option('--config <file>', 'pipeline config (default: config/rules-only.json, or config/pipeline.json with --models)')
  .option(
    '--models',
    'run the full model pipeline (config/pipeline.json: classify, extract, match with transformers.js); one worker per stage unless --workers',
  )
  .option('--workers <n>', 'worker processes per stage (default: 2, 1 with --models)')
  .option('--colocate', 'run the stages as the config’s process groups, as `pipeline up` does (fused stages included); victims are those processes')
  .option('--shards <n>', 'shards of the pipeline (each worker reads every shard); checks cover every shard', '1')
  .option('--rate <n>', 'produce at most n records/s (default: as fast as possible)')
  .option('--redis-restarts <n>', 'kill -9 and restart redis-server this many times while producing', '1')
  .option('--fsync <mode>', 'appendfsync: always (nothing acknowledged is lost) or everysec (up to ~1 s may be)', 'always')
  .option('--bad-every <n>', 'one bad JSONL line per n lines (0: none; at least 2)', badEveryValue, '1000')
  .option('--garbage <n>', 'undecodable entries added straight to the input stream', '20')
  .option('--timeout <ms>', 'give up if the pipeline is not done by then', '1200000')
  .option('--scenario <name>', 'kill (workers SIGKILLed, redis-server restarted) or oom (Redis full for a while, then the limit lifted)', 'kill')
  .option('--headroom-mb <n>', 'oom: maxmemory = memory in use when the workers are up + this', '2')
  .option('--oom-hold-ms <ms>', 'oom: keep Redis full this long after its first OOM refusal, then lift the limit', '3000')
  .option('--keep', 'keep the temp dir (config, worker logs, rejects)')
  .option('--parent-poll-ms <ms>', 'stop (exit 129) once the process it was started under (npm, npx, tsx) is gone; polled this often, 0: never', '1000')
  .parse()
  .opts<Record<string, string | boolean | undefined>>();
const num = (k: string) => Number(o[k]);
const say = (msg: string) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

const t0 = Date.now();
const rand = prng(num('seed'));
const N = num('records');
const dir = mkdtempSync(join(tmpdir(), 'chaos-'));
const log = createLogger({ component: 'chaos' }, 'warn');
const oom = o.scenario === 'oom';
if (o.scenario !== 'kill' && !oom) throw new Error(`--scenario: expected kill or oom, got ${String(o.scenario)}`);
const server = await new RedisServer({
  appendonly: true,
  appendfsync: o.fsync === 'everysec' ? 'everysec' : 'always',
  settings: { 'maxmemory-policy': 'noeviction' },
}).start();
const persistent = (name: string) =>
  new Redis(server.url, { connectionName: name, maxRetriesPerRequest: null, retryStrategy: (n) => Math.round(Math.random() * Math.min(2000, 50 * 2 ** n)) });
const redis = persistent('chaos:check');
const producerRedis = persistent('chaos:producer');
redis.on('error', () => {});
producerRedis.on('error', () => {});

// The config: the chosen pipeline under a fresh name, with timers shrunk so reclaim takes seconds,
// and its streams kept whole (no trimAcked) so the count can check every entry for a second forward.
const config0 = JSON.parse(
  readFileSync(resolve(REPO, (o.config as string | undefined) ?? (o.models ? 'config/pipeline.json' : 'config/rules-only.json')), 'utf8'),
) as PipelineConfig;
const raw: PipelineConfig = { ...config0, streams: { ...config0.streams, trimAcked: false } };
const workers = o.workers === undefined ? (o.models ? 1 : 2) : num('workers');
const pipeline = `chaos${Date.now().toString(36)}`;
const defaults = {
  blockMs: 500,
  claimMinIdleMs: 2000,
  claimIntervalMs: 500,
  keepClaimedMs: 500,
  retryMaxMs: 1000,
  drainTimeoutMs: 5000,
  consumerIdleRemoveMs: 10_000,
  stallTimeoutMs: 5000,
  minWorkers: workers,
  maxWorkers: workers,
};
/** A redis-server restart in progress (awaited before the server is closed, so none is left behind). */
let restarting: Promise<void> = Promise.resolve();
const { config, shards, supervisor, abort, allLive, finish } = startFaultRun({
  dir,
  server,
  redis,
  raw,
  pipeline,
  defaults,
  shards: num('shards'),
  workers,
  colocate: o.colocate === true,
  workerLogLevel: 'info',
  say,
  log,
  beforeServerClose: () => restarting,
  parentPollMs: num('parentPollMs'),
});
say(`redis-server ${server.url}, pid ${process.pid}, temp dir ${dir}`);
const keys = shards.all[0]!;
// Garbage goes to the first shard's input; records to their own shard's.
const input = keys.stream(config.input);

// Wait until every worker's read loop runs, so the kills hit working processes.
await allLive(200);
/** OOM refusals Redis has answered so far (INFO errorstats). */
const oomRefusals = async () => Number(/errorstat_OOM:count=(\d+)/.exec(await redis.info('errorstats'))?.[1] ?? 0);
let fullMs = 0;
/** oom: fill Redis up to the limit, hold it full, lift it. Resolves once lifted. */
let lifted: Promise<void> = Promise.resolve();
if (oom) {
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const limit = used + Math.round(num('headroomMb') * 1024 * 1024);
  await redis.config('SET', 'maxmemory', String(limit));
  say(`maxmemory ${(limit / 1048576).toFixed(1)} MB (noeviction); producing ${N} records`);
  lifted = (async () => {
    while ((await oomRefusals()) === 0) await sleep(50);
    const fullAt = Date.now();
    say(`Redis full: writes refused with OOM; lifting the limit in ${o.oomHoldMs} ms`);
    await sleep(num('oomHoldMs'));
    await redis.config('SET', 'maxmemory', '0');
    fullMs = Date.now() - fullAt;
    say(`limit lifted after ${fullMs} ms full (${await oomRefusals()} OOM refusals)`);
  })();
} else say(`workers up (${workers} per stage); producing ${N} records, killing a worker every ${o.killEveryMs} ms`);
let kills = 0;
let restarts = 0;
let killing = !oom;
const killed = new Set<number>();
const killer = (async () => {
  const max = o.maxKills === undefined ? Infinity : num('maxKills');
  while (killing && kills < max) {
    await sleep(num('killEveryMs'));
    const pids = supervisor.pids().filter((p) => !killed.has(p));
    if (!killing || pids.length === 0) continue;
    const victim = pids[Math.floor(rand() * pids.length)]!;
    killed.add(victim);
    process.kill(victim, 'SIGKILL');
    kills++;
  }
})();

// The input: good records with and without identifiers, a bad line every --bad-every lines,
// garbage entries spread over the run, redis-server restarts spread over producing.
const garbageCount = num('garbage');
const badEvery = num('badEvery');
const total = badEvery === 0 ? N : N + Math.floor(N / (badEvery - 1));
const restartAt = new Set(Array.from({ length: oom ? 0 : num('redisRestarts') }, (_, i) => Math.floor(((i + 1) * total) / (num('redisRestarts') + 1))));
const garbageAt = new Map(Array.from({ length: garbageCount }, (_, i) => [Math.floor(((i + 0.5) * total) / garbageCount), i]));
const garbageKey = `${input}:producer:chaos-garbage`;
/** A write the full Redis refuses (oom scenario) is tried again until the limit is lifted; exactly-once batches make that safe. */
async function untilAccepted<T>(write: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (!oom || !isTransientRedisError(err)) throw err;
      await sleep(100);
    }
  }
}
/** Before input line i: a redis-server restart, a garbage entry, when one falls there. */
function faultsAt(i: number): Promise<unknown> | undefined {
  if (restartAt.has(i)) {
    // Not awaited: the producer and the workers meet the dead server mid-flight.
    say(`kill -9 redis-server at line ${i}`);
    restarting = server.restart('SIGKILL').then(() => {
      say(`redis-server back (restart ${++restarts})`);
    });
  }
  const g = garbageAt.get(i);
  if (g === undefined) return undefined;
  return untilAccepted(() => appendBatchOnce(redis, input, garbageKey, g, [[`garbage-${g}`, Buffer.from(`not an envelope ${g} \u00ff`, 'latin1')]]));
}
const chaosInput = new ChaosInput({ total, badEvery, rand, rate: o.rate === undefined ? 0 : num('rate'), before: faultsAt });
const summary = await produce(producerRedis, Readable.from(chaosInput.chunks()), {
  stream: input,
  ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
  source: 'chaos',
  maxRecordBytes: config.limits.maxRecordBytes,
  rejectsFile: join(dir, 'rejects.jsonl'),
  // Redis full: the producer waits for the limit to be lifted (its batches are exactly-once).
  ...(oom ? { retryForMs: num('timeout'), retryMaxMs: 200 } : {}),
});
await restarting;
await lifted;
say(`produced ${summary.produced}, rejected ${summary.rejected}; waiting for the pipeline to drain`);

// Done = every stage has nothing undelivered and nothing pending.
const deadline = t0 + num('timeout');
let lastSay = 0;
for (;;) {
  const st = await pipelineStatus(redis, config).catch(() => undefined);
  if (st && isIdle(st) && (st.shards ?? [st]).every((sh) => sh.streams.every((s) => !s.stage || s.group))) break;
  if (st && Date.now() - lastSay > 5000) {
    lastSay = Date.now();
    say(
      `stored ${st.stored}, dlq ${st.dlq}, kills ${kills}; ${st.streams
        .filter((s) => s.group)
        .map((s) => `${s.stage} lag ${s.group!.lag} pending ${s.group!.pending}`)
        .join(', ')}`,
    );
  }
  if (Date.now() > deadline) {
    process.stdout.write(`timed out; status: ${JSON.stringify(st)}\n`);
    await abort('timed out', 2);
  }
  await sleep(500);
}
killing = false;
await killer;
await supervisor.stop();

// Count: stored products, terminal streams (e.g. review), DLQ, and what the input stream received.
// Every record the input makes is good: only a model stage may refuse one for good (dead-lettered as bad, not lost).
const badAllowed = hasModelStage(config);
const tally = await tallyChaos(redis, config, shards, summary.produced, { badAllowed });
const { stored, duplicated, forwardedTwice, checked, unchecked, lost, inTerminal, dlq, dlqGarbage, dlqBad, dlqUnexpected, added } = tally;
const workerLog = readFileSync(join(dir, 'workers.log'), 'utf8');
const sum = (re: RegExp) => [...workerLog.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);

const result: [string, number][] = [
  ['sent', summary.produced],
  ['stored', stored],
  ['duplicated', duplicated],
  ['forwarded twice', forwardedTwice],
  ['lost', lost],
  ['dlq', dlq],
  ['kills', kills],
  ['redis restarts', restarts],
  ...(oom
    ? ([
        ['redis oom refusals', await oomRefusals()],
        ['seconds full', Math.round(fullMs / 100) / 10],
      ] as [string, number][])
    : []),
  ['seconds', Math.round((Date.now() - t0) / 1000)],
  ['in a terminal stream', inTerminal],
  ['rejected', summary.rejected],
  ['dlq expected (garbage)', garbageCount],
  ['dlq bad records', dlqBad],
  ['dlq unexpected', dlqUnexpected],
  ['produced twice', added - summary.produced - garbageCount],
  ['entries checked', checked],
  ['unchecked (trimmed)', unchecked],
  ['reclaimed', sum(/"event":"reclaim\.claimed"[^\n]*"count":(\d+)/g)],
  ['duplicate hand-offs suppressed', sum(/"event":"handoff\.already_acked"[^\n]*"count":(\d+)/g)],
  ['worker restarts', supervisor.restarts],
];
process.stdout.write(result.map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');

const failures = [
  ...tallyFailures(tally, badAllowed),
  summary.produced !== N && `sent ${summary.produced} of ${N}`,
  summary.rejected !== chaosInput.badLines && `rejected ${summary.rejected}, expected the ${chaosInput.badLines} bad lines`,
  dlqGarbage !== garbageCount && `${garbageCount - dlqGarbage} garbage entries missing from the DLQ`,
  added !== summary.produced + garbageCount && `the input stream received ${added} entries, expected ${summary.produced + garbageCount}`,
  oom && fullMs === 0 && 'Redis never refused a write: raise --records or lower --headroom-mb',
].filter((f): f is string => typeof f === 'string');
await finish(failures, Boolean(o.keep), [producerRedis]);
