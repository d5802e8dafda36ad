/**
 * The admin's stage purge over HTTP (lib/api/stage-purge-route.ts): a dry run answers how many
 * entries wait and the `until` that bounds a purge to them; the purge sent that `until` dead-letters
 * those (reason `purged`, `error` naming the token's user), never the records added after the dry
 * run; it is audited, counted as `messages.dead_lettered` with reason `purged` and logged
 * (`stage.purge`). A read token is a 403, an unknown stage a 404, a bad field a 400 naming it, and a
 * stage no worker has read yet (no group: the API's Redis user may not create one) a 409.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer } from '../../lib/api/server.js';
import { resolveConfig } from '../../lib/config/load.js';
import { readAudit } from '../../lib/ops/audit.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { noopMetrics, type Metrics, type Tags } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { ADMIN, auth, READ, TOKENS } from '../helpers/console.js';
import { listeningApi } from '../helpers/api-server.js';

const { server, redis } = await redisForFile(test);

async function addRecords(stream: string, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await redis.xadd(stream, '*', 'k', `${prefix}${i}`, 'e', 'x');
}

/** The records after the group's last-delivered-id: those still waiting for preprocess. */
async function waitingKeys(stream: string): Promise<string[]> {
  const row = ((await redis.xinfo('GROUPS', stream)) as unknown[][])[0]!;
  const after = String(row[row.indexOf('last-delivered-id') + 1]);
  return ((await redis.xrange(stream, `(${after}`, '+')) as [string, string[]][]).map(([, f]) => f[1]!);
}

const deadLetters = async (keys: Keys) =>
  ((await redis.xrange(keys.dlq, '-', '+')) as [string, string[]][]).map(
    ([, f]) => new Map(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])),
  );

