/**
 * The admin's revoke over HTTP (lib/api/revoke-route.ts): `POST /v1/products/{id}/revoke` writes a
 * marker on the id's shard with who and why (lib/ops/revoke.ts), audited with the token's name; a
 * read token gets 403, an id whose trip ended 409 with its status (nothing written), a bad body
 * 400 naming the field; `GET /v1/products/{id}` answers a revoked id's status; /openapi.json has it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAudit } from '../../lib/ops/audit.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { ADMIN, auth, READ, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);

test('revoke through the API: admin only, marked with who and why and the input cut-off, audited; 409 with the status when ended; 400 naming a bad field', async () => {
  const pipeline = randomPipeline('rapi');
  const config = rulesOnlyConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const { app } = await startConsole(config);
  try {
    const post = (id: string, token: string, body?: unknown) =>
      app.inject({
        method: 'POST',
        url: `/v1/products/${encodeURIComponent(id)}/revoke`,
        headers: { ...auth(token), ...(body ? { 'content-type': 'application/json' } : {}) },
        payload: body ? JSON.stringify(body) : undefined,
      });
    const markers = async () => ((await redis.xrange(keys.revokes, '-', '+')) as [string, string[]][]).map(([, f]) => f);

    const refused = await post('p1', READ, { reason: 'x' });
    assert.is(refused.statusCode, 403, refused.body);
    assert.equal(await markers(), [], 'a read token revoked nothing');

    const entry = await redis.xadd(keys.stream(config.input), '*', 'k', 'other', 'e', 'x');
    const ok = await post('p1', ADMIN, { reason: 'withdrawn from the catalogue' });
    assert.is(ok.statusCode, 202, ok.body);
    assert.equal(ok.json(), { id: 'p1', revoked: true, was: 'unknown', cutoff: entry });
    assert.equal(await markers(), [['k', 'p1', 'c', entry, 'b', 'api:alice', 'r', 'withdrawn from the catalogue']]);
    const noBody = await post('p2', ADMIN);
    assert.is(noBody.statusCode, 202, noBody.body);

    await recordCompletions(redis, keys, [{ key: 'done1', status: 'stored', stage: 'store' }], { maxLen: 100, statusTtlMs: 60_000 });
    const ended = await post('done1', ADMIN);
    assert.is(ended.statusCode, 409, ended.body);
    assert.is(ended.json().status, 'stored');
    assert.match(ended.json().message, /done1.*stored/);
    assert.is((await markers()).length, 2, 'nothing written for an ended id');
    const forced = await post('done1', ADMIN, { force: true });
    assert.is(forced.statusCode, 202, forced.body);
    assert.is(forced.json().was, 'stored', 'marked for a version produced again since');
    assert.equal((await markers())[2]!.slice(0, 2), ['k', 'done1']);

    const long = await post('p3', ADMIN, { reason: 'x'.repeat(501) });
    assert.is(long.statusCode, 400, long.body);
    assert.match(long.json().message, /reason/);
    const unknownField = await post('p3', ADMIN, { why: 'x' });
    assert.is(unknownField.statusCode, 400, unknownField.body);
    assert.match(unknownField.json().message, /why/);
    const badId = await post(' ', ADMIN);
    assert.is(badId.statusCode, 400, badId.body);
    assert.match(badId.json().message, /"id"/);
    assert.is((await markers()).length, 3, 'nothing written for a bad request');

    await recordCompletions(redis, keys, [{ key: 'p1', status: 'revoked', stage: 'validate', by: 'api:alice', reason: 'withdrawn' }], {
      maxLen: 100,
      statusTtlMs: 60_000,
    });
    const status = await app.inject({ method: 'GET', url: '/v1/products/p1', headers: auth(READ) });
    assert.is(status.statusCode, 200, status.body);
    assert.equal(status.json(), { id: 'p1', status: 'revoked', stage: 'validate', by: 'api:alice', reason: 'withdrawn', at: status.json().at });
    const again = await post('p1', ADMIN);
    assert.is(again.statusCode, 409, again.body);
    assert.is(again.json().status, 'revoked');

    const trail = await readAudit(redis, keys);
    const revokes = trail
      .filter((e) => e.action === 'product_revoke')
      .map((e) => [e.by, e.id, e.outcome])
      .reverse();
    assert.equal(revokes, [
      ['alice', 'p1', 'revoked'],
      ['alice', 'p2', 'revoked'],
      ['alice', 'done1', 'ended'],
      ['alice', 'done1', 'revoked'],
      ['alice', 'p1', 'ended'],
    ]);

    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const route = doc.paths['/v1/products/{id}/revoke']?.post as { requestBody?: unknown; responses?: Record<string, unknown> } | undefined;
    assert.ok(route?.requestBody, Object.keys(doc.paths).join(' '));
    assert.ok(route?.responses?.['409'] && route.responses['403']);
  } finally {
    await app.close();
  }
});

test.run();
