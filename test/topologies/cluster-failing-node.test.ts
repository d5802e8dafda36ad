/**
 * `pipeline produce` on a real Redis Cluster (5 masters, no replicas: an outage lasts, and the
 * other three keep the majority; test/helpers/cluster.ts) with two shards on two masters that stop
 * together: each shard's `waiting:` line names its own master, the node its lane's batches fail at
 * now. Before, every line named the node whose connection had failed last anywhere in the process
 * (ioredis' `node error`, noted by the CLI's client), so a shard's line could name the other
 * shard's master, which its lane never used.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { keySlot } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { cli, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';

/** cluster-node-timeout of the test cluster. */
const NODE_TIMEOUT_MS = 1_000;
/** Records per write and the pause between writes to produce's stdin: a steady flow on both shards. */
const GROUP = 10;
const EVERY_MS = 100;
/** How long each wait below may take. */
const WAIT_MS = 30_000;

const cluster = await new RedisCluster({ masters: 5, replicas: 0, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();

/** CONFIG SET on every live node. */
async function configAll(name: string, value: string): Promise<void> {
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    await n.config('SET', name, value);
    n.disconnect();
  }
}

/** A pipeline of two shards whose tags are on two masters, and those masters. */
async function twoMasters(): Promise<{ pipeline: string; masters: [number, number] }> {
  for (;;) {
    const pipeline = randomPipeline('n');
    const masters = await Promise.all(Keys.shards(pipeline, 2).map((k) => cluster.masterOf(keySlot(k.tag))));
    if (masters[0] !== masters[1]) return { pipeline, masters: masters as [number, number] };
  }
}

test("two shards' masters stop together: each shard's waiting line names its own master", async () => {
  const { pipeline, masters } = await twoMasters();
  const config = writeConfig(pipeline, FAST, { shards: 2 });
  // Lasting outages (no replicas), and the other masters keep serving their slots.
  await configAll('cluster-require-full-coverage', 'no');
  const c = cli(['--config', config, 'produce', '-', '--retry-for', '120000', '--batch', String(GROUP)], cluster.url, { keepStdin: true });
  c.stdin!.on('error', () => {});
  let n = 0;
  const feed = setInterval(() => {
    if (c.exitCode !== null) return clearInterval(feed);
    c.stdin!.write(Array.from({ length: GROUP }, () => JSON.stringify({ id: `n${n++}`, title: 'Acme widget' })).join('\n') + '\n');
  }, EVERY_MS);
  const redis = createClient(cluster.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const [k0, k1] = Keys.shards(pipeline, 2) as [Keys, Keys];
  const lines = (shard: number) =>
    c
      .output()
      .split('\n')
      .filter((l) => l.startsWith(`waiting: shard ${shard} of 2`));
  try {
    await waitFor('both shards written', async () => (await redis.xlen(k0.stream('in'))) > 20 && (await redis.xlen(k1.stream('in'))) > 20, WAIT_MS);
    await Promise.all(masters.map((m) => cluster.kill(m)));
    await waitFor('both shards wait', () => lines(0).length > 0 && lines(1).length > 0, WAIT_MS);
    const said = [lines(0)[0]!, lines(1)[0]!];
    for (const [s, line] of said.entries()) {
      assert.ok(line.includes(`the master 127.0.0.1:${masters[s]} does not answer`), `shard ${s}'s line names its master 127.0.0.1:${masters[s]}: ${line}`);
      assert.not.ok(line.includes(`the master 127.0.0.1:${masters[1 - s]} `), `shard ${s}'s line does not name the other shard's master: ${line}`);
    }
  } finally {
    clearInterval(feed);
    c.kill('SIGKILL');
    redis.disconnect();
    for (const m of masters) await cluster.restart(m);
    await configAll('cluster-require-full-coverage', 'yes');
    await cluster.waitHealthy(60_000);
  }
});

test.after(async () => {
  await cluster.close();
});
test.run();
