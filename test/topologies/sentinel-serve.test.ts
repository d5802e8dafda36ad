/**
 * What an operator runs next on a Redis behind Sentinel (test/helpers/sentinel.ts: a master, a
 * replica and one sentinel, real processes), through a `redis+sentinel://` URL only: `pipeline up
 * --serve` (workers as child processes, the HTTP API and the console in `up`'s process; no local
 * redis-server of its own), records POSTed to /v1/products before, during and after a `SENTINEL
 * FAILOVER` (the master demoted in place, alive), a /v1/events stream open throughout. Every record
 * answered 202 is stored exactly once; every refusal is a 429 or 503 with Retry-After; the SSE
 * stream tells each accepted record stored; no connection of `up` or its workers is left on the
 * demoted master; the console's reads, `pipeline status`, `top --once` and `health` answer after it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { freePort } from '../../lib/redis/server.js';
import { configShards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { cli, exited, exitedWithin, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { startedPids, killAll } from '../helpers/processes.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { SentinelSet } from '../helpers/sentinel.js';
import { openEvents } from '../helpers/sse-stream.js';

/** Records per POST, and the pause between POSTs: a steady flow. */
const PER_POST = 5;
const EVERY_MS = 50;
/** Records accepted before the failover, and after the promotion before the flow stops. */
const BEFORE = 50;
const AFTER = 50;
/** Every connection of `up` (API, console, supervisor, workers) leaves the demoted master within this (the +switch-master watch). */
const SWITCH_MS = 3_000;

const set = await new SentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 3000 }).start();

/** Named client connections on the server at `port` other than the sentinel's own and this test's. */
async function pipelineClientsOn(port: number): Promise<string[]> {
  const c = createClient(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    const list = String(await c.client('LIST')).split('\n');
    return list.map((l) => /name=(\S*)/.exec(l)?.[1] ?? '').filter((n) => n !== '' && !n.startsWith('sentinel') && !n.startsWith('test:'));
  } finally {
    c.disconnect();
  }
}