test('dry run, then a purge bounded by its until: those entries dead-lettered, later ones left; audited, counted and logged; 403, 404, 400s naming the field, 409 with no group', async () => {
  const pipeline = randomPipeline('purgeapi');
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const counted: { name: string; value: number; tags: Tags }[] = [];
  const metrics: Metrics = { ...noopMetrics, increment: (name, value = 1, tags = {}) => void counted.push({ name, value, tags }) };
  const lines: string[] = [];
  const app = await buildServer({ config, tokens: TOKENS, logger: createLogger({ component: 'api' }, 'info', (l) => lines.push(l)), metrics });
  try {
    const post = (path: string, token: string, body?: unknown) =>
      app.inject({
        method: 'POST',
        url: path,
        headers: { ...auth(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        payload: body === undefined ? undefined : JSON.stringify(body),
      });
    const input = keys.stream('in');

    // No group yet: the API may not create a stage's group (its workers do, or the admin's `pipeline purge`).
    await addRecords(input, 'early', 2);
    const noGroup = await post('/v1/stages/preprocess/purge', ADMIN, {});
    assert.is(noGroup.statusCode, 409, noGroup.body);
    assert.is(noGroup.json().field, 'stage');
    assert.match(noGroup.json().message, /no worker of preprocess has read .*`pipeline purge preprocess`/);
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
    // The dry run says so too: the console's confirmation is not shown for a purge that would be refused.
    const noGroupDry = await post('/v1/stages/preprocess/purge', ADMIN, { dryRun: true });
    assert.is(noGroupDry.statusCode, 409, noGroupDry.body);
    assert.match(noGroupDry.json().message, /no worker of preprocess has read/);

    await redis.xgroup('CREATE', input, 'preprocess', '$');
    await addRecords(input, 'bad', 7);
    const refused = await post('/v1/stages/preprocess/purge', READ, { dryRun: true });
    assert.is(refused.statusCode, 403, refused.body);

    const dry = await post('/v1/stages/preprocess/purge', ADMIN, { dryRun: true });
    assert.is(dry.statusCode, 200, dry.body);
    const last = ((await redis.xrevrange(input, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]![0];
    assert.equal(dry.json(), { stage: 'preprocess', waiting: 7, until: { [input]: last } });
    assert.is(await redis.xlen(keys.dlq), 0, 'a dry run purges nothing');

    // Taken after the dry run (the API, producers): not purged.
    await addRecords(input, 'good', 3);
    const purged = await post('/v1/stages/preprocess/purge', ADMIN, { until: dry.json().until, chunk: 3 });
    assert.is(purged.statusCode, 200, purged.body);
    assert.is(purged.json().purged, 7);
    assert.equal(purged.json().shards, [{ stream: input, purged: 7 }]);
    const dead = await deadLetters(keys);
    assert.equal(
      dead.map((d) => d.get('k')),
      Array.from({ length: 7 }, (_, i) => `bad${i}`),
    );
    assert.ok(
      dead.every((d) => d.get('reason') === 'purged' && d.get('error') === 'purged by api:alice'),
      JSON.stringify(dead.map((d) => [...d])),
    );
    assert.is((await readStatus(redis, keys.status('bad3'))).r, 'purged');
    assert.equal(await waitingKeys(input), ['good0', 'good1', 'good2'], 'the 3 added after the dry run still wait');

    assert.equal(
      counted.filter((c) => c.name === 'messages.dead_lettered'),
      [{ name: 'messages.dead_lettered', value: 7, tags: { stage: 'preprocess', reason: 'purged' } }],
    );
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'stage.purge');
    assert.ok(logged, lines.join('\n'));
    assert.equal([logged.level, logged.stage, logged.purged, logged.by], ['warn', 'preprocess', 7, 'api:alice']);
    const trail = await readAudit(redis, keys);
    assert.equal(
      trail.map((e) => [e.action, e.by, e.stage, e.purged]),
      [['stage_purge', 'alice', 'preprocess', 7]],
    );

    // Without until: what waits when it starts; `count` bounds it.
    const some = await post('/v1/stages/preprocess/purge', ADMIN, { count: 2 });
    assert.is(some.json().purged, 2, some.body);

    const unknown = await post('/v1/stages/nope/purge', ADMIN, {});
    assert.is(unknown.statusCode, 404, unknown.body);
    assert.is(unknown.json().field, 'stage');
    assert.match(unknown.json().message, /no stage "nope" in this pipeline \(stages: preprocess, validate, store\)/);
    const bad: [unknown, RegExp][] = [
      [{ chunk: 0 }, /chunk/],
      [{ chunk: 5001 }, /chunk/],
      [{ count: 1.5 }, /count/],
      [{ shard: 1 }, /shard/],
      [{ until: { [input]: 'soon' } }, /until/],
      [{ until: { [input]: '99999999999999999999-0' } }, /until/],
      [{ until: { [keys.stream('validate')]: '1-0' } }, /until/],
      [{ dryrun: true }, /dryrun/],
    ];
    for (const [body, field] of bad) {
      const r = await post('/v1/stages/preprocess/purge', ADMIN, body);
      assert.is(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.match(r.body, field, r.body);
    }
    assert.equal(await waitingKeys(input), ['good2'], 'the 400s purged nothing');

    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    assert.ok(doc.paths['/v1/stages/{stage}/purge']?.post?.requestBody, Object.keys(doc.paths).join(' '));
  } finally {
    await app.close();
  }
});

test('a lag Redis cannot tell: the dry run says `atLeast` with the 1000 it counted, and a purge sent that count takes those 1000 only (as the console sends it)', async () => {
  const pipeline = randomPipeline('purgelag');
  const keys = new Keys(pipeline);
  const input = keys.stream('in');
  const config = rulesOnlyConfig(server.url, pipeline);
  const batch = redis.pipeline();
  for (let i = 0; i < 1300; i++) batch.xadd(input, '*', 'k', `m${i}`, 'e', 'x');
  await batch.exec();
  // A group moved with SETID alone and an entry after it deleted: Redis keeps no entries-read for it and reports no lag.
  await redis.xgroup('CREATE', input, 'preprocess', '0');
  const first = ((await redis.xrange(input, '-', '+', 'COUNT', 3)) as [string, string[]][]).map(([id]) => id);
  await redis.xgroup('SETID', input, 'preprocess', first[0]!);
  await redis.xdel(input, first[2]!);
  const app = await buildServer({ config, tokens: TOKENS, logger: silentLogger });
  try {
    const post = (body: unknown) =>
      app.inject({
        method: 'POST',
        url: '/v1/stages/preprocess/purge',
        headers: { ...auth(ADMIN), 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    const dry = (await post({ dryRun: true })).json();
    assert.equal([dry.waiting, dry.atLeast], [1000, true], JSON.stringify(dry));
    const purged = await post({ until: dry.until, count: dry.waiting });
    assert.is(purged.json().purged, 1000, purged.body);
    assert.is((await waitingKeys(input)).length, 1298 - 1000, 'the ones past the count still wait');
  } finally {
    await app.close();
  }
});

test('an API user whose grants predate the route (no XGROUP SETID): a 500 naming `pipeline acl --apply`, not the bare refusal of Redis', async () => {
  const pipeline = randomPipeline('purgeold');
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const api = aclUsers(config, { password: () => 'pw-0123456789' }).find((u) => u.role === 'api')!;
  await applyAcl(redis, [{ ...api, rules: api.rules.filter((r) => !r.includes('xgroup|setid')) }]);
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '$', 'MKSTREAM');
  await addRecords(keys.stream('in'), 'x', 2);
  const app = await buildServer({ config, tokens: TOKENS, logger: silentLogger, redisUrl: api.url });
  try {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/stages/preprocess/purge',
      headers: { ...auth(ADMIN), 'content-type': 'application/json' },
      payload: '{}',
    });
    assert.is(r.statusCode, 500, r.body);
    assert.match(
      r.json().message,
      /^Redis refused this server's user a stage purge \(stage-purge-N.lua\) \(.*can't run this command.*\): grant it with `pipeline acl --apply` of this version$/,
    );
  } finally {
    await app.close();
  }
});

test("the console's purge (the dry run's until and count) on shards whose lag Redis cannot tell takes the entries the dry run counted on each shard, not the count from the first shard alone", async () => {
  const pipeline = randomPipeline('purgecap');
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as object;
  const config = resolveConfig({ ...raw, pipeline, shards: 2 }, 'test', { env: { REDIS_URL: server.url } });
  const [k0, k1] = Keys.shards(pipeline, 2) as [Keys, Keys];
  for (const k of [k0, k1]) {
    await redis.xgroup('CREATE', k.stream('in'), 'preprocess', '$', 'MKSTREAM');
    const batch = redis.pipeline();
    for (let i = 0; i < 1500; i++) batch.xadd(k.stream('in'), '*', 'k', `s${k.shard}-${i}`, 'e', 'x');
    await batch.exec();
    // An entry deleted past the group: Redis reports no lag, the dry run counts 1000 here.
    const entries = (await redis.xrange(k.stream('in'), '-', '+')) as [string, string[]][];
    await redis.xdel(k.stream('in'), entries[1200]![0]);
  }
  const { app, base } = await listeningApi(config, ADMIN);
  try {
    const post = async (body: unknown) =>
      fetch(`${base}/v1/stages/preprocess/purge`, {
        method: 'POST',
        headers: { ...auth(ADMIN), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const dry = (await (await post({ dryRun: true })).json()) as { waiting: number; atLeast?: boolean; until: Record<string, string> };
    assert.is(dry.waiting, 2000, JSON.stringify(dry));
    assert.is(dry.atLeast, true);
    const done = (await (await post({ until: dry.until, count: dry.waiting })).json()) as { purged: number; shards: { shard: number; purged: number }[] };
    assert.equal(
      done.shards.map((x) => [x.shard, x.purged]),
      [
        [0, 1000],
        [1, 1000],
      ],
      'the 1000 counted on each shard',
    );
  } finally {
    await app.close();
  }
});

/** 5000 entries waiting for preprocess and a purge of them under way, one entry per chunk, through a listening server. */
async function purgeUnderWay(prefix: string) {
  const pipeline = randomPipeline(prefix);
  const keys = new Keys(pipeline);
  const input = keys.stream('in');
  await redis.xgroup('CREATE', input, 'preprocess', '$', 'MKSTREAM');
  const batch = redis.pipeline();
  for (let i = 0; i < 5000; i++) batch.xadd(input, '*', 'k', `${prefix}${i}`, 'e', 'x');
  await batch.exec();
  const { app, base } = await listeningApi(rulesOnlyConfig(server.url, pipeline), ADMIN);
  const answer = fetch(`${base}/v1/stages/preprocess/purge`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ chunk: 1 }),
  });
  await waitFor('the purge under way', async () => (await redis.xlen(keys.dlq)) > 0, 10_000, 5);
  return { keys, input, app, answer };
}

test('the server closing during a long purge: the purge stops after its chunk in hand and answers what it did (stopped), audited; the close does not wait out the backlog', async () => {
  const { keys, app, answer } = await purgeUnderWay('purgeclose');
  await app.close();
  const res = await answer;
  const body = (await res.json()) as { purged: number; stopped?: boolean };
  assert.is(res.status, 200, JSON.stringify(body));
  assert.is(body.stopped, true, JSON.stringify(body));
  assert.ok(body.purged < 5000, `stopped early: ${body.purged}`);
  assert.is(await redis.xlen(keys.dlq), body.purged, 'the answer says what was dead-lettered');
  const trail = await readAudit(redis, keys);
  assert.equal(
    trail.map((e) => [e.action, e.purged, e.stopped, e.error]),
    [['stage_purge', body.purged, true, undefined]],
    'stopped by the close, not by an error',
  );
});

test('an error part way through a purge: what was purged before it is audited as stopped, with the error named', async () => {
  const { keys, input, app, answer } = await purgeUnderWay('purgeerr');
  try {
    // The stage's group gone under the purge (an operator's XGROUP DESTROY): the next chunk fails.
    await redis.xgroup('DESTROY', input, 'preprocess');
    const res = await answer;
    assert.ok(res.status >= 400, `refused: ${res.status}`);
    const purged = await redis.xlen(keys.dlq);
    const trail = await readAudit(redis, keys);
    assert.equal(
      trail.map((e) => [e.action, e.purged, e.stopped]),
      [['stage_purge', purged, true]],
    );
    assert.match(String(trail[0]!.error), /preprocess/, `the error named: ${JSON.stringify(trail[0])}`);
  } finally {
    await app.close();
  }
});

test.run();
