import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import { parse, parseAllDocuments } from 'yaml';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Keys } from '../../lib/redis/keys.js';
import { isClusterUrl, parseRedisUrl } from '../../lib/redis/url.js';
import { fnv1a32, keySlot, parseShardList, shardOf, Shards, configShards } from '../../lib/redis/shard.js';
import { Readable } from 'node:stream';
import { sleep } from '../../lib/core/backoff.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

test('FNV-1a matches the reference vectors, so shard assignment is stable across processes and versions', () => {
  // Published FNV-1a 32-bit test vectors.
  assert.is(fnv1a32(''), 0x811c9dc5);
  assert.is(fnv1a32('a'), 0xe40c292c);
  assert.is(fnv1a32('foobar'), 0xbf9cf968);
  // UTF-8 bytes, not UTF-16 code units.
  assert.is(fnv1a32('é'), fnv1a32(Buffer.from([0xc3, 0xa9]).toString('utf8')));
});

test('a record key always maps to the same shard in 0..n-1, and keys spread evenly', () => {
  assert.is(shardOf('B00123', 1), 0);
  for (const n of [2, 3, 4, 16]) {
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const s = shardOf(`p${i}`, n);
      assert.ok(s >= 0 && s < n);
      assert.is(shardOf(`p${i}`, n), s, 'stable');
      counts[s]!++;
    }
    for (const c of counts) assert.ok(Math.abs(c - 20_000 / n) < (20_000 / n) * 0.1, `even spread over ${n}: ${counts.join(',')}`);
  }
  // Pinned values: changing the hash would move every stored product to another shard.
  assert.equal(
    ['B00123', 'sku-42', 'c0', 'c1'].map((k) => shardOf(k, 4)),
    ['B00123', 'sku-42', 'c0', 'c1'].map((k) => fnv1a32(k) % 4),
  );
  assert.is(shardOf('c0', 4), 0x8729de46 % 4);
});

test("one shard keeps today's key names; N shards get one hash tag each", () => {
  const one = new Shards('products', 1);
  assert.equal(
    one.all.map((k) => k.tag),
    ['{products}'],
  );
  assert.is(one.keysFor('anything').stream('classify'), '{products}:classify');
  assert.is(new Keys('products').dlq, one.all[0]!.dlq);
  const four = new Shards('products', 4);
  assert.equal(
    four.all.map((k) => k.stream('in')),
    ['{products:0}:in', '{products:1}:in', '{products:2}:in', '{products:3}:in'],
  );
  assert.is(four.shard(3).dlq, '{products:3}:dlq');
  assert.is(four.shard(3).product('B1'), '{products:3}:product:B1');
  const k = 'B00123';
  assert.is(four.keysFor(k).tag, `{products:${shardOf(k, 4)}}`);
  assert.equal(
    Keys.shards('p', 1).map((x) => x.tag),
    ['{p}'],
  );
  assert.throws(
    () => four.shard(4),
    (e: unknown) => e instanceof ConfigError,
  );
});

