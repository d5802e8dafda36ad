import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PipelineConfig } from '../../lib/config/types.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { Keys } from '../../lib/redis/keys.js';
import { intervalText, TopSampler } from '../../scripts/commands/top.js';
import { BIN, cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** XADD an envelope produced `ageMs` ago, whose last hop (if `hopDoneAfterMs`) finished that long after producing. */
async function add(stream: string, id: string, producedAt: number, hopDoneAfterMs?: number): Promise<void> {
  const env = newEnvelope({ id, title: `t ${id}` }, producedAt);
  if (hopDoneAfterMs !== undefined)
    env.hops.push({ stage: 'preprocess', consumer: 'h-1-0', readAt: producedAt, doneAt: producedAt + hopDoneAfterMs, batch: 1 });
  await redis.xadd(stream, '*', 'k', env.key, 'e', encodeEnvelope(env));
}

/** The row of `top --once` output for a stage (or terminal stream), as column → cell. */
function row(out: string, first: string): Record<string, string> {
  const lines = out.split('\n');
  const header = lines
    .find((l) => l.startsWith('stage'))!
    .trim()
    .split(/\s{2,}/);
  const line = lines.find((l) => l.startsWith(first + ' '));
  assert.ok(line, `no row ${first} in:\n${out}`);
  const cells = line.trim().split(/\s{2,}/);
  return Object.fromEntries(header.map((h, i) => [h, cells[i]!]));
}

test('top --once renders each stage with its lag, pending, consumers, dead letters and latency percentiles', async () => {
  const pipeline = randomPipeline('top');
  const keys = new Keys(pipeline);
  const configPath = writeConfig(pipeline);
  const now = Date.now();
  for (let i = 0; i < 10; i++) await add(keys.stream('in'), `a${i}`, now);
  // preprocess: a consumer took 4 of the 10 entries and has not acked them.
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '0');
  await redis.xreadgroup('GROUP', 'preprocess', 'host-1-0', 'COUNT', 4, 'STREAMS', keys.stream('in'), '>');
  // validate: 20 entries handed over by preprocess 500 ms (10 of them) and 2000 ms (10) after they were produced; no group yet.
  for (let i = 0; i < 20; i++) await add(keys.stream('validate'), `v${i}`, now - 5000, i < 10 ? 500 : 2000);
  await redis.xadd(keys.dlq, '*', 'stage', 'validate', 'reason', 'max_deliveries');
  await redis.xadd(keys.dlq, '*', 'stage', 'validate', 'reason', 'no_route');
  await redis.xadd(keys.dlq, '*', 'stage', 'store', 'reason', 'permanent_error');

  const top = cli(['--config', configPath, 'top', '--once', '--interval', '100'], server.url);
  assert.is(await exited(top), 0, top.output());
  const out = top.output();
  // eslint-disable-next-line no-control-regex -- looking for the ANSI escape character on purpose
  assert.not.match(out, /\x1b\[/, 'no ANSI codes in --once output');
  assert.match(out, new RegExp(`pipeline ${pipeline}`));
  const pre = row(out, 'preprocess');
  assert.equal([pre.length, pre.lag, pre.pending, pre.cons, pre.dlq], ['10', '6', '4', '1', '0']);
  const val = row(out, 'validate');
  assert.equal([val.length, val.lag, val.pending, val.cons, val.dlq], ['20', '20', '0', '0', '2'], 'no group yet: everything is lag');
  assert.equal([val['p50 ms'], val['p99 ms']], ['500', '2000'], 'latency to reach validate, from the envelopes');
  const store = row(out, 'store');
  assert.equal([store.length, store.lag, store['p50 ms'], store.dlq], ['0', '0', '-', '1']);
  assert.match(out, /dlq 3\s+stored 0/);
});

test('top --once under the postgres sink says where the stored products are, not "stored 0"', async () => {
  const pipeline = randomPipeline('top');
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const stages = raw.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: 'postgres://u@127.0.0.1:1/db' } } : s));
  const top = cli(['--config', writeConfig(pipeline, {}, { stages }), 'top', '--once', '--interval', '100'], server.url);
  assert.is(await exited(top), 0, top.output());
  assert.match(top.output(), /dlq 0\s+stored: in the postgres sink \(not counted here\)/);
  assert.not.match(top.output(), /stored 0/);
});

test('rates are deltas of entries-added and entries-read between two samples', async () => {
  const pipeline = randomPipeline('rate');
  const keys = new Keys(pipeline);
  const config = loadConfigFile(writeConfig(pipeline), { env: { REDIS_URL: server.url } });
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '0', 'MKSTREAM');
  const sampler = new TopSampler(redis, config, 50);
  const f1 = await sampler.frame();
  assert.is(f1.rows[0]!.inRate, null, 'no rate from one sample');
  for (let i = 0; i < 50; i++) await add(keys.stream('in'), `r${i}`, Date.now());
  await redis.xreadgroup('GROUP', 'preprocess', 'c-1-0', 'COUNT', 30, 'STREAMS', keys.stream('in'), '>');
  await new Promise((r) => setTimeout(r, 50));
  const f2 = await sampler.frame();
  const secs = (f2.at - f1.at) / 1000;
  assert.is(Math.round(f2.rows[0]!.inRate! * secs), 50, 'added');
  assert.is(Math.round(f2.rows[0]!.readRate! * secs), 30, 'read by the group');
  assert.equal([f2.rows[0]!.lag, f2.rows[0]!.pending], [20, 30]);
});

test('the header says the refresh interval in ms below a second (--interval 10 had read "every 0.0 s")', () => {
  assert.equal([intervalText(10), intervalText(250), intervalText(1000), intervalText(1500)], ['10 ms', '250 ms', '1.0 s', '1.5 s']);
});

test('the live view redraws with an ANSI clear every interval and exits 0 on Ctrl-C', async () => {
  const pipeline = randomPipeline('live');
  const child = spawn(process.execPath, [BIN, '--config', writeConfig(pipeline), 'top', '--interval', '100'], {
    env: { ...process.env, REDIS_URL: server.url },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('two frames', () => out.split('\x1b[H\x1b[2J').length > 2, 20_000);
  } finally {
    child.kill('SIGINT');
  }
  assert.is(await exited(child), 0, out);
  assert.match(out, /preprocess/);
  assert.ok(out.endsWith('\x1b[?25h'), 'the cursor is shown again on exit');
});

test.run();
