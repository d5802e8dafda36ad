import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyTable } from '../../stages/domain/key-table.js';

test('keys get dense slots in the order added, read back exactly, and a key added again keeps its slot', () => {
  const t = new KeyTable();
  const keys = ['a', 'wa-amazon-8#0', 'ünïcödé-ß', '日本語のキー', '', 'emoji 🙂 key', 'a '];
  assert.equal(
    keys.map((k) => t.intern(k)),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.equal(
    keys.map((k) => t.intern(k)),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.is(t.size, keys.length);
  keys.forEach((k, i) => {
    assert.is(t.keyAt(i), k);
    assert.is(t.slotOf(k), i);
  });
  assert.is(t.slotOf('A'), undefined);
  assert.is(t.slotOf('wa-amazon-8#'), undefined, 'a prefix of a key is another key');
  assert.throws(() => t.keyAt(keys.length), /no key in slot 7/);
});

test('a hundred thousand keys through every growth of the table and buffers agree with a Map', () => {
  const t = new KeyTable();
  const m = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    // Keys of varied length and shared prefixes, some re-added.
    const key = i % 7 === 3 && i > 0 ? `sku-${(i * 31) % i}` : `sku-${i}-${'x'.repeat(i % 40)}`;
    if (!m.has(key)) m.set(key, m.size);
    assert.is(t.intern(key), m.get(key)!, key);
  }
  assert.is(t.size, m.size);
  for (const [key, slot] of m) {
    if (slot % 97 !== 0) continue;
    assert.is(t.slotOf(key), slot);
    assert.is(t.keyAt(slot), key);
  }
  // The keys' bytes are in the spill file; the process holds offsets, hashes and the table.
  assert.is(
    t.bytesSpilled,
    [...m.keys()].reduce((n, k) => n + Buffer.byteLength(k), 0),
  );
  assert.ok(t.bytesHeld < m.size * 28, `${t.bytesHeld} bytes of memory for ${m.size} keys`);
  t.close();
});

test('a key longer than the scratch buffer is interned and found', () => {
  const t = new KeyTable();
  const long = 'k'.repeat(5000) + 'é'.repeat(300);
  assert.is(t.intern(long), 0);
  assert.is(t.slotOf(long), 0);
  assert.is(t.keyAt(0), long);
  assert.is(t.slotOf(long.slice(1)), undefined);
});

test.run();
