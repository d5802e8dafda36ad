/**
 * Store-stream deliveries as a store worker gets them, for the sinks' `copies` tests
 * (test/store/redis-copies.test.ts, test/store/postgres-copies.test.ts): the same scenario on either sink.
 */
import type { Redis } from 'ioredis';
import * as assert from 'uvu/assert';
import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, newEnvelope, type Message } from '../../lib/stream/codec.js';
import { toEntries } from '../../lib/stream/entries.js';
import type { StoredProduct } from '../../stages/sinks/sink.js';
import type { Stage } from '../../lib/worker/stage.js';

/** Raw XREADGROUP / XAUTOCLAIM entries of store stream `stream` (its config name) as the messages a store worker gets. */
export const storeMessages = (raw: unknown, stream: string): Message[] =>
  toEntries(raw as never).map((e) => ({ id: e.id, stream, envelope: decodeEnvelope(entryFields(e.fields).payload!) }));

/**
 * Version `origin` of product `key` from store entry `entryId` of `stream`, as the store stage builds
 * it (no consumer group: no pending check). Each entry is a production of its own (its own trace id,
 * so its own lineage) unless `traceId` is given.
 */
export const storedVersion = (key: string, origin: string, entryId: string, stream?: string, traceId = `t:${stream ?? ''}/${entryId}`): StoredProduct => ({
  key,
  entryId,
  ...(stream ? { stream } : {}),
  traceId,
  category: 'c',
  fields: {},
  doc: { key },
  storedAt: Date.now(),
  version: origin,
});

/** A scenario's store: its Redis, the store stage, the store stream (key and config name), the store's group, and how to read every product's `copies`. */
export interface StoreScenario {
  redis: Redis;
  store: Stage;
  stream: string;
  name: string;
  group: string;
  copies: () => Promise<Record<string, number>>;
}

/**
 * A batch written but not acked, then reclaimed whole and one entry at a time (the lost ack of a
 * crash or a failover), then a new entry of b written twice: `copies()` must read {a: 2, b: 1}
 * throughout, then {a: 2, b: 2}. `stream` is the store stream's key, `name` its config name, `group`
 * the store's group (created here). Returns the first batch and the new entry's delivery.
 */
export async function reclaimedBatch(o: StoreScenario): Promise<{ batch: Message[]; again: Message[] }> {
  const { redis, store, stream, group } = o;
  const read = (raw: unknown) => storeMessages(raw, o.name);
  const readNew = async () =>
    read(((await redis.callBuffer('XREADGROUP', 'GROUP', group, 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [Buffer, unknown][])[0]![1]);
  const add = (key: string, origin: string) =>
    redis.xadd(stream, '*', FIELD_KEY, key, FIELD_ENVELOPE, encodeEnvelope({ ...newEnvelope({ id: key, title: key }), origin }));
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  // Record a produced twice (two input entries, two store entries) and record b once: one batch.
  for (const [key, origin] of [
    ['a', '10-0'],
    ['b', '11-0'],
    ['a', '12-0'],
  ] as const)
    await add(key, origin);
  const batch = await readNew();
  assert.is(batch.length, 3);
  assert.ok((await store.process(batch)).every((r) => r.ok));
  assert.equal(await o.copies(), { a: 2, b: 1 });
  // The ack is lost: another consumer reclaims the batch (still pending) and writes it again, whole...
  const [, whole] = (await redis.callBuffer('XAUTOCLAIM', stream, group, 'c2', 0, '0-0', 'COUNT', 10)) as [Buffer, unknown];
  assert.equal(
    read(whole).map((m) => m.id),
    batch.map((m) => m.id),
  );
  assert.ok((await store.process(read(whole))).every((r) => r.ok));
  assert.equal(await o.copies(), { a: 2, b: 1 }, 'the same batch again counts nothing');
  // ...and batched otherwise: one entry at a time, a's first entry after its second is stored.
  let start = '0-0';
  do {
    const [next, one] = (await redis.callBuffer('XAUTOCLAIM', stream, group, 'c3', 0, start, 'COUNT', 1)) as [Buffer, unknown];
    assert.is(read(one).length, 1);
    assert.ok((await store.process(read(one))).every((r) => r.ok));
    start = next.toString();
  } while (start !== '0-0');
  assert.equal(await o.copies(), { a: 2, b: 1 }, 'each entry alone again counts nothing');
  // A new entry of b (produced again) is a copy; its re-delivery is not.
  await add('b', '13-0');
  const again = await readNew();
  for (let round = 0; round < 2; round++) assert.ok((await store.process(again)).every((r) => r.ok));
  assert.equal(await o.copies(), { a: 2, b: 2 });
  return { batch, again };
}

/**
 * The same record sent to the store again under new entries, as after a failover: the store wrote
 * record r from entry 1, then the failover lost that entry (or the hand-off that added it) and the
 * stage before ran again on its input entry, so the same envelope (trace id, origin) came again
 * under entry 2; then under entry 3, in one batch with two entries of one production of record s.
 * `copies()` must read {r: 1} throughout (it had read 2, then 3) and {s: 1}; then r produced again (a
 * new trace id and input entry) is a copy, {r: 2}, and its own second entry is not. `stream` is the
 * store stream's key, `group` the store's group (created here).
 */
export async function sameRecordAgain(o: StoreScenario) {
  const { redis, store, stream, group } = o;
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  const produced = (key: string, origin: string) => encodeEnvelope({ ...newEnvelope({ id: key, title: key }), origin });
  const deliver = async (...envelopes: [key: string, bytes: Buffer][]) => {
    const ids: string[] = [];
    for (const [key, bytes] of envelopes) ids.push((await redis.xadd(stream, '*', FIELD_KEY, key, FIELD_ENVELOPE, bytes))!);
    const raw = (await redis.callBuffer('XREADGROUP', 'GROUP', group, 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [Buffer, unknown][];
    const batch = storeMessages(raw[0]![1], o.name);
    assert.equal(
      batch.map((m) => m.id),
      ids,
    );
    assert.ok((await store.process(batch)).every((r) => r.ok));
    return ids;
  };
  const r = produced('r', '20-0');
  const [first] = await deliver(['r', r]);
  assert.equal(await o.copies(), { r: 1 });
  // The failover loses entry 1 (the promoted replica never had it); the stage before sends r again.
  await redis.xdel(stream, first!);
  await deliver(['r', r]);
  assert.equal(await o.copies(), { r: 1 }, 'the same record under a second entry is not a copy');
  const s = produced('s', '21-0');
  await deliver(['s', s], ['r', r], ['s', s]);
  assert.equal(await o.copies(), { r: 1, s: 1 }, 'nor under a third, nor twice in one batch');
  // Produced again: a new input entry and trace id, a new lineage.
  const again = produced('r', '25-0');
  await deliver(['r', again]);
  assert.equal(await o.copies(), { r: 2, s: 1 }, 'a second production is a copy');
  await deliver(['r', again]);
  assert.equal(await o.copies(), { r: 2, s: 1 }, 'its own second entry is not');
}