test('key slots match Redis Cluster (CRC16 of the hash tag)', () => {
  // Values from CLUSTER KEYSLOT on Redis 7.
  assert.is(keySlot('foo'), 12182);
  assert.is(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  assert.is(keySlot('123456789'), 0x31c3 % 16384);
  assert.is(keySlot('{products:0}:in'), keySlot('products:0'));
  assert.is(keySlot('a{}b'), keySlot('a{}b'), 'an empty tag hashes the whole key');
});

test('shard lists: 0,2 and ranges, checked against the shard count', () => {
  assert.equal(parseShardList(undefined, 4), [0, 1, 2, 3]);
  assert.equal(parseShardList('all', 3), [0, 1, 2]);
  assert.equal(parseShardList('2,0,2', 4), [0, 2]);
  assert.equal(parseShardList('0,4-6', 8), [0, 4, 5, 6]);
  assert.throws(() => parseShardList('4', 4), /outside 0\.\.3/);
  assert.throws(() => parseShardList('x', 4), /expected shard numbers/);
});

test('config: shards defaults to 1, PIPELINE_SHARDS overrides, bad values are config errors', () => {
  const raw = { stages: [{ name: 'store', kind: 'store', input: 'in' }], routes: {} };
  assert.is(resolveConfig(raw, 't', { env: {} }).shards, 1);
  assert.is(resolveConfig({ ...raw, shards: 4 }, 't', { env: {} }).shards, 4);
  assert.is(resolveConfig({ ...raw, shards: 4 }, 't', { env: { PIPELINE_SHARDS: '8' } }).shards, 8);
  assert.throws(() => resolveConfig({ ...raw, shards: 0 }, 't', { env: {} }), /shards/);
  assert.throws(() => resolveConfig({ ...raw, shards: 2.5 }, 't', { env: {} }), /shards/);
});

test('REDIS_URL: redis:// stays a single server; redis+cluster:// lists seeds, with credentials and TLS', () => {
  assert.equal(parseRedisUrl('redis://u:p@h:6380/2'), { kind: 'single', url: 'redis://u:p@h:6380/2' });
  assert.ok(!isClusterUrl('rediss://h:6379'));
  assert.equal(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001'), {
    kind: 'cluster',
    tls: false,
    seeds: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ],
    username: undefined,
    password: undefined,
  });
  const t = parseRedisUrl('rediss+cluster://app:s%40cret@redis-0.redis:6379,redis-1.redis,[::1]:7002/');
  assert.equal(t, {
    kind: 'cluster',
    tls: true,
    username: 'app',
    password: 's@cret',
    seeds: [
      { host: 'redis-0.redis', port: 6379 },
      { host: 'redis-1.redis', port: 6379 },
      { host: '::1', port: 7002 },
    ],
  });
  assert.throws(() => parseRedisUrl('redis+cluster://h:1/3'), /no database/);
  assert.throws(() => parseRedisUrl('redis+cluster://'), /at least one host/);
  assert.throws(() => parseRedisUrl('redis+cluster://h:99999'), /bad port/);
  // A password that is not valid percent-encoding is a ConfigError naming the part (it was a bare URIError), never echoing it.
  assert.throws(
    () => parseRedisUrl('redis+cluster://app:s%zzcret@h:7000'),
    (e: unknown) =>
      e instanceof ConfigError && /the password of the cluster URL is not valid percent-encoding/.test(e.message) && !e.message.includes('s%zzcret'),
  );
  // ioredis takes http://h:1 for a socket path and /abc for SELECT NaN (a stack trace at the first command).
  assert.throws(() => parseRedisUrl('http://h:6379'), /expected redis:\/\/, rediss:\/\/.*got http:\/\//);
  assert.throws(() => parseRedisUrl('h:6379'), /got no scheme/);
  assert.throws(
    () => parseRedisUrl('redis://u:secret@h:6379/abc'),
    (e: Error) => /database after the port must be a number, got "\/abc"/.test(e.message) && !e.message.includes('secret'),
  );
  assert.equal(parseRedisUrl('rediss://h:6379/'), { kind: 'single', url: 'rediss://h:6379/' });
  // What WHATWG URL refuses had been a bare `Invalid URL` / `URI malformed` at the first connection.
  assert.throws(
    () => parseRedisUrl('redis://u:secret@h:99999'),
    (e: Error) => /not a valid redis:\/\/ URL/.test(e.message) && !e.message.includes('secret'),
  );
  assert.throws(
    () => parseRedisUrl('redis://u:50%off@h:6379'),
    (e: Error) => /password of the URL is not valid percent-encoding/.test(e.message) && !e.message.includes('50%off'),
  );
});

