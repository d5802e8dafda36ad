import type { FastifyInstance } from 'fastify';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, StageOptions } from '../../lib/config/types.js';
import { buildServer } from '../../lib/api/server.js';
import { consolePlugin } from '../../lib/console/plugin.js';
import type { ConsoleOptions } from '../../lib/console/options.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope, type Envelope, type ProductRecord } from '../../lib/stream/codec.js';
import { productReader } from '../../scripts/commands/serve.js';
import { client, randomPipeline, startRedis, waitFor } from './redis.js';
import { readyOrClosed } from './api-server.js';
import { FAST, rulesOnlyConfig } from './pipeline.js';
import type { Redis } from 'ioredis';

export const TOKENS = [
  { token: 'read-token-0123456789ab', roles: ['read' as const], name: 'viewer' },
  { token: 'admin-token-0123456789a', roles: ['admin' as const], name: 'alice' },
  { token: 'admin-token-bob-0123456', roles: ['admin' as const], name: 'bob' },
];
export const READ = TOKENS[0]!.token;
export const ADMIN = TOKENS[1]!.token;
/** A second admin (bob): two operators at once. */
export const ADMIN2 = TOKENS[2]!.token;
export const auth = (t: string) => ({ authorization: `Bearer ${t}` });

const ELECTRONICS = ['audio', 'cameras_photo', 'tv_video', 'phones_radios', 'gps_auto', 'security_surveillance'];
const idRule = { when: { any: [{ mpn: { exists: true } }, { gtin: { exists: true } }] }, to: 'validate' };

/**
 * classify routes by group (settings.groups): electronics (audio) to validate, computing
 * (networking) straight to store; unsure (confidence below 0.5) to review. `storeSettings`: the
 * store stage's settings (e.g. the postgres sink). @defaultValue {} (the redis sink)
 */
export function groupReviewConfig(url: string, pipeline: string, storeSettings: Record<string, unknown> = {}): ResolvedConfig {
  return resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'classify', kind: 'classify', model: 'product-category', settings: { groups: { electronics: ['audio'], computing: ['networking'] } } },
        { name: 'validate', kind: 'validate' },
        { name: 'store', kind: 'store', settings: storeSettings },
      ],
      routes: {
        preprocess: [{ to: 'classify' }],
        classify: [
          { when: { confidence: { lt: 0.5 } }, to: 'review' },
          { when: { group: 'electronics' }, to: 'validate' },
          { when: { group: 'computing' }, to: 'store' },
        ],
        validate: [{ to: 'store' }],
      },
    },
    'test',
    { env: { REDIS_URL: url } },
  );
}

/**
 * A pipeline with the real classifier that sends products it is not sure of (confidence below
 * `reviewBelow`) to review only; sure ones go to an extractor and are stored. A reviewed product
 * (confidence 1) goes through the same table to its extractor.
 */
export function reviewConfig(url: string, pipeline: string, reviewBelow = 0.9, defaults: Partial<StageOptions> = FAST): ResolvedConfig {
  return resolveConfig(reviewRawConfig(pipeline, reviewBelow, defaults), 'test', { env: { REDIS_URL: url } });
}

/** `reviewConfig` as a config file holds it (for the CLI's `--config`). */
export function reviewRawConfig(pipeline: string, reviewBelow = 0.9, defaults: Partial<StageOptions> = FAST): PipelineConfig {
  return {
    pipeline,
    input: 'in',
    defaults: { ...defaults, batchSize: 16 },
    logs: { stream: true, flushIntervalMs: 200 },
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'classify', kind: 'classify', model: 'product-category' },
      { name: 'extract.electronics', kind: 'extract', model: 'extract-electronics' },
      { name: 'extract.computing', kind: 'extract', model: 'extract-computing' },
      { name: 'validate', kind: 'validate' },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: {
      preprocess: [{ to: 'classify' }],
      classify: [
        { when: { confidence: { lt: reviewBelow } }, to: 'review' },
        { when: { category: { in: ELECTRONICS } }, to: 'extract.electronics' },
        { to: 'extract.computing' },
      ],
      'extract.electronics': [idRule, { to: 'store' }],
      'extract.computing': [idRule, { to: 'store' }],
      validate: [{ to: 'store' }],
    },
  };
}

