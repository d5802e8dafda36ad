/**
 * The stale-item check of review decisions with the Postgres sink (docs/console.md "One decision
 * per record", lib/console/review-decide.ts): the stored version and input are read from the
 * Postgres row through the server's product reader, not the Redis hash. An item of an older record
 * (the product produced again since, with another input, and stored in Postgres) answers 409 stale
 * naming the stored version, is closed and changes nothing; an item whose input was stored again
 * (a reprocess: jsonb reorders the keys and stores NUL as U+FFFD) is decided, after that version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAudit } from '../../lib/ops/audit.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { encodeEnvelope, newEnvelope, type Envelope, type ProductRecord } from '../../lib/stream/codec.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { ADMIN, auth, groupReviewConfig, READ, startConsole } from '../helpers/console.js';
import { stopAll } from '../helpers/pipeline.js';
import { migratedDatabase, postgresBinOrSkip, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = postgresBinOrSkip('review-postgres.test.ts');

const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const pipeline = randomPipeline('rpg');
const keys = new Keys(pipeline);
const { url: dbUrl, pool } = await migratedDatabase(pgServer, pipeline);
const config = groupReviewConfig(redisServer.url, pipeline, { sink: 'postgres', postgresUrl: dbUrl, postgresConnectTimeoutMs: 1000 });
const workers = ['validate', 'store'].map((stage) => new Worker({ config, stage, stages: STAGES, logger: silentLogger }));
for (const w of workers) void w.run();
const { app, url } = await startConsole(config);

/** A review item of `input` as classify queued it: predicted networking, unsure. */
async function addItem(input: ProductRecord, origin: string): Promise<void> {
  const env: Envelope = {
    ...newEnvelope(input),
    origin,
    outputs: { preprocess: { title: input.title, text: input.title }, classify: { category: 'networking', confidence: 0.4, group: 'computing' } },
    hops: ['preprocess', 'classify'].map((stage) => ({ stage, consumer: 'c', readAt: 1, doneAt: 1, batch: 1 })),
  };
  await redis.xadd(keys.stream('review'), '*', 'k', input.id, 'e', encodeEnvelope(env));
}
/** A record of `input` with version `origin` put on the store stream, as the stages before would. */
const storeRecord = (input: ProductRecord, origin: string) =>
  redis.xadd(keys.stream('store'), '*', 'k', input.id, 'e', encodeEnvelope({ ...newEnvelope(input), origin }));
const row = async (key: string) =>
  (
    await pool.query<{ version: string; doc: { input: { title: string }; outputs: Record<string, { reviewedBy?: string }> } }>(
      'SELECT version, doc FROM products WHERE key = $1',
      [key],
    )
  ).rows[0];
const unpad = (v: string | undefined) => v?.replace(/^0+(?=\d)/, '').replace(/-0+(?=\d)/, '-');
const decide = async (id: string, category: string) => {
  const r = await fetch(`${url}/console/api/review/${id}`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ category }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

test('with the Postgres sink, an item of an older record answers 409 stale naming the version stored in Postgres and changes nothing; an item whose input was stored again (a reprocess) is decided after that version', async () => {
  const now = await serverTimeMs(redis);
  const older = `${now - 60_000}-0`;
  const stored = `${now - 1_000}-0`;
  // s6: queued for review, then produced again with another title, and that record stored.
  await addItem({ id: 's6', title: 'Bluecorp speaker 3000' }, older);
  await storeRecord({ id: 's6', title: 'Bluecorp speaker 4000' }, stored);
  // r6: stored again with the input its item shows (keys in another order than jsonb's, a NUL).
  const input = { title: 'Bluecorp\u0000 speaker 5000', id: 'r6', brand: 'Bluecorp' } as ProductRecord;
  await addItem(input, older);
  await storeRecord(input, stored);
  await waitFor('both stored in Postgres', async () => (await pool.query('SELECT count(*)::int AS n FROM products')).rows[0].n === 2, 20_000);
  assert.is(await redis.exists(keys.product('s6')), 0, 'nothing in the Redis hash: the check must read Postgres');

  const items = ((await (await fetch(`${url}/console/api/review`, { headers: auth(READ) })).json()) as { items: { id: string; key: string }[] }).items;
  const id = (key: string) => items.find((i) => i.key === key)!.id;
  const stale = await decide(id('s6'), 'audio');
  assert.is(stale.status, 409, JSON.stringify(stale.body));
  assert.equal([stale.body.error, stale.body.key, stale.body.version], ['stale', 's6', stored]);
  const closed = (await readAudit(redis, keys)).find((e) => e.action === 'review_closed');
  assert.equal([closed?.entry, closed?.reason, closed?.version], [id('s6'), 'stale', stored]);
  assert.equal([await redis.xlen(keys.stream('validate')), await redis.xlen(keys.extra('labels'))], [0, 0], 'nothing sent, no label');
  const s6 = await row('s6');
  assert.equal([s6?.doc.input.title, unpad(s6?.version)], ['Bluecorp speaker 4000', stored], 'the newer record stays stored');

  const same = await decide(id('r6'), 'audio');
  assert.is(same.status, 200, JSON.stringify(same.body));
  assert.is(((await (await fetch(`${url}/console/api/review`, { headers: auth(READ) })).json()) as { total: number }).total, 0);
  // The decision goes through validate (audio is electronics) to the store: it wins over the stored version.
  await waitFor('the decision stored in Postgres', async () => (await row('r6'))?.doc.outputs.review?.reviewedBy === 'alice', 20_000);
  assert.ok((unpad((await row('r6'))?.version) ?? '') > stored, 'stored after the reprocessed version');
});

test.after(async () => {
  await app.close();
  await stopAll(workers);
  await pool.end();
  await pgServer.stop();
  redis.disconnect();
  await redisServer.stop();
});
test.run();
