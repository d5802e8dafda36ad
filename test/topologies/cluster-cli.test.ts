/**
 * The CLI against a real Redis Cluster (3 masters, 1 replica each, loopback; test/helpers/cluster.ts)
 * as an operator meets it: a `redis://` URL at a cluster node is refused at once with a line naming
 * `redis+cluster://` (exit 19, docs/cli.md), not a raw MOVED, workers restarted in a loop and a
 * producer retrying a redirect for 30 s; `produce --wait-replicas 1` whose master fails over to a
 * replica that has none left ends with the documented "reached 0 of 1 replicas" (exit 16), not
 * "cannot reach Redis" naming the dead master (exit 10); `reprocess` rides out a failover during
 * its scan within `--retry-for` (it had failed at the first one: "Too many Cluster redirections");
 * with one master down and the others answering, `status` names that master (it had named the
 * seeds, which answer).
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_CODES } from '../../lib/redis/diagnose.js';
import { Keys } from '../../lib/redis/keys.js';
import { keySlot, shardOf } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { cli, exitedWithin, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { writeStoredProduct } from '../helpers/stored-products.js';

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 }).start();
const files: string[] = [];

/** The child's exit code, or 'running' after `ms` (the child is then SIGKILLed). */
async function exitedOrKilledAfter(child: ChildProcess, ms: number): Promise<number | null | 'running'> {
  const r = await exitedWithin(child, ms);
  if (r === 'running') child.kill('SIGKILL');
  return r;
}

/** A records file of `n` lines. */
function records(name: string, n: number): string {
  const file = join(tmpdir(), `${name}.jsonl`);
  writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${name}-${i}`, title: `Acme widget ${i}` })).join('\n') + '\n');
  files.push(file);
  return file;
}

test('a redis:// URL at a cluster node: status, produce, worker and up each exit 19 at once with one line naming redis+cluster://', async () => {
  const topology = await cluster.topology();
  const node = topology.find((n) => n.role === 'master')!;
  const own = (slot: number) => node.slots.some(([a, b]) => slot >= a && slot <= b);
  // A pipeline whose keys live on another master: the node answers MOVED for every one of them.
  let pipeline = randomPipeline('m');
  while (own(keySlot(pipeline))) pipeline = randomPipeline('m');
  const config = writeConfig(pipeline, FAST);
  files.push(config);
  const url = `redis://127.0.0.1:${node.port}`;
  const cases: [string, string[]][] = [
    ['status', ['status']],
    ['produce', ['produce', records(pipeline, 20)]],
    ['worker', ['worker', 'preprocess']],
    ['up', ['up', '--no-autoscale']],
  ];
  // Every command's problems, so a failure names them all.
  const problems: string[] = [];
  for (const [what, args] of cases) {
    const started = Date.now();
    const c = cli(['--config', config, ...args], url);
    const code = await exitedOrKilledAfter(c, 20_000);
    const out = c.output();
    const errors = out.split('\n').filter((l) => l.startsWith('error:'));
    const ok =
      code === EXIT_CODES.cluster &&
      errors.length === 1 &&
      errors[0]!.includes(`127.0.0.1:${node.port} is a Redis Cluster node`) &&
      errors[0]!.includes('redis+cluster://') &&
      !/Unhandled error event|supervisor\.crash|\n\s+at /.test(out);
    if (!ok) problems.push(`${what}: exit ${String(code)} after ${Date.now() - started} ms: ${out.slice(-400)}`);
  }
  assert.equal(problems, [], 'exit 19 and one error line naming redis+cluster://, no stack, no crash loop');
});

test('produce --wait-replicas 1 while its master fails over to a replica that has none: the ReplicationError line, exit 16', async () => {
  const pipeline = randomPipeline('w');
  const master = await cluster.masterOf(keySlot(pipeline));
  const config = writeConfig(pipeline, FAST);
  files.push(config);
  const c = cli(['--config', config, 'produce', '-', '--wait-replicas', '1', '--retry-for', '6000', '--batch', '10'], cluster.url, { keepStdin: true });
  c.stdin!.on('error', () => {}); // the producer may exit with lines still on their way
  // A paced input (10 records every 100 ms, at most 60 s worth): batches go on while the master dies.
  let n = 0;
  const feed = setInterval(() => {
    if (n >= 6000 || c.exitCode !== null) return clearInterval(feed);
    c.stdin!.write(Array.from({ length: 10 }, () => JSON.stringify({ id: `w${n++}`, title: 'Acme widget' })).join('\n') + '\n');
  }, 100);
  const redis = createClient(cluster.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    const input = new Keys(pipeline).stream('in');
    await waitFor('the first batches replicated', async () => (await redis.xlen(input)) >= 50, 20_000);
    await cluster.kill(master);
    const code = await exitedOrKilledAfter(c, 60_000);
    const out = c.output();
    const errors = out.split('\n').filter((l) => l.startsWith('error:'));
    assert.is(code, EXIT_CODES.unavailable, `exit ${String(code)}: ${out.slice(-800)}`);
    assert.is(errors.length, 1, out.slice(-800));
    assert.match(errors[0]!, /reached 0 of 1 replicas within 6000 ms \(is a replica down\?\)/);
    // Its final report (a `waiting: cannot reach Redis` line while the master was down is right).
    assert.not.match(errors[0]!, /cannot reach Redis/, 'the dead master is not what it reports');
  } finally {
    clearInterval(feed);
    redis.disconnect();
    await cluster.restart(master);
    await cluster.waitHealthy();
  }
});

