/**
 * The admin's pause and resume over HTTP (lib/api/stage-control.ts): `POST /v1/stages/:stage/pause`
 * and `/resume` set and clear the flag workers read (lib/ops/pause.ts), audited in the console's
 * trail with the token's name; a read token gets 403, an unknown stage 404 naming it, a malformed
 * name 400 naming the field; `GET /v1/stages` and /openapi.json document them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAudit } from '../../lib/ops/audit.js';
import { pausedStages } from '../../lib/ops/pause.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { ADMIN, auth, READ, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);

test('pause and resume through the API: admin only, audited, unknown stage 404 naming it, bad name 400 naming the field', async () => {
  const pipeline = randomPipeline('papi');
  const config = rulesOnlyConfig(server.url, pipeline);
  const { app } = await startConsole(config);
  try {
    const post = (path: string, token: string, body?: unknown) =>
      app.inject({
        method: 'POST',
        url: path,
        headers: { ...auth(token), ...(body ? { 'content-type': 'application/json' } : {}) },
        payload: body ? JSON.stringify(body) : undefined,
      });

    const refused = await post('/v1/stages/store/pause', READ, { reason: 'x' });
    assert.is(refused.statusCode, 403, refused.body);
    assert.equal([...(await pausedStages(redis, config)).keys()], [], 'a read token paused nothing');

    const ok = await post('/v1/stages/store/pause', ADMIN, { reason: 'postgres migration' });
    assert.is(ok.statusCode, 200, ok.body);
    assert.equal(ok.json(), { stages: ['store'] });
    const flag = (await pausedStages(redis, config)).get('store');
    assert.is(flag?.by, 'api:alice');
    assert.is(flag?.reason, 'postgres migration');
    assert.is(await redis.hget(new Keys(pipeline).paused('store'), 'by'), 'api:alice');

    const list = await app.inject({ method: 'GET', url: '/v1/stages', headers: auth(READ) });
    assert.is(list.statusCode, 200, list.body);
    const stages = (list.json() as { stages: { stage: string; paused: { by: string; reason?: string } | null }[] }).stages;
    assert.equal(
      stages.map((s) => [s.stage, s.paused?.by ?? null, s.paused?.reason ?? null]),
      [
        ['preprocess', null, null],
        ['validate', null, null],
        ['store', 'api:alice', 'postgres migration'],
      ],
    );

    const unknown = await post('/v1/stages/nope/pause', ADMIN);
    assert.is(unknown.statusCode, 404, unknown.body);
    assert.is(unknown.json().field, 'stage');
    assert.match(unknown.json().message, /no stage "nope" in this pipeline \(stages: preprocess, validate, store; or all\)/);
    const unknownResume = await post('/v1/stages/nope/resume', ADMIN);
    assert.is(unknownResume.statusCode, 404, unknownResume.body);
    const bad = await post('/v1/stages/a%20b/pause', ADMIN);
    assert.is(bad.statusCode, 400, bad.body);
    assert.match(bad.body, /stage/);
    const long = await post('/v1/stages/store/pause', ADMIN, { reason: 'x'.repeat(501) });
    assert.is(long.statusCode, 400, long.body);
    assert.match(long.body, /reason/);

    const readResume = await post('/v1/stages/store/resume', READ);
    assert.is(readResume.statusCode, 403, readResume.body);
    const resumed = await post('/v1/stages/store/resume', ADMIN);
    assert.is(resumed.statusCode, 200, resumed.body);
    assert.equal(resumed.json(), { stages: ['store'] });
    assert.equal([...(await pausedStages(redis, config)).keys()], []);

    const all = await post('/v1/stages/all/pause', ADMIN);
    assert.equal(all.json(), { stages: ['preprocess', 'validate', 'store'] });
    assert.equal((await post('/v1/stages/all/resume', ADMIN)).json(), { stages: ['preprocess', 'validate', 'store'] });

    const trail = await readAudit(redis, new Keys(pipeline));
    const actions = trail.map((e) => [e.action, e.by, JSON.stringify(e.stages)]).reverse();
    assert.equal(actions, [
      ['stage_pause', 'alice', '["store"]'],
      ['stage_resume', 'alice', '["store"]'],
      ['stage_pause', 'alice', '["preprocess","validate","store"]'],
      ['stage_resume', 'alice', '["preprocess","validate","store"]'],
    ]);
    assert.is(trail.at(-1)!.reason, 'postgres migration');

    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/v1/stages/{stage}/pause']?.post, Object.keys(doc.paths).join(' '));
    assert.ok(doc.paths['/v1/stages/{stage}/resume']?.post);
    assert.ok(doc.paths['/v1/stages']?.get);
    assert.ok((doc.paths['/v1/stages/{stage}/pause']!.post as { requestBody?: unknown }).requestBody);
  } finally {
    await app.close();
  }
});

test.run();