test('up --serve through a sentinel URL across SENTINEL FAILOVER: every 202 record stored once, 429/503 with Retry-After, SSE, console and CLI reads follow the promoted master', async () => {
  const pipeline = randomPipeline('sv');
  const configFile = writeConfig(pipeline, FAST, { api: { submitWaitTimeoutMs: 500 } }); // submitWaitReplicas "auto", the default: the master has a replica
  const config = rulesOnlyConfig(set.url, pipeline);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const up = cli(['--config', configFile, 'up', '--serve', '--port', String(port), '--no-autoscale'], set.url);
  const redis = createClient(set.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const accepted: string[] = [];
  const refusals: { status: number; retryAfter: string | null; body: string }[] = [];
  let unknown = 0;
  let n = 0;
  let posting = true;
  let events: Awaited<ReturnType<typeof openEvents>> | undefined;
  const post = async () => {
    const records = Array.from({ length: PER_POST }, () => ({ id: `v${n++}`, title: `Product ${n}` }));
    const res = await fetch(`${base}/v1/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(records) });
    const body = await res.text();
    if (res.status === 202) {
      const out = JSON.parse(body) as { accepted: string[]; rejected: { reason: string }[] };
      accepted.push(...out.accepted);
      unknown += out.rejected.filter((r) => r.reason === 'unknown').length;
    } else {
      refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body });
      if (body.includes('outcome_unknown')) unknown += PER_POST;
    }
  };
  let flow: Promise<void> | undefined;
  try {
    await waitFor('the API ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000, 100);
    events = await openEvents(base, {});
    flow = (async () => {
      while (posting) {
        await post();
        await new Promise((r) => setTimeout(r, EVERY_MS));
      }
    })();
    await waitFor('records accepted before the failover', () => accepted.length >= BEFORE, 20_000, 50);
    const old = await set.masterPort();
    await set.failover();
    const promoted = await set.waitPromoted(old);
    const atPromotion = accepted.length;
    await waitFor(
      'no connection of up or its workers left on the demoted master',
      async () => (await pipelineClientsOn(old)).length === 0,
      SWITCH_MS,
      50,
    ).catch(async () => assert.unreachable(`left on the demoted master: ${(await pipelineClientsOn(old)).join(' ')}`));
    // Convert the old master now as the sentinel would (8-16 s later): the API's WAIT 1 needs a replica.
    await set.demote(old, promoted);
    await waitFor('records accepted on the promoted master', () => accepted.length >= atPromotion + AFTER, 30_000, 50);
    posting = false;
    await flow;
    for (const r of refusals) {
      assert.ok([429, 503].includes(r.status), `a refusal is 429 or 503: ${r.status} ${r.body}`);
      assert.ok(r.retryAfter, `${r.status} carries Retry-After: ${r.body}`);
    }
    await waitFor(
      'every accepted record stored',
      async () => {
        const st = await pipelineStatus(redis, config);
        return isIdle(st) && st.stored >= accepted.length;
      },
      30_000,
      100,
    ).catch(async (err) => {
      // Which accepted records never came (without WAIT: those the demoted master took).
      const shards = configShards(config);
      const copies = await Promise.all(accepted.map((id) => redis.hget(shards.keysFor(id).product(id), 'copies')));
      console.log(`accepted ${accepted.length}, never stored: ${accepted.filter((_, i) => copies[i] === null).join(' ')}`);
      throw err;
    });
    const st = await pipelineStatus(redis, config);
    assert.ok(st.stored >= accepted.length && st.stored <= accepted.length + unknown, `stored ${st.stored}, accepted ${accepted.length}, unknown ${unknown}`);
    assert.is(st.dlq, 0, 'nothing dead-lettered');
    const shards = configShards(config);
    const copies = await Promise.all(accepted.map((id) => redis.hget(shards.keysFor(id).product(id), 'copies')));
    assert.equal(
      accepted.filter((_, i) => copies[i] !== '1'),
      [],
      'each accepted record stored exactly once',
    );
    // The SSE stream lived through the failover: every accepted record's `stored` came.
    await waitFor(
      'the SSE stream told every accepted record stored',
      () => {
        const told = new Set(events!.frames.filter((f) => f.data.status === 'stored').map((f) => f.data.key));
        return accepted.every((id) => told.has(id));
      },
      15_000,
      100,
    ).catch(() => {
      const told = new Set(events!.frames.filter((f) => f.data.status === 'stored').map((f) => f.data.key));
      assert.unreachable(`SSE missed ${accepted.filter((id) => !told.has(id)).length} of ${accepted.length}`);
    });
    // The console's server-side reads answer from the promoted master.
    for (const path of ['stats', 'workers', 'products', 'dlq', 'graph', 'review', 'audit', `products/${accepted.at(-1)}`]) {
      const res = await fetch(`${base}/console/api/${path}`);
      assert.is(res.status, 200, `GET /console/api/${path}: ${res.status} ${await res.text()}`);
    }
    const workers = (await (await fetch(`${base}/console/api/workers`)).json()) as unknown;
    assert.ok(JSON.stringify(workers).length > 2, 'the console lists workers');
    // The CLI through the sentinel URL.
    const status = cli(['--config', configFile, 'status', '--json'], set.url);
    assert.is(await exited(status), 0, status.output());
    assert.is((JSON.parse(status.output()) as { stored: number }).stored, st.stored, 'status counts the stored records');
    const top = cli(['--config', configFile, 'top', '--once', '--interval', '200'], set.url);
    assert.is(await exited(top), 0, top.output());
    const health = cli(['--config', configFile, 'health', '--stage', config.stages[0]!.name], set.url);
    assert.is(await exited(health), 0, health.output());
    assert.is(await set.role(promoted), 'master');
    console.log(`sentinel serve: ${JSON.stringify({ accepted: accepted.length, refusals: refusals.length, unknown, stored: st.stored, old, promoted })}`);
  } finally {
    posting = false;
    await flow?.catch(() => {});
    await events?.close();
    up.kill('SIGTERM');
    const code = await exitedWithin(up, 20_000);
    killAll(startedPids(up.output()));
    if (code !== 0) up.kill('SIGKILL');
    redis.disconnect();
    assert.is(code, 0, `up exits 0 on SIGTERM: ${up.output().slice(-800)}`);
  }
});

test.after(async () => {
  await set.close();
});
test.run();
