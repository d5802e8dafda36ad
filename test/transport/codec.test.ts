import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, encodeEnvelope, entryFields, newEnvelope } from '../../lib/stream/codec.js';
import { DecodeError } from '../../lib/core/errors.js';

test('envelope survives encode/decode with outputs, hops and unicode', () => {
  const env = newEnvelope({ id: 'p1', title: 'Sony™ WH-1000XM4 — 30 h', price: 12.5 }, 1_700_000_000_000);
  env.outputs.classify = { category: 'audio', confidence: 0.93 };
  env.hops.push({ stage: 'classify', consumer: 'h-1-0', readAt: 1, doneAt: 2, batch: 64 });
  const back = decodeEnvelope(encodeEnvelope(env));
  assert.equal(back, env);
  assert.is(back.traceId.length, 16);
});

test('trace ids differ between envelopes, 16 hex digits each, across refills of their random pool', () => {
  const ids = Array.from({ length: 2_000 }, () => newEnvelope({ id: 'a', title: 't' }).traceId);
  assert.ok(
    ids.every((id) => /^[0-9a-f]{16}$/.test(id)),
    ids.find((id) => !/^[0-9a-f]{16}$/.test(id)),
  );
  assert.is(new Set(ids).size, ids.length);
});

test('truncated bytes and wrong shapes are DecodeErrors that say why', () => {
  assert.throws(
    () => decodeEnvelope(Buffer.from([0x92, 0x01])),
    (e: Error) => e instanceof DecodeError && /msgpack/.test(e.message),
  );
  const noKey = encodeEnvelope({ ...newEnvelope({ id: 'x', title: 't' }), key: '' });
  assert.throws(
    () => decodeEnvelope(noKey),
    (e: Error) => e instanceof DecodeError && /no key/.test(e.message),
  );
  const v2 = encodeEnvelope({ ...newEnvelope({ id: 'x', title: 't' }), v: 2 as 1 });
  assert.throws(() => decodeEnvelope(v2), /version/);
});

test('entryFields picks the key and payload out of a raw field list', () => {
  const payload = Buffer.from([1, 2, 3]);
  const got = entryFields([Buffer.from('k'), Buffer.from('p9'), Buffer.from('e'), payload, Buffer.from('x'), Buffer.from('y')]);
  assert.is(got.key, 'p9');
  assert.equal(got.payload, payload);
  assert.equal(entryFields([Buffer.from('k')]), { key: undefined, payload: undefined });
});

test.run();
