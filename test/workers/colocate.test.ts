/**
 * Stages that share a process (config `process`, `pipeline worker a,b,c`; lib/worker/process.ts):
 * the rules-only pipeline end to end in one process with nothing lost, a SIGKILL of that process
 * loses nothing (its consumers' entries are reclaimed), and the process holds readers + 1
 * connections, also under `pipeline up`.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { BIN, cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const STAGES = ['preprocess', 'validate', 'store'];

/** Pipeline connection names from CLIENT LIST, by the pid in their consumer name (`stage:host-pid-n:role`). */
async function connectionsByPid(): Promise<Map<number, string[]>> {
  const list = (await redis.client('LIST')) as string;
  const out = new Map<number, string[]>();
  for (const line of list.trim().split('\n')) {
    const name = /\bname=(\S*)/.exec(line)?.[1] ?? '';
    const pid = /-(\d+)-\d+:(cmd|read)$/.exec(name)?.[1];
    if (pid) out.set(Number(pid), [...(out.get(Number(pid)) ?? []), name]);
  }
  return out;
}

function records(n: number, prefix: string): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
}

async function assertStoredOnce(keys: Keys, prefix: string, n: number): Promise<void> {
  const copies = await Promise.all(Array.from({ length: n }, (_, i) => redis.hget(keys.product(`${prefix}${i}`), 'copies')));
  assert.equal(
    copies.flatMap((c, i) => (c === '1' ? [] : [`${prefix}${i}: ${c}`])),
    [],
    'every product written by exactly one store entry',
  );
}

