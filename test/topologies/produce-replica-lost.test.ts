/**
 * `pipeline produce` with `--wait-replicas auto` (the default) when the master's only replica dies
 * mid-run and no failover follows: the master's replica count drops to 0, which `auto` believes
 * once it has lasted `replicaDropMs` (30 s by default), and produce then goes on without WAIT,
 * saying so; every record is in once. Its retry limit (`--retry-for`, 30 s by default) had run out
 * first: exit 16 "reached 0 of 1 replicas (is a replica down?)" though `auto` goes on without a lost
 * replica. Real redis-servers: a master and its replica; the replica SIGKILLed while produce runs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import type { RedisServer } from '../../lib/redis/server.js';
import { cli, exitedWithin, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const master = await startRedis();
const admin = client(master.url);
const files: string[] = [];
const replicas: RedisServer[] = [];

/** A replica of the master on a free port, linked (the master counts it); its process id, to kill it. */
async function startReplica(): Promise<number> {
  const replica = await startRedis({ settings: { replicaof: `127.0.0.1 ${master.port}` } });
  replicas.push(replica);
  await waitFor('the master counts its replica', async () => /connected_slaves:1/.test(await admin.info('replication')), 20_000);
  const r = client(replica.url);
  try {
    return Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
  } finally {
    r.disconnect();
  }
}

/** SIGKILL the replica, until the master has none. */
async function killReplica(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor('the master has no replica', async () => /connected_slaves:0/.test(await admin.info('replication')), 10_000);
}

const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => JSON.stringify({ id: `r${from + i}`, title: 'Acme widget' })).join('\n') + '\n';

test('the library produce(), a retry limit shorter than replicaDropMs: the lost replica is waited out all the same, then onReplicaLost, every record once', async () => {
  const pid = await startReplica();
  const stream = new Keys(randomPipeline('rm')).stream('in');
  const body = new PassThrough();
  const lost: string[] = [];
  const redis = client(master.url);
  try {
    const done = produce(redis, body, {
      stream,
      source: 'test',
      maxRecordBytes: 65_536,
      batchSize: 50,
      retryForMs: 300,
      replicaDropMs: 2_000,
      onReplicaLost: (s) => lost.push(s),
    });
    body.write(lines(0, 200));
    await waitFor('the first records in', async () => (await admin.xlen(stream)) >= 200, 20_000);
    await killReplica(pid);
    body.end(lines(200, 400));
    const summary = await done;
    assert.is(summary.produced, 400);
    assert.equal(lost, [stream], 'said once, for the batch that waited');
    const ids = (await admin.xrange(stream, '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
    assert.is(new Set(ids).size, 400);
    assert.is(ids.length, 400);
  } finally {
    redis.disconnect();
  }
});

test('the only replica killed mid-produce, no failover: produce says the replica is gone, goes on without WAIT, exit 0, every record in once', async () => {
  const replicaPid = await startReplica();
  const pipeline = randomPipeline('rl');
  const input = new Keys(pipeline).stream('in');
  const config = writeConfig(pipeline);
  files.push(config, `${config}.rejects`);
  const p = cli(['--config', config, 'produce', '-', '--rejects', `${config}.rejects`, '--batch', '50'], master.url, { keepStdin: true });
  try {
    p.stdin!.write(lines(0, 500));
    await waitFor('the first records in (replicated)', async () => (await admin.xlen(input)) >= 500, 20_000);
    await killReplica(replicaPid);
    p.stdin!.end(lines(500, 1000));
    const code = await exitedWithin(p, 90_000);
    if (code === 'running') p.kill('SIGTERM');
    assert.is(code, 0, p.output().slice(-1500));
    assert.match(
      p.output(),
      /waiting: batch of \S+ reached 0 of 1 replicas: its master has lost its replica .*replicaDropMs \/ --replica-drop \(30000 ms\), in \d+ s, produce goes on without WAIT/,
    );
    assert.match(p.output(), /produce: going on without WAIT: the master of \S+ has had no replica for 30 s \(--replica-drop, --wait-replicas auto\)/);
    assert.not.match(p.output(), /is a replica down\?/);
    // Each entry's `k` is its record's key (the id).
    const ids = (await admin.xrange(input, '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
    assert.is(ids.length, 1000, 'every record once');
    assert.is(new Set(ids).size, 1000);
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
  }
});

test.after(async () => {
  for (const f of files) rmSync(f, { force: true });
  admin.disconnect();
  for (const r of replicas) await r.close().catch(() => undefined);
  await master.close();
});
test.run();
