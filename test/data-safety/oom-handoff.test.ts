/**
 * Redis full (maxmemory, noeviction) refuses a stage's hand-off, which is retried in place until
 * memory is freed. That wait is an outage waited out, not a stuck worker: the consumer's liveness
 * record says what it waits for (`pipeline status`, `health`), the watchdog logs no stall and resets
 * no connection, and the progress file that the rendered liveness probes check stays fresh, so a
 * probe does not restart the worker while Redis is full. Once memory is freed every record is
 * handed off once and nothing is dead-lettered.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { FIELD_KEY } from '../../lib/stream/codec.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { refusedHandOff } from '../helpers/full-handoff.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis({ settings: { 'maxmemory-policy': 'noeviction' } });
const redis = client(server.url);
/** The stall limit is `blockMs + stallTimeoutMs`: short, so the wait below spans several of them. */
const STALL_MS = 1_000;

test('a hand-off Redis refuses as full waits without a stall: status and health say preprocess waits for Redis (out of memory), the progress file stays fresh; all handed off once memory is freed', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('oomh'), { ...FAST, stallTimeoutMs: STALL_MS, retryMaxMs: 200, pausePollMs: 100 });
  const keys = new Keys(config.pipeline);
  const dir = mkdtempSync(join(tmpdir(), 'oom-handoff-'));
  const progressFile = join(dir, 'progress.json');
  const logs: string[] = [];
  const logger = createLogger({}, 'info', (l) => logs.push(l));
  // preprocess alone: its hand-off to store (the rules-only routes) is the only write that meets the full Redis.
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger, progressFile });
  const run = worker.run();
  const N = 200;
  const health = () => consumerHealth(redis, config, 'preprocess', { host: hostname(), pid: process.pid });
  try {
    await waitFor('preprocess live', async () => (await health()).ok, 20_000);
    await refusedHandOff(redis, keys, N, async () => (await health()).progress?.paused !== undefined);
    await waitFor('the hand-off refused', async () => logs.some((l) => l.includes('"handoff.retry"') && l.includes('OOM')), 10_000);
    const since = Date.now();
    // Several stall limits: before, the watchdog called it a stall after one, reset the command
    // connection, stopped the marker and the progress file (a probe restarted the worker).
    await new Promise((r) => setTimeout(r, 4 * (FAST.blockMs! + STALL_MS)));
    assert.is(await redis.xlen(keys.stream('store')), 0, 'nothing handed off while Redis is full');
    const stalls = logs.filter((l) => l.includes('"watchdog.stalled"'));
    assert.equal(stalls, [], 'waiting out a full Redis is no stall');
    const h = await health();
    assert.ok(h.ok, `the probe passes: ${JSON.stringify(h)}`);
    const outage = h.progress?.outage as { dependency?: string; since?: number; error?: string } | undefined;
    assert.is(outage?.dependency, 'Redis (out of memory)', JSON.stringify(h.progress));
    assert.ok(outage!.since! <= since, JSON.stringify(outage));
    assert.match(String(outage!.error), /OOM/);
    const ageMs = Date.now() - statSync(progressFile).mtimeMs;
    assert.ok(ageMs < FAST.blockMs! + STALL_MS, `the progress file is fresh (${ageMs} ms old)`);
    const text = (await statusOutput(redis, config)).text;
    assert.match(text, /\npreprocess waits \d+ s for Redis \(out of memory\) \(1 consumer; an outage, waited out in place\)/, text);

    await redis.config('SET', 'maxmemory', '0');
    await waitFor('all handed off', async () => (await redis.xlen(keys.stream('store'))) === N, 20_000);
    await waitFor('the wait cleared', async () => (await health()).progress?.outage === undefined, 10_000);
    assert.not.match((await statusOutput(redis, config)).text, /waits/);
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
    const keysOut = (await redis.xrange(keys.stream('store'), '-', '+')).map(([, f]) => f[f.indexOf(FIELD_KEY) + 1]);
    assert.is(new Set(keysOut).size, N, 'each record handed off once');
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await worker.stop();
    await run;
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});

test.run();
