/**
 * `POST /v1/products` and `/v1/enrich` on a sharded pipeline while the master of one shard is
 * SIGKILLed (a real Redis Cluster, 3 masters + 3 replicas, test/helpers/cluster.ts). A soak saw
 * every batch refused whole with 503 (the healthy shards' records too) and enrich answer 503 for
 * about 2 s: the backpressure check failed at once when one shard did not answer. Now a shard that
 * does not answer is read again within `submitRetryMs`: a batch spanning shards is taken whole once
 * the replica is promoted inside that window, enrich waits too, and a request only for the dead
 * shard is refused (503) after the window, not at once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer } from '../../lib/api/server.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { configShards } from '../../lib/redis/shard.js';
import { productReader } from '../../scripts/commands/serve.js';
import { RedisCluster } from '../helpers/cluster.js';
import { clusterPipelines } from '../helpers/cluster-pipelines.js';
import { waitFor } from '../helpers/redis.js';
import { waitPromoted } from '../helpers/failover-gaps.js';

const SHARDS = 3;
/** cluster-node-timeout: no replica is promoted sooner (so the short window ends during the outage). */
const NODE_TIMEOUT_MS = 6_000;
/** The short window: it ends before any promotion, so a request for the dead shard alone is refused after it. */
const SHORT_RETRY_MS = 3_000;
/** The long window: the promotion comes within it, so every record is taken. */
const LONG_RETRY_MS = 30_000;
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const { clusterConfig, spreadPipeline } = clusterPipelines(cluster, SHARDS);

type Answer = { status: number; body: { accepted?: string[]; rejected?: { index: number; reason: string; error: string }[]; error?: string } };

test('a master killed: a batch spanning shards is taken once the replica is promoted within submitRetryMs (not 503 at once); enrich waits too; a request for the dead shard alone is a 503 only after a shorter window', async () => {
  const { pipeline, masterOf } = await spreadPipeline();
  const config = clusterConfig(pipeline);
  const shards = configShards(config);
  const victim = masterOf[0]!;
  const apps = await Promise.all(
    [LONG_RETRY_MS, SHORT_RETRY_MS].map(async (submitRetryMs) => {
      const app = await buildServer({
        config,
        tokens: [{ token: TOKEN, roles: ['admin'] }],
        logger: silentLogger,
        // No cached reading from before the kill: each request reads the shards.
        limits: { completionsBlockMs: 100, submitRetryMs, backpressureCacheMs: 1, backpressureStagesMs: 1 },
        productReader,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
    }),
  );
  try {
    // Two records per shard for each server, ids told apart by prefix.
    const idsFor = (prefix: string) => {
      const ids: string[] = [];
      for (let i = 0; ids.length < 2 * SHARDS; i++) {
        const id = `${prefix}${i}`;
        if (ids.filter((x) => shards.shardOf(x) === shards.shardOf(id)).length < 2) ids.push(id);
      }
      return ids;
    };
    const longIds = idsFor('l');
    // Records of the dead master's shards alone, for the short window.
    const deadIds = idsFor('s').filter((id) => masterOf[shards.shardOf(id)] === victim);
    const post = async (base: string, ids: string[]): Promise<Answer & { ms: number }> => {
      const t0 = Date.now();
      const r = await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(ids.map((id) => ({ id, title: `Product ${id}` }))) });
      return { status: r.status, body: (await r.json()) as Answer['body'], ms: Date.now() - t0 };
    };
    await waitFor('completions readers', () => apps.every((a) => a.app.pipeline.completions.following), 10_000);

    await cluster.kill(victim);
    const answers = Promise.all([post(apps[0]!.base, longIds), post(apps[1]!.base, deadIds)]);
    // An enrich call on the dead shard waits for it within the window too (it had been 503 at once).
    let e = 0;
    while (masterOf[shards.shardOf(`e${e}`)] !== victim) e++;
    const enrich = fetch(`${apps[0]!.base}/v1/enrich?timeout_ms=100`, { method: 'POST', headers: H, body: JSON.stringify({ id: `e${e}`, title: 'Enriched' }) });
    const [long, short] = await answers;
    const enriched = await enrich;
    assert.is(enriched.status, 202, await enriched.clone().text());
    assert.match(((await enriched.json()) as { status: string }).status, /^(queued|processing)$/);
    // The long window: the replica is promoted within it; the batch spanning shards is taken whole
    // (it had been refused whole with 503 as soon as the dead shard's reading failed).
    assert.is(long.status, 202, JSON.stringify(long.body));
    assert.equal([...long.body.accepted!].sort(), [...longIds].sort(), JSON.stringify(long.body));
    // The short window ends before any promotion: the dead shard's records are refused (503) only
    // once the window has passed, not at once.
    assert.is(short.status, 503, JSON.stringify(short.body));
    assert.ok(short.ms >= SHORT_RETRY_MS, `answered after ${short.ms} ms, before the ${SHORT_RETRY_MS} ms window`);
    assert.match(JSON.stringify(short.body), `within ${SHORT_RETRY_MS} ms`);
    await waitPromoted(cluster, shards, victim);
    // Nothing of the refused request was written: submitting it again is safe, and takes it.
    const again = await post(apps[1]!.base, deadIds);
    assert.is(again.status, 202, JSON.stringify(again.body));
    assert.is(again.body.rejected!.length, 0);
  } finally {
    await Promise.all(apps.map((a) => a.app.close()));
  }
});

test.after(async () => {
  await cluster.close();
});
test.run();
