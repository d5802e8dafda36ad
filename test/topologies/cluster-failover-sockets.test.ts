/**
 * The sockets a Cluster client holds after a failover, on a real Redis Cluster (3 masters, 1 replica
 * each): while a dead master's slot has no connection, ioredis sends the slot's commands to a
 * random master (which answers MOVED), and that connection stayed open for the client's life. A
 * cluster soak (3 shards, `up --serve`, a CLUSTER FAILOVER and a master killed) saw every shard
 * reader end up with a socket on every master: 36 connections before the failovers, 59 after
 * (docs/scale-out.md counts S + M' per worker process). A refresh asked for while another is in
 * flight is made after it (ioredis drops it): a socket opened after the last map was read stayed.
 * A socket opened with no refresh after it at all (a retry whose MOVED is its last redirection, a
 * command without a key) has the map read again `strayCheckMs` later, which closes it.
 */
import type { Cluster } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { createLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { PolicyWatch } from '../../lib/worker/policy-watch.js';
import { keySlot } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/redis.js';

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 }).start();

/** The live nodes (ports) holding a connection named `name`, once each. */
async function socketsOf(name: string): Promise<number[]> {
  const out: number[] = [];
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    const list = (await n.call('CLIENT', 'LIST')) as string;
    n.disconnect();
    if (list.split('\n').some((l) => l.includes(` name=${name} `))) out.push(port);
  }
  return out.sort();
}

test("a client that kept writing through its master's failover holds a socket to the new master alone, not to the masters it was sent to meanwhile", async () => {
  const key = '{sockets}:n';
  const slot = keySlot(key);
  const victim = await cluster.masterOf(slot);
  const client = createClient(cluster.url, { connectionName: 'sockets-test' });
  client.on('error', () => {});
  try {
    await client.set(key, '0');
    assert.equal(await socketsOf('sockets-test'), [victim], 'before: the master of its slot alone');
    let writing = true;
    const writes = (async () => {
      while (writing) {
        await client.incr(key).catch(() => {});
        await sleep(20);
      }
    })();
    await cluster.kill(victim);
    const promoted = await cluster.waitPromoted(slot, victim);
    await waitFor(
      'writes go through again',
      () =>
        client.incr(key).then(
          () => true,
          () => false,
        ),
      30_000,
      100,
    );
    writing = false;
    await writes;
    const stray = async () => (await socketsOf('sockets-test')).filter((p) => p !== promoted);
    await waitFor('no socket to a master that serves none of its slots', async () => (await stray()).length === 0, 10_000, 200).catch(() => {});
    assert.equal(await socketsOf('sockets-test'), [promoted], 'after: the new master of its slot alone');
  } finally {
    client.disconnect();
    await cluster.restart(victim);
  }
});

test('a slot-map refresh asked for while one is in flight (which ioredis drops) is made once that one ends, and only once', async () => {
  const client = createClient(cluster.url, { connectionName: 'refresh-test' });
  client.on('error', () => {});
  try {
    await client.set('{refresh}:n', '0');
    const c = client as unknown as Cluster;
    let refreshes = 0;
    c.on('refresh', () => refreshes++);
    c.refreshSlotsCache();
    c.refreshSlotsCache(); // in flight: dropped by ioredis, which left a stray socket open after a failover
    await waitFor('the second refresh', () => refreshes >= 2, 5_000);
    await sleep(500);
    assert.is(refreshes, 2, 'no more than asked for');
  } finally {
    client.disconnect();
  }
});

/** The live masters' ports other than `port`. */
async function mastersBut(port: number): Promise<number[]> {
  return (await cluster.topology()).filter((n) => n.role === 'master' && !n.failing && n.port !== port).map((n) => n.port);
}

