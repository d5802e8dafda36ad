/**
 * The HTTP API on a sharded pipeline on a real Redis Cluster (3 masters, no replicas: the API's
 * paths, not failover; test/helpers/cluster.ts), 4 shards spread over at least two masters:
 * `POST /v1/enrich` puts each record on its shard (one slot per script call) and is answered from
 * its shard's `{p:N}:done`, read by one blocking reader per shard on that shard's master (a
 * cross-slot XREAD is refused on a cluster); `GET /v1/products/{id}` and `/v1/events` read every
 * shard. `pipeline serve` had refused a sharded config at start.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer } from '../../lib/api/server.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { shardOf } from '../../lib/redis/shard.js';
import { productReader } from '../../scripts/commands/serve.js';
import { RedisCluster } from '../helpers/cluster.js';
import { clusterPipelines } from '../helpers/cluster-pipelines.js';
import { startWorkers, stopAll } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/redis.js';
import { openEvents } from '../helpers/sse-stream.js';

const SHARDS = 4;
const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const { clusterConfig, spreadPipeline } = clusterPipelines(cluster, SHARDS);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** The nodes (ports) each connection name is open on. */
async function whereNamed(): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    const list = (await n.call('CLIENT', 'LIST')) as string;
    n.disconnect();
    for (const m of list.matchAll(/ name=(api:\S+)/g)) out.set(m[1]!, [...(out.get(m[1]!) ?? []), port]);
  }
  return out;
}

test(`${SHARDS} shards on a cluster: enrich on every shard answers with its stored product; one completions reader per shard, on its master; GET and SSE read every shard`, async () => {
  const { pipeline, masterOf } = await spreadPipeline();
  const config = clusterConfig(pipeline);
  const app = await buildServer({
    config,
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: silentLogger,
    limits: { completionsBlockMs: 100 },
    productReader,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const workers = startWorkers(config);
  let events: Awaited<ReturnType<typeof openEvents>> | undefined;
  try {
    await waitFor('completions readers', () => app.pipeline.completions.following, 10_000);
    const ids: string[] = [];
    for (let i = 0; ids.length < 3 * SHARDS; i++) if (ids.filter((id) => shardOf(id, SHARDS) === shardOf(`k${i}`, SHARDS)).length < 3) ids.push(`k${i}`);
    const answers = await Promise.all(
      ids.map(async (id) => {
        const r = await fetch(`${base}/v1/enrich?timeout_ms=20000`, {
          method: 'POST',
          headers: H,
          body: JSON.stringify({ id, title: `Kingston DataTraveler 32GB DTX/32GB ${id}` }),
        });
        return { code: r.status, body: (await r.json()) as { status: string; product?: { key: string } } };
      }),
    );
    for (const [i, a] of answers.entries()) assert.equal([a.code, a.body.status, a.body.product?.key], [200, 'stored', ids[i]], `enrich ${ids[i]}`);
    const got = (await (await fetch(`${base}/v1/products/${ids[0]}`, { headers: H })).json()) as { status: string; product: { key: string } };
    assert.equal([got.status, got.product.key], ['stored', ids[0]]);

    const where = await whereNamed();
    for (let i = 0; i < SHARDS; i++) assert.equal(where.get(`api:done:${i}`), [masterOf[i]], `the reader of shard ${i} is on its master alone`);

    events = await openEvents(base, H, '0-0');
    await waitFor('every completion over SSE', () => events!.frames.length >= ids.length);
    assert.equal(events.keys().sort(), [...ids].sort(), 'each once, from every shard');
    assert.ok(
      events.frames.every((f) => f.id.split(',').length === SHARDS),
      'positions of one id per shard',
    );
    assert.is((await fetch(`${base}/readyz`)).status, 200);
  } finally {
    await events?.close();
    await stopAll(workers);
    await app.close();
  }
});

test.after(async () => {
  await cluster.close();
});
test.run();