test('pipeline worker preprocess,validate,store: the rules-only pipeline end to end in one process, nothing lost, readers + 1 connections', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const N = 3000;
  const config = writeConfig(pipeline, { ...FAST, batchSize: 50 });
  const progress = join(tmpdir(), `${pipeline}-progress.json`);
  const child = spawn(process.execPath, [BIN, '--config', config, 'worker', STAGES.join(',')], {
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info', PROGRESS_FILE: progress },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('three stages started', () => (out.match(/"event":"worker\.started"/g) ?? []).length === 3);
    await produce(redis, Readable.from([records(N, 'c')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    let most = 0;
    const resolved = loadConfigFile(config, { env: { REDIS_URL: server.url } });
    await waitFor(
      'all stored and idle',
      async () => {
        most = Math.max(most, (await connectionsByPid()).get(child.pid!)?.length ?? 0);
        return (await redis.scard(keys.products)) === N && isIdle(await pipelineStatus(redis, resolved));
      },
      60_000,
    );
    const names = (await connectionsByPid())
      .get(child.pid!)!
      .map((n) => n.replace(/:[^:]+-\d+-\d+:/, ':<c>:'))
      .sort();
    assert.equal(
      names,
      ['preprocess+validate+store:<c>:cmd', 'preprocess:<c>:read', 'store:<c>:read', 'validate:<c>:read'],
      'three readers and one command connection',
    );
    assert.is(most, 4, 'never more than readers + 1 while working');
    // Each stage's watchdog writes its own progress file (a stalled stage is not hidden by a busy one).
    for (const s of STAGES) {
      const file = progress.replace(/\.json$/, `.${s}.json`);
      await waitFor(`progress file of ${s}`, () => existsSync(file));
      assert.is((JSON.parse(readFileSync(file, 'utf8')) as { stage: string }).stage, s);
    }
    await assertStoredOnce(keys, 'c', N);
    const status = await pipelineStatus(redis, resolved);
    assert.is(status.dlq, 0);
    for (const st of status.streams) if (st.group) assert.is(st.group.pending, 0, st.stream);
  } finally {
    child.kill('SIGTERM');
    assert.is(await exited(child), 0, out);
    for (const s of STAGES) rmSync(progress.replace(/\.json$/, `.${s}.json`), { force: true });
    rmSync(config, { force: true });
  }
  assert.match(out, /"event":"worker\.stopped"[^\n]*"stage":"store"|"stage":"store"[^\n]*"event":"worker\.stopped"/);
  await waitFor('connections closed', async () => !(await connectionsByPid()).has(child.pid!));
});

test('SIGKILL of a process running three stages loses nothing: its entries are reclaimed by the next one, each stored once', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const N = 400;
  // Every stage in process "rules"; blockMs long so the victim is surely blocked in XREADGROUP when frozen.
  const stages = STAGES.map((name) => ({
    name,
    kind: name,
    ...(name === 'preprocess' ? { input: 'in' } : {}),
    ...(name === 'store' ? { settings: { sink: 'redis' } } : {}),
    process: 'rules',
  }));
  const config = writeConfig(pipeline, { ...FAST, blockMs: 2000, batchSize: 50, claimMinIdleMs: 3000, consumerIdleRemoveMs: 1000 }, { stages });
  try {
    const victim = cli(['--config', config, 'worker', 'rules'], server.url);
    await waitFor('victim started', () => (victim.output().match(/"event":"worker\.started"/g) ?? []).length === 3);
    const consumer = /"event":"worker\.started"[^\n]*"consumer":"([^"]+)"/.exec(victim.output())![1]!;
    const blocked = async () => {
      const list = (await redis.client('LIST')) as string;
      return list.split('\n').some((l) => l.includes(` name=preprocess:${consumer}:read `) && /\bflags=\S*b/.test(l));
    };
    for (;;) {
      await waitFor('victim blocked in XREADGROUP', blocked);
      victim.kill('SIGSTOP');
      if (await blocked()) break;
      victim.kill('SIGCONT');
    }
    await produce(redis, Readable.from([records(N, 'k')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('victim holds a batch', async () => {
      const pending = (await redis.xpending(keys.stream('in'), 'preprocess', '-', '+', 100, consumer)) as unknown[];
      return pending.length === 50;
    });
    victim.kill('SIGKILL');
    await exited(victim);

    const rescuer = cli(['--config', config, 'worker', 'rules'], server.url);
    try {
      await waitFor('all stored', async () => (await redis.scard(keys.products)) === N, 60_000);
      await waitFor('dead consumer removed', async () => {
        const rows = (await redis.xinfo('CONSUMERS', keys.stream('in'), 'preprocess')) as unknown[][];
        return !rows.some((r) => r.includes(consumer));
      });
    } finally {
      rescuer.kill('SIGTERM');
      assert.is(await exited(rescuer), 0, rescuer.output());
    }
    await assertStoredOnce(keys, 'k', N);
    for (const s of STAGES) assert.is(((await redis.xpending(keys.stream(s === 'preprocess' ? 'in' : s), s)) as [number])[0], 0, s);
    const claimed = [...rescuer.output().matchAll(/"event":"reclaim\.claimed"[^\n]*"count":(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    assert.is(claimed, 50, 'the rescuer claimed the 50 entries the killed process held');
  } finally {
    rmSync(config, { force: true });
  }
});

test('pipeline up with `process`: one process per group, each with readers + 1 connections; a stage without one runs alone', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const stages = STAGES.map((name) => ({
    name,
    kind: name,
    ...(name === 'preprocess' ? { input: 'in' } : {}),
    ...(name === 'store' ? { settings: { sink: 'redis' } } : { process: 'front' }),
  }));
  const config = writeConfig(pipeline, { ...FAST }, { stages });
  const up = cli(['--config', config, 'up'], server.url);
  try {
    await waitFor('two processes connected', async () => {
      const m = await connectionsByPid();
      return (
        [...m.values()]
          .map((c) => c.length)
          .sort()
          .join() === '2,3'
      );
    });
    await produce(redis, Readable.from([records(500, 'u')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === 500, 60_000);
    const byPid = [...(await connectionsByPid()).values()].map((c) => c.map((n) => n.replace(/:[^:]+-\d+-\d+:/, ':<c>:')).sort());
    byPid.sort((a, b) => a.length - b.length);
    assert.equal(byPid, [
      ['store:<c>:cmd', 'store:<c>:read'],
      ['front:<c>:cmd', 'preprocess:<c>:read', 'validate:<c>:read'],
    ]);
  } finally {
    up.kill('SIGTERM');
    assert.is(await exited(up), 0, up.output());
    rmSync(config, { force: true });
  }
  await assertStoredOnce(keys, 'u', 500);
});

test.run();