test('a command retried on a master serving none of its slots, whose MOVED there is its last redirection, leaves no socket there', async () => {
  await cluster.waitHealthy();
  const key = '{last-redirect}:n';
  const slot = keySlot(key);
  const owner = await cluster.masterOf(slot);
  const [other] = await mastersBut(owner);
  // maxRedirections 0: the first MOVED is the last, as the 16th is for a command retried through a failover.
  const client = createClient(cluster.url, { connectionName: 'last-redirect' }, { maxRedirections: 0, strayCheckMs: 200 });
  client.on('error', () => {});
  try {
    await client.set(key, '0');
    const c = client as unknown as Cluster;
    // As ioredis's retry after a closed connection does, send to another master while the map is right.
    c.slots[slot] = [`127.0.0.1:${other}`];
    const sent = client.incr(key);
    c.slots[slot] = [`127.0.0.1:${owner}`];
    const err = await sent.then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(String(err?.message), /^Too many Cluster redirections\. Last error: ReplyError: MOVED /, 'ioredis gave up on it');
    assert.equal(await socketsOf('last-redirect'), [owner, other!].sort(), 'the retry opened a socket to the other master');
    await waitFor('no socket to the other master', async () => !(await socketsOf('last-redirect')).includes(other!), 5_000, 100).catch(() => {});
    assert.equal(await socketsOf('last-redirect'), [owner], 'the master of its slot alone');
  } finally {
    client.disconnect();
  }
});

test('a command without a key (sent to a random master) leaves no socket on a master serving none of the slots the client uses', async () => {
  await cluster.waitHealthy();
  const key = '{keyless}:n';
  const owner = await cluster.masterOf(keySlot(key));
  const client = createClient(cluster.url, { connectionName: 'keyless' }, { strayCheckMs: 200 });
  client.on('error', () => {});
  try {
    await client.set(key, '0');
    // Each TIME goes to a random master: 30 of them miss the other two with odds 2 in 3^30.
    for (let i = 0; i < 30; i++) await client.time();
    assert.ok((await socketsOf('keyless')).length > 1, 'a TIME opened a socket to another master');
    await waitFor('no socket to another master', async () => (await socketsOf('keyless')).length === 1, 5_000, 100).catch(() => {});
    assert.equal(await socketsOf('keyless'), [owner], 'the master of its slot alone');
  } finally {
    client.disconnect();
  }
});

test("the server's time on a Cluster is asked of a master the client already has a socket to (TIME has no key)", async () => {
  await cluster.waitHealthy();
  const key = '{time}:n';
  const owner = await cluster.masterOf(keySlot(key));
  // No stray check: a socket opened to another master would stay for the assertion to see.
  const client = createClient(cluster.url, { connectionName: 'server-time' }, { strayCheckMs: 0 });
  client.on('error', () => {});
  try {
    await client.set(key, '0');
    const before = Date.now();
    for (let i = 0; i < 30; i++) assert.ok(Math.abs((await serverTimeMs(client)) - before) < 60_000, 'a time near this host clock');
    assert.equal(await socketsOf('server-time'), [owner], 'the master of its slot alone');
  } finally {
    client.disconnect();
  }
});

test("a worker's eviction-policy watch (INFO, no key) on a Cluster reads a master it already has a socket to", async () => {
  await cluster.waitHealthy();
  const key = '{policy}:n';
  const owner = await cluster.masterOf(keySlot(key));
  const client = createClient(cluster.url, { connectionName: 'policy-watch' }, { strayCheckMs: 0 });
  client.on('error', () => {});
  const lines: string[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push((JSON.parse(l) as { event: string }).event));
  try {
    await client.set(key, '0');
    const watch = new PolicyWatch({ redis: () => client, intervalMs: 60_000, logger, metrics: noopMetrics, stage: 'policy' });
    for (let i = 0; i < 30; i++) await watch.check();
    assert.equal(lines, ['redis.eviction_policy'], 'the policy read once (noeviction, from unknown)');
    assert.equal(await socketsOf('policy-watch'), [owner], 'the master of its slot alone');
  } finally {
    client.disconnect();
  }
});

test.after(() => cluster.close());

test.run();