test('k8s for a cluster: deploy/k8s/cluster/pipeline.yaml is rendered from the config, one redis-cluster-streams trigger per shard and stage', async () => {
  const { renderFromRepo, DEFAULT_SHARDS, OUT_FILE } = await import('../../deploy/k8s/cluster/render.js');
  assert.ok(readFileSync(OUT_FILE, 'utf8') === renderFromRepo(), 'deploy/k8s/cluster/pipeline.yaml is out of date: run npm run dev -- deploy render');
  const config = resolveConfig(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/pipeline.json'), 'utf8')), 't', { env: {} });
  type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const docs = parseAllDocuments(readFileSync(OUT_FILE, 'utf8')).map((d) => d.toJS() as Obj);
  for (const stage of config.stages) {
    const so = docs.find((d) => d.kind === 'ScaledObject' && d.spec.triggers.some((t: Obj) => t.metadata.consumerGroup === stage.name))!;
    assert.equal(
      so.spec.triggers.filter((t: Obj) => t.metadata.consumerGroup === stage.name).map((t: Obj) => [t.type, t.metadata.stream, t.authenticationRef?.name]),
      Keys.shards(config.pipeline, DEFAULT_SHARDS).map((k) => ['redis-cluster-streams', k.stream(stage.input), 'pipeline-redis']),
    );
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === so.spec.scaleTargetRef.name)!;
    const env = dep.spec.template.spec.containers[0].env as Obj[];
    assert.ok(
      env.some((e) => e.name === 'PIPELINE_SHARDS' && e.value === String(DEFAULT_SHARDS)),
      `${stage.name} runs sharded`,
    );
    assert.not.ok(
      env.some((e) => e.valueFrom?.secretKeyRef?.key === 'password'),
      'KEDA logs in through its TriggerAuthentication, not the pod env',
    );
  }
  const auth = docs.find((d) => d.kind === 'TriggerAuthentication');
  assert.equal(
    auth?.spec.secretTargetRef.map((r: Obj) => r.parameter),
    ['addresses', 'username', 'password'],
    'the cluster trigger reads the seed nodes',
  );
  const kustomization = parse(readFileSync(resolve(import.meta.dirname, '../../deploy/k8s/cluster/kustomization.yaml'), 'utf8')) as { resources: string[] };
  assert.equal(kustomization.resources.sort(), ['pipeline.yaml', 'redis-cluster.yaml', 'stage-secrets.yaml']);
  const { secretsFromRepo, SECRETS_FILE } = await import('../../deploy/k8s/cluster/render.js');
  assert.ok(readFileSync(SECRETS_FILE, 'utf8') === secretsFromRepo(), 'deploy/k8s/cluster/stage-secrets.yaml is out of date: run npm run dev -- deploy render');
  const secrets = parseAllDocuments(readFileSync(SECRETS_FILE, 'utf8')).map((d) => d.toJS() as Obj);
  for (const stage of config.stages) {
    const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.annotations?.['streamline-enrich/stage']?.split(',').includes(stage.name))!;
    const first = dep.metadata.annotations['streamline-enrich/stage'].split(',')[0] === stage.name;
    const ref = (dep.spec.template.spec.containers[0].env as Obj[]).find((e) => e.name === (first ? 'REDIS_URL' : stageRedisUrlEnv(stage.name)))!.valueFrom
      .secretKeyRef;
    const own = secrets.find((x) => x.metadata.name === ref.name);
    assert.ok(own, `${stage.name}: REDIS_URL from its own Secret ${ref.name}`);
    assert.match(own!.stringData.url, new RegExp(`^redis\\+cluster://${config.pipeline}-${stage.name.replace('.', '\\.')}:`), `${stage.name}: its own user`);
  }
  const secret = parse(readFileSync(resolve(import.meta.dirname, '../../deploy/k8s/cluster/redis-cluster.yaml'), 'utf8')) as Obj;
  assert.is(parseRedisUrl(secret.stringData.url).kind, 'cluster');
});