test('reprocess whose scan reaches a shard while its master fails over: the scan waits within --retry-for, every product put back', async () => {
  // Two shards on two masters; the scan reads shard 0, then shard 1, whose master dies in between.
  let pipeline = randomPipeline('r');
  let masters = await Promise.all(Keys.shards(pipeline, 2).map((k) => cluster.masterOf(keySlot(k.tag))));
  while (masters[0] === masters[1]) {
    pipeline = randomPipeline('r');
    masters = await Promise.all(Keys.shards(pipeline, 2).map((k) => cluster.masterOf(keySlot(k.tag))));
  }
  const [k0, k1] = Keys.shards(pipeline, 2) as [Keys, Keys];
  // maxLag 5: the second batch of shard 0 (10 per batch) waits for the stage: the scan holds there.
  const config = writeConfig(pipeline, FAST, { shards: 2, limits: { maxLag: 5 } });
  files.push(config);
  const redis = createClient(cluster.url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => {});
  const want = [20, 5];
  const keys: string[] = [];
  for (let i = 0, have = [0, 0]; have[0]! < want[0]! || have[1]! < want[1]!; i++) {
    const s = shardOf(`r${i}`, 2);
    if (have[s]! >= want[s]!) continue;
    have[s]!++;
    keys.push(`r${i}`);
  }
  // Shard 1's products written on its master itself, so WAIT can tell they reached its replica before the kill.
  const master1 = cluster.node(masters[1]!);
  for (const [i, key] of keys.entries()) {
    const [k, to] = shardOf(key, 2) === 0 ? [k0, redis] : [k1, master1];
    await writeStoredProduct(to, k, key, i);
  }
  // What the replica promoted lacks is lost by the failover, not missed by the scan (a CI run scanned 20 of 25 so, once).
  assert.is(await master1.wait(1, 10_000), 1, "shard 1's replica has its products before the kill");
  master1.disconnect();
  // A failover longer than the Cluster client's own redirections ride out (16 x 200 ms): node timeout 4 s here.
  const setTimeoutMs = async (ms: number) => {
    for (const port of cluster.livePorts()) {
      const n = cluster.node(port);
      await n.config('SET', 'cluster-node-timeout', String(ms));
      n.disconnect();
    }
  };
  await setTimeoutMs(4_000);
  const c = cli(
    ['--config', config, 'reprocess', '--from-stage', 'validate', '--batch', '10', '--page', '10', '--backpressure-poll', '50', '--retry-for', '60000'],
    cluster.url,
  );
  try {
    await waitFor('the scan held by the backpressure of shard 0', () => /waiting for stage validate/.test(c.output()), 20_000);
    await cluster.kill(masters[1]!);
    await redis.xtrim(k0.stream('validate'), 'MAXLEN', 0); // shard 0's stage caught up: the scan goes on, to shard 1
    const code = await exitedOrKilledAfter(c, 60_000);
    const out = c.output();
    assert.is(code, 0, out.slice(-800));
    const summary = JSON.parse(out.split('\n').find((l) => l.includes('"reprocess.done"')) ?? '{}') as { scanned?: number; reprocessed?: number };
    const held = `shard 1's products set holds ${await redis.scard(k1.products)} after the failover`;
    assert.equal([summary.scanned, summary.reprocessed], [25, 25], `every product scanned and put back once (${held}; ${JSON.stringify(summary)})`);
    assert.match(out, /reprocess: waiting: /, 'the wait said on stderr');
    assert.is(await redis.xlen(k1.stream('validate')), 5, "shard 1's products put back on the new master");
  } finally {
    c.kill('SIGKILL');
    redis.disconnect();
    await cluster.restart(masters[1]!);
    await setTimeoutMs(1_000);
    await cluster.waitHealthy(60_000);
  }
});

/** CONFIG SET on every live node. */
async function configAll(name: string, value: string): Promise<void> {
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    await n.config('SET', name, value);
    n.disconnect();
  }
}

test('one master down, the other nodes answer: status names that master (host:port, a failover?), not only the seeds', async () => {
  const pipeline = randomPipeline('d');
  const victim = await cluster.masterOf(keySlot(pipeline));
  const replica = await cluster.replicaOf(victim);
  const config = writeConfig(pipeline, FAST);
  files.push(config);
  // A lasting partial outage: the other masters keep serving their slots, and no replica takes over.
  await configAll('cluster-require-full-coverage', 'no');
  const r = cluster.node(replica);
  await r.config('SET', 'cluster-replica-no-failover', 'yes');
  r.disconnect();
  await cluster.kill(victim);
  try {
    const c = cli(['--config', config, 'status'], cluster.url);
    const code = await exitedOrKilledAfter(c, 60_000);
    const out = c.output();
    const errors = out.split('\n').filter((l) => l.startsWith('error:'));
    assert.is(code, EXIT_CODES.unreachable, `exit ${String(code)}: ${out.slice(-800)}`);
    assert.is(errors.length, 1, out.slice(-800));
    const seeds = cluster.ports.map((p) => `127.0.0.1:${p}`).join(',');
    // The seed list holds every node's address: the dead master must be named outside it.
    assert.ok(errors[0]!.replace(seeds, '').includes(`127.0.0.1:${victim}`), `the stopped master named: ${errors[0]}`);
    assert.match(errors[0]!, /the other nodes .* answer: a failover\?/);
  } finally {
    await cluster.restart(victim); // back as the master of its slots: no failover happened
    const back = cluster.node(replica);
    await back.config('SET', 'cluster-replica-no-failover', 'no');
    back.disconnect();
    await configAll('cluster-require-full-coverage', 'yes');
    await cluster.waitHealthy(60_000);
  }
});

test.after(async () => {
  for (const f of files) rmSync(f, { force: true });
  await cluster.close();
});
test.run();
