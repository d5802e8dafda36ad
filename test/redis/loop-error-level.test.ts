/**
 * A planned failover releases a blocked XREADGROUP with UNBLOCKED and answers READONLY until the
 * client is back on a master: transient, and the read loop recovers on its own, so its
 * `consumer.loop_error` lines are warn, not error (an SRE pages on error lines). Only errors in a
 * row that outlast `stallTimeoutMs` reach error. Real servers: a master and its replica, swapped by
 * Redis' own FAILOVER (what a Sentinel or a Cluster's CLUSTER FAILOVER does to a blocked client).
 * Before the fix, a soak's CLUSTER FAILOVER logged 9-12 such lines at error level.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { createLogger } from '../../lib/observe/logger.js';
import { freePort, type RedisServer } from '../../lib/redis/server.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const a = await startRedis();
const b = await startRedis();
const ra = client(a.url);
const rb = client(b.url);

const role = async (r: Redis) => /^role:(\w+)/m.exec(await r.info('replication'))?.[1];
const inSync = async (master: Redis) => /slave0:.*state=online/.test(await master.info('replication'));

/** `from` (a master with `to` as its in-sync replica) hands its role over to `to` (Redis FAILOVER). */
async function failover(from: Redis, to: Redis): Promise<void> {
  await waitFor('the replica in sync', () => inSync(from), 20_000);
  await from.call('FAILOVER');
  await waitFor('the roles swapped', async () => (await role(from)) === 'slave' && (await role(to)) === 'master', 20_000);
}

type Line = Record<string, unknown>;
const loopErrors = (lines: Line[]) => lines.filter((l) => l.event === 'consumer.loop_error');

async function withWorker(server: RedisServer, stallTimeoutMs: number, body: (lines: Line[], keys: Keys) => Promise<void>): Promise<void> {
  const pipeline = randomPipeline();
  const admin = client(server.url);
  admin.on('error', () => undefined);
  // A long block, so the failover finds the read blocked (UNBLOCKED), as in the soak.
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, blockMs: 10_000, stallTimeoutMs, retryBaseMs: 50, retryMaxMs: 200 });
  const lines: Line[] = [];
  const logger = createLogger({ stage: 'preprocess' }, 'warn', (l) => lines.push(JSON.parse(l) as Line));
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger });
  const run = worker.run();
  try {
    await waitFor('the reader blocked', async () => / cmd=xreadgroup /.test(String(await admin.client('LIST'))), 20_000);
    await body(lines, new Keys(pipeline));
  } finally {
    admin.disconnect();
    await worker.stop();
    await run.catch(() => undefined);
  }
}

test.before(async () => {
  await rb.replicaof('127.0.0.1', a.port);
  await waitFor('b replicates a', () => inSync(ra), 20_000);
});

test('a failover and back: the loop errors it causes are warn lines marked transient, none is an error, and the loop reads on', async () => {
  await withWorker(a, 20_000, async (lines, keys) => {
    await failover(ra, rb);
    await waitFor('a loop error from the failover', () => loopErrors(lines).length > 0, 20_000);
    await failover(rb, ra);
    await produce(ra, Readable.from([JSON.stringify({ id: 'f1', title: 'after the failover' })]), {
      stream: keys.stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
    });
    await waitFor('the record handed on after the failover', async () => (await ra.xlen(keys.stream('store'))) > 0, 20_000);
    const errs = loopErrors(lines);
    assert.match(JSON.stringify(errs.map((l) => l.err)), /UNBLOCKED|READONLY/);
    for (const l of errs) {
      assert.is(l.level, 'warn', JSON.stringify(l));
      assert.is(l.transient, true, JSON.stringify(l));
      assert.is(l.outage, 'redis_unavailable', JSON.stringify(l));
    }
    assert.equal(
      lines.filter((l) => l.level === 'error'),
      [],
      'nothing at error level for a failover the loop recovers from',
    );
  });
});

test('transient errors lasting past stallTimeoutMs (a demoted node whose master is gone: MASTERDOWN) reach error level, marked persistedPastMs, after warn lines before it', async () => {
  const stallTimeoutMs = 1_500;
  const c = await startRedis();
  const rc = client(c.url);
  try {
    await withWorker(c, stallTimeoutMs, async (lines) => {
      // A failover that does not complete: the node is made a replica of a master that is not
      // there, and refuses reads (MASTERDOWN) until it is a master again.
      await rc.config('SET', 'replica-serve-stale-data', 'no');
      await rc.replicaof('127.0.0.1', await freePort());
      const escalated = () => loopErrors(lines).find((l) => l.level === 'error');
      await waitFor('a loop error at error level', () => escalated() !== undefined, 20_000);
      const first = escalated()!;
      assert.is(first.transient, true, JSON.stringify(first));
      assert.is(first.outage, 'redis_unavailable', JSON.stringify(first));
      assert.is(first.persistedPastMs, stallTimeoutMs);
      assert.ok((first.failingMs as number) >= stallTimeoutMs, JSON.stringify(first));
      const before = loopErrors(lines).slice(0, loopErrors(lines).indexOf(first));
      assert.ok(before.length > 0, 'warn lines came first');
      assert.ok(
        before.every((l) => l.level === 'warn' && l.transient === true && (l.failingMs as number) < stallTimeoutMs),
        JSON.stringify(before),
      );
      await rc.replicaof('NO', 'ONE');
    });
  } finally {
    rc.disconnect();
    await c.close();
  }
});

test.after(async () => {
  ra.disconnect();
  rb.disconnect();
  await a.close();
  await b.close();
});
test.run();