test('on one redis-server, 3 shards: each record flows and is stored in its own shard, once; status sums the shards', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  const base = rulesOnlyConfig(server.url, randomPipeline('s'));
  const config = { ...base, shards: 3 };
  const shards = configShards(config);
  const workers = startWorkers(config);
  try {
    const N = 600;
    const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `p${i}`, title: `Product ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
    const s = await produce(redis, Readable.from([lines]), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 't',
      maxRecordBytes: 65536,
      batchSize: 100,
    });
    assert.is(s.produced, N);
    await waitFor('all stored', async () => {
      const st = await pipelineStatus(redis, config);
      return st.stored === N && isIdle(st);
    });
    const st = await pipelineStatus(redis, config);
    assert.equal(
      st.shards!.map((x) => x.tag),
      shards.all.map((k) => k.tag),
    );
    assert.is(
      st.shards!.reduce((n, x) => n + x.stored, 0),
      N,
    );
    const inStream = st.streams.find((x) => x.stream === 'in')!;
    assert.equal([inStream.added, inStream.group?.pending, inStream.group?.lag], [N, 0, 0], 'the summed row');
    for (let i = 0; i < N; i++) {
      const k = `p${i}`;
      const own = shards.keysFor(k);
      assert.is(await redis.hget(own.product(k), 'copies'), '1', k);
      for (const other of shards.all) if (other !== own) assert.is(await redis.exists(other.product(k)), 0, `${k} only in its shard`);
    }
    assert.is(await redis.exists(new Keys(config.pipeline).stream('in')), 0, 'nothing under the unsharded names');
  } finally {
    await stopAll(workers);
    redis.disconnect();
    await server.close();
  }
});

/** 400 records over 4 shards through one worker of a probe sink stage: the most batches in it at once, overall and of one shard. */
async function probeShards(concurrentShards: boolean): Promise<{ most: number; mostOfOneShard: number }> {
  const server = await startRedis();
  const redis = client(server.url);
  const active = [0, 0, 0, 0];
  let most = 0;
  let mostOfOneShard = 0;
  let seen = 0;
  const probe: StageFactory = () => ({
    kind: 'probe',
    sink: true,
    concurrentShards,
    async process(batch) {
      const of = new Set(batch.map((m) => shardOf(m.envelope.key, 4)));
      for (const i of of) mostOfOneShard = Math.max(mostOfOneShard, ++active[i]!);
      most = Math.max(
        most,
        active.reduce((n, x) => n + x, 0),
      );
      await sleep(5);
      for (const i of of) active[i]!--;
      seen += batch.length;
      return batch.map(() => ok({}));
    },
  });
  const config = resolveConfig(
    { pipeline: randomPipeline('q'), shards: 4, defaults: { ...FAST, batchSize: 10 }, stages: [{ name: 'sink', kind: 'probe', input: 'in' }], routes: {} },
    't',
    { env: { REDIS_URL: server.url } },
  );
  const shards = configShards(config);
  const worker = new Worker({ config, stage: 'sink', stages: { probe }, logger: silentLogger });
  const running = worker.run();
  try {
    assert.equal(worker.shards, [0, 1, 2, 3]);
    const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ id: `x${i}`, title: 't' })).join('\n');
    await produce(redis, Readable.from([lines]), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 't',
      maxRecordBytes: 65536,
    });
    await waitFor('all handed off', () => seen >= 400);
    assert.ok(
      worker.consumers.every((c) => c.processed > 0),
      'every shard read',
    );
    return { most, mostOfOneShard };
  } finally {
    await worker.stop();
    await running;
    redis.disconnect();
    await server.close();
  }
}

test('a worker reading several shards runs one batch at a time through its stage', async () => {
  const { most } = await probeShards(false);
  assert.is(most, 1, 'never two batches in the stage at once');
});

test("a stage that says concurrentShards runs the shards' batches at once, one per shard at most", async () => {
  const { most, mostOfOneShard } = await probeShards(true);
  assert.ok(most > 1, `batches of several shards in the stage at once (most ${most})`);
  assert.is(mostOfOneShard, 1, 'never two batches of one shard at once');
});

test.run();