/** `pipeline serve` with the console, listening on a random loopback port. */
export async function startConsole(
  config: ResolvedConfig,
  opts: Partial<ConsoleOptions> = { sampleIntervalMs: 300 },
): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildServer({
    config,
    tokens: TOKENS,
    logger: silentLogger,
    productReader,
    limits: { completionsBlockMs: 100 },
    plugins: [{ plugin: consolePlugin, opts: opts as Record<string, unknown> }],
  });
  await readyOrClosed(app, async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    // Ready as a deployment would be (readyz): the console answers 503 until its Redis connection is.
    await waitFor('Redis connection and completions reader', () => app.pipeline.redis.status === 'ready' && app.pipeline.completions.following, 10_000);
  });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

/**
 * A test file's own redis-server and console (`startConsole`) on a rules-only pipeline named from
 * `prefix`; closed after the file's tests, the server last.
 */
export async function consoleForFile(suite: { after(hook: () => Promise<void>): void }, prefix: string) {
  const server = await startRedis();
  const redis = client(server.url);
  const config = rulesOnlyConfig(server.url, randomPipeline(prefix));
  const { app } = await startConsole(config);
  suite.after(async () => {
    await app.close();
    redis.disconnect();
    await server.close();
  });
  return { redis, config, keys: new Keys(config.pipeline), app };
}

/**
 * A dead letter as a worker writes it after `maxDeliveries` failed attempts (lib/stream/deadletter.ts
 * fields), of a good record: as if its stage had failed during an outage. Replayed, it goes through.
 */
export async function addDeadLetter(redis: Redis, keys: Keys, record: ProductRecord, stage = 'preprocess', stream = 'in'): Promise<string> {
  const env = newEnvelope(record);
  return (await redis.xadd(
    keys.dlq,
    '*',
    'k',
    record.id,
    'e',
    encodeEnvelope(env),
    'stage',
    stage,
    'stream',
    stream,
    'id',
    '1-0',
    'reason',
    'max_deliveries',
    'error',
    'connect ECONNREFUSED 127.0.0.1:5432 (simulated outage)',
    'deliveries',
    '5',
    'at',
    String(Date.now()),
  ))!;
}

/** An undecodable dead letter (its envelope bytes are not msgpack), as a stage writes one; returns its id. */
export async function addUndecodableDeadLetter(redis: Redis, keys: Keys, key: string, error = 'not msgpack'): Promise<string> {
  const fields = [
    'k',
    key,
    'e',
    'x',
    'stage',
    'preprocess',
    'stream',
    'in',
    'id',
    '1-0',
    'reason',
    'undecodable',
    'error',
    error,
    'deliveries',
    '1',
    'at',
    String(Date.now()),
  ];
  return (await redis.xadd(keys.dlq, '*', ...fields))!;
}

/** `n` items as classify sends them to review (not sure of the category): ids r<from>.. r<from+n-1>. */
export async function addReviewItems(redis: Redis, keys: Keys, n: number, from = 0): Promise<void> {
  const p = redis.pipeline();
  for (let i = from; i < from + n; i++) {
    const env: Envelope = {
      ...newEnvelope({ id: `r${i}`, title: `blue thing ${i}` }),
      outputs: { classify: { category: 'audio', confidence: 0.4 } },
      hops: [{ stage: 'classify', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
    };
    p.xadd(keys.stream('review'), '*', 'k', `r${i}`, 'e', encodeEnvelope(env));
  }
  await p.exec();
}

/** A review entry of product `key` as the classify stage leaves it (predicted networking, group computing, unsure), version `origin`: its entry id. */
export async function addUnsureReviewEntry(redis: Redis, keys: Keys, key: string, origin: string): Promise<string> {
  const env: Envelope = {
    ...newEnvelope({ id: key, title: 'Bluecorp speaker 3000' }),
    origin,
    outputs: {
      preprocess: { title: 'Bluecorp speaker 3000', text: 'Bluecorp speaker 3000' },
      classify: { category: 'networking', confidence: 0.4, group: 'computing', subcategory: 'routers', top: [{ category: 'networking', confidence: 0.4 }] },
    },
    hops: [
      { stage: 'preprocess', consumer: 'c', readAt: 1, doneAt: 1, batch: 1 },
      { stage: 'classify', consumer: 'c', readAt: 1, doneAt: 1, batch: 1 },
    ],
  };
  return (await redis.xadd(keys.stream('review'), '*', 'k', key, 'e', encodeEnvelope(env)))!;
}
