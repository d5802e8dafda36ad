/**
 * A submit body is read as `pipeline produce` reads a file: bytes that are not UTF-8 are an error
 * naming where (a JSON body: a 400 with the byte; NDJSON: that line's record rejected,
 * `invalid_utf8`, the others taken), never text with U+FFFD stored in place of a Windows-1252 "é"
 * (Fastify's lenient read had taken such a record, 202). A body that is not JSON is a 400 naming
 * the position, and a refused "__proto__" key says so (both had been "Body is not valid JSON").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { listeningApi } from '../helpers/api-server.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const TOKEN = 'submit-token-0123456789a';
const pipeline = randomPipeline();
const keys = new Keys(pipeline);
const { app } = await listeningApi(rulesOnlyConfig(server.url, pipeline), TOKEN);

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.close();
});

const LATIN1_E = Buffer.from([0xe9]); // "é" in Windows-1252: not UTF-8
type Answer = {
  status: number;
  body: { error?: string; message?: string; accepted?: string[]; rejected?: { index: number; reason: string; error: string }[] };
};

async function submit(type: string, payload: Buffer | string): Promise<Answer> {
  const res = await app.inject({ method: 'POST', url: '/v1/products', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type }, payload });
  return { status: res.statusCode, body: res.json() };
}

test('a JSON body that is not UTF-8 is a 400 naming the byte, nothing stored; so is one labelled as a form (curl -d)', async () => {
  const body = Buffer.concat([Buffer.from('{"id":"u1","title":"caf'), LATIN1_E, Buffer.from('"}')]);
  for (const type of ['application/json', 'application/x-www-form-urlencoded']) {
    const a = await submit(type, body);
    assert.is(a.status, 400, type);
    assert.is(a.body.error, 'bad_request');
    assert.is(a.body.message, 'body is not UTF-8: byte 23 starts a sequence that is not (send the text as UTF-8)');
  }
  assert.is(await redis.xlen(keys.stream('in')), 0);
});

test('an NDJSON line that is not UTF-8 is that record rejected with its index and line; the others are taken', async () => {
  const body = Buffer.concat([Buffer.from('{"id":"n1","title":"one"}\n{"id":"n2","title":"caf'), LATIN1_E, Buffer.from('"}\n\n{"id":"n3","title":"three"}')]);
  const a = await submit('application/x-ndjson', body);
  assert.is(a.status, 202);
  assert.equal(a.body.accepted, ['n1', 'n3']);
  assert.equal(a.body.rejected, [{ index: 1, reason: 'invalid_utf8', error: 'line 2: not UTF-8 (byte 23 of the line starts a sequence that is not)' }]);
  assert.is(await redis.xlen(keys.stream('in')), 2);
  const only = await submit('application/x-ndjson', Buffer.concat([Buffer.from('{"id":"n4","title":"'), LATIN1_E, Buffer.from('"}')]));
  assert.is(only.status, 400, 'no record left: a 400 with the same list');
  assert.equal(
    only.body.rejected?.map((r) => r.reason),
    ['invalid_utf8'],
  );
});

test('a body that is not JSON is a 400 naming where; a "__proto__" key one saying it is refused; an empty one saying it is empty', async () => {
  const broken = await submit('application/json', '{"id":"j1","title": broken}');
  assert.is(broken.status, 400);
  assert.match(broken.body.message!, /^body is not JSON: Unexpected token 'b', .* is not valid JSON$/);
  const form = await submit('application/x-www-form-urlencoded', 'id=j2&title=x');
  assert.match(form.body.message!, /^body is not JSON: .*\(send Content-Type: application\/json\)$/);
  const proto = await submit('application/json', '[{"id":"j3","title":"x","__proto__":{"admin":true}}]');
  assert.is(proto.status, 400);
  assert.match(proto.body.message!, /^body has a "__proto__" key/);
  const empty = await submit('application/json', '');
  assert.equal([empty.status, empty.body.message], [400, 'body is empty: send a JSON record, an array of them, or NDJSON']);
  assert.is(await redis.xlen(keys.stream('in')), 2, 'nothing more taken');
});

test('a well-formed body is taken as before: UTF-8 text, a BOM, a title with a real U+FFFD', async () => {
  const a = await submit('application/json', Buffer.from('\ufeff[{"id":"w1","title":"café ☕"},{"id":"w2","title":"a \ufffd b"}]'));
  assert.equal([a.status, a.body.accepted], [202, ['w1', 'w2']]);
});

test('NDJSON lines are read as `pipeline produce` reads them: a BOM at a line start dropped, a CRLF line of exactly the limit taken', async () => {
  const limit = 65_536; // limits.maxRecordBytes, the default
  const exact = JSON.stringify({ id: 'c2', title: 'x' });
  const full = exact.replace('"x"', `"${'x'.repeat(limit - exact.length + 1)}"`);
  assert.is(Buffer.byteLength(full), limit);
  const body = Buffer.from(`{"id":"c1","title":"one"}\r\n\ufeff{"id":"b1","title":"two"}\r\n${full}\r\n${full.replace('c2', 'c3')}x\r\n`);
  const a = await submit('application/x-ndjson', body);
  assert.is(a.status, 202);
  assert.equal(a.body.accepted, ['c1', 'b1', 'c2']);
  assert.equal(
    a.body.rejected?.map((r) => [r.index, r.reason]),
    [[3, 'invalid_json']],
    'the line one byte over is no JSON: named',
  );
  const over = await submit('application/x-ndjson', Buffer.from(`{"id":"c4","title":"${'x'.repeat(limit)}"}\r\n`));
  assert.match(over.body.rejected?.[0]?.error ?? '', /^record is 65558 bytes, over the limit of 65536/);
});

test.run();
