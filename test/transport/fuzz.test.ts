import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Packr } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, rulesOnlyConfig, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
const MAX_BYTES = 4096;

/** Seeded PRNG (mulberry32): the same seed gives the same lines, so a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const word = () => Array.from({ length: 1 + int(8) }, () => String.fromCharCode(97 + int(26))).join('');
  return { next, int, pick, word };
}
type Rng = ReturnType<typeof prng>;
const b = (s: string) => Buffer.from(s, 'utf8');

/** Bad-line generators, each with the reason the producer must give. */
const BAD: Record<string, { reason: string; make: (r: Rng, i: number) => Buffer }> = {
  malformed_json: {
    reason: 'invalid_json',
    make: (r, i) =>
      b(
        r.pick([
          `{"id":"m${i}","title":"${r.word()}"`,
          `{"id":"m${i}","title":"x",}`,
          `{'id':'m${i}','title':'x'}`,
          `{id:"m${i}",title:"x"}`,
          `{"id":"m${i}" "title":"x"}`,
          `NaN`,
          `{"id":"m${i}","title":"x"}}`,
          `${r.word()} ${r.word()}`,
          `{"id":"m${i}","title":"\\x41"}`,
          `[1,2`,
        ]),
      ),
  },
  wrong_type: {
    reason: 'invalid_record',
    make: (r, i) =>
      b(
        JSON.stringify(
          r.pick([
            { id: { n: i }, title: 'x' },
            { id: [i], title: 'x' },
            { id: true, title: 'x' },
            { id: null, title: 'x' },
            { id: `w${i}`, title: i },
            { id: `w${i}`, title: ['a'] },
            { id: `w${i}`, title: { t: 1 } },
            { id: `w${i}`, title: 'x', brand: 7 },
            { id: `w${i}`, title: 'x', mpn: ['A1'] },
            { id: `w${i}`, title: 'x', gtin: 4006381333931 },
            { id: `w${i}`, title: 'x', description: false },
          ]),
        ),
      ),
  },
  missing_field: {
    reason: 'invalid_record',
    make: (r, i) =>
      b(
        JSON.stringify(
          r.pick([
            { title: 'no id' },
            { id: `f${i}` },
            { id: `f${i}`, title: '' },
            { id: `f${i}`, title: '   ' },
            { id: '', title: 'x' },
            { id: ' ', title: 'x' },
            { brand: 'b' },
          ]),
        ),
      ),
  },
  oversized: {
    reason: 'oversized',
    make: (r, i) => b(JSON.stringify({ id: `o${i}`, title: 'y'.repeat(MAX_BYTES + r.int(3 * MAX_BYTES)) })),
  },
  invalid_utf8: {
    reason: 'invalid_utf8',
    make: (r, i) => {
      const bad = r.pick([[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]);
      return Buffer.concat([b(`{"id":"u${i}","title":"ab`), Buffer.from(bad), b('cd"}')]);
    },
  },
  control_char: {
    reason: 'invalid_json',
    make: (r, i) => {
      const c = r.pick([0, 1, 2, 7, 8, 9, 11, 12, 14, 27, 31]); // raw, unescaped: JSON forbids U+0000..U+001F in strings
      return Buffer.concat([b(`{"id":"c${i}","title":"a`), Buffer.from([c]), b('b"}')]);
    },
  },
  deep_nesting: {
    reason: 'invalid_record',
    make: (r, i) => {
      const d = 33 + r.int(1500);
      return b(r.next() < 0.5 ? `{"id":"d${i}","title":"deep","extra":${'['.repeat(d)}${']'.repeat(d)}}` : `${'['.repeat(d)}${']'.repeat(d)}`);
    },
  },
  huge_number: {
    reason: 'invalid_record',
    make: (r) => b(`{"id":${r.pick(['1e400', '-1e400', '123456789012345678901234567890', '9007199254740993', '1e30', '-1e308'])},"title":"huge id"}`),
  },
  empty: {
    reason: 'invalid_record',
    make: (r) => b(r.pick(['{}', '[]', '""', 'null', '0', 'true', '{"id":"","title":""}', '[{}]'])),
  },
};

/** Good records with the awkward-but-valid things: unicode, escapes, extra fields, big numbers in extras, numeric ids. */
function good(r: Rng, i: number): { line: Buffer; id: string } {
  const rec: Record<string, unknown> = r.next() < 0.1 ? { id: 7_000_000 + i } : { id: `g${i}` };
  rec.title = r.pick([`Widget ${r.word()}`, 'Café — crème brûlée 🍮', 'tab\tand\u0001escaped', '<b>HTML</b> &amp; co', 'x']);
  if (r.next() < 0.5) rec.description = `desc ${r.word()} ${'z'.repeat(r.int(200))}`;
  if (r.next() < 0.3) rec.mpn = `MX-${r.int(10_000)}`;
  if (r.next() < 0.2) rec.extra = { price: r.pick([1e308, -0, 0.1, 2 ** 60]), tags: [r.word(), { nested: [1, [2, [3]]] }] };
  return { line: b(JSON.stringify(rec)), id: String(rec.id) };
}

test('10,000 generated bad lines mixed with good ones: every bad line is rejected with its line number and reason, every good one is in the stream, the producer does not crash', async () => {
  const r = prng(20240601);
  const kinds = Object.keys(BAD);
  const lines: Buffer[] = [];
  const expected = new Map<number, string>(); // line number → reason
  const goodIds: string[] = [];
  let bad = 0;
  while (bad < 10_000 || goodIds.length < 2_000) {
    if (bad < 10_000 && (goodIds.length >= 2_000 || r.next() < 0.83)) {
      const kind = kinds[bad % kinds.length]!;
      lines.push(BAD[kind]!.make(r, bad));
      expected.set(lines.length, BAD[kind]!.reason);
      bad++;
    } else {
      const g = good(r, goodIds.length);
      lines.push(g.line);
      goodIds.push(g.id);
    }
  }
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline, FAST, { limits: { maxRecordBytes: MAX_BYTES } });
  const file = join(dir, 'input.jsonl');
  const rejectsFile = join(dir, 'rejects.jsonl');
  writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, b('\n')])));
  try {
    const p = cli(['--config', config, 'produce', file, '--rejects', rejectsFile], server.url);
    const code = await exited(p);
    const out = p.output();
    assert.is(code, 1, 'exit 1: lines were rejected');
    const done = JSON.parse(out.split('\n').find((l) => l.includes('"event":"produce.done"')) ?? 'null') as { produced: number; rejected: number } | null;
    assert.ok(done, `the producer finished (no crash): ${out.slice(-2000)}`);
    assert.is(done.produced, goodIds.length);
    assert.is(done.rejected, 10_000);

    const rejects = readFileSync(rejectsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; reason: string; source: string });
    assert.is(rejects.length, 10_000);
    const got = new Map(rejects.map((x) => [x.line, x.reason]));
    const wrong = [...expected].filter(([line, reason]) => got.get(line) !== reason).slice(0, 5);
    assert.equal(
      wrong.map(([line, reason]) => `${line}: expected ${reason}, got ${got.get(line)} (${lines[line - 1]!.subarray(0, 80).toString('latin1')})`),
      [],
    );
    assert.ok(rejects.every((x) => x.source === file));
    assert.is((out.match(/: rejected \(/g) ?? []).length, 10_000, 'each rejected line reported on stderr');

    const entries = await redis.xrangeBuffer(new Keys(pipeline).stream('in'), '-', '+');
    const ids = entries.map(([, f]) => decodeEnvelope(f[3]!).key);
    assert.equal(ids, goodIds, 'every good record in the stream, in order, once');
  } finally {
    rmSync(config, { force: true });
  }
});

test('garbage entries added straight to stage streams (not msgpack, not an envelope, missing fields) are dead-lettered as undecodable, and the run goes on', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  const r = prng(7);
  const packr = new Packr({ useRecords: false });
  const garbage: ((i: number) => (string | Buffer)[])[] = [
    (i) => ['k', `x${i}`, 'e', Buffer.from(Array.from({ length: 1 + r.int(40) }, () => r.int(256)))],
    (i) => ['k', `x${i}`],
    () => ['foo', 'bar'],
    (i) => ['k', `x${i}`, 'e', packr.pack([1, 2, 3])],
    (i) => ['k', `x${i}`, 'e', packr.pack({ ...newEnvelope({ id: `x${i}`, title: 't' }), v: 2 })],
    (i) => ['k', `other${i}`, 'e', encodeEnvelope(newEnvelope({ id: `x${i}`, title: 't' }))],
    (i) => ['e', packr.pack({ v: 1, key: `x${i}`, input: { id: `x${i}` }, outputs: {}, hops: [] })],
    (i) => ['k', `x${i}`, 'e', ''],
  ];
  const workers = startWorkers(config);
  const sent = new Map<string, string>(); // `<stream>/<entry id>` of each garbage entry → the stage that reads it
  try {
    for (let round = 0; round < 4; round++) {
      const lines = Array.from({ length: 100 }, (_, i) =>
        JSON.stringify({ id: `ok${round}-${i}`, title: `fine ${i}`, ...(i % 2 ? { mpn: `M${i}` } : {}) }),
      ).join('\n');
      await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
      for (let i = 0; i < 50; i++) {
        const [stream, stage] = r.pick([
          ['in', 'preprocess'],
          ['validate', 'validate'],
          ['store', 'store'],
        ] as const);
        const id = (await redis.xadd(keys.stream(stream), '*', ...garbage[i % garbage.length]!(round * 100 + i)))!;
        sent.set(`${stream}/${id}`, stage);
      }
    }
    await waitFor('good records stored, garbage dead-lettered', async () => (await redis.scard(keys.products)) === 400 && (await redis.xlen(keys.dlq)) === 200);
  } finally {
    await stopAll(workers);
  }
  const dlq = await redis.xrange(keys.dlq, '-', '+');
  for (const [, fields] of dlq) {
    const f = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
    assert.is(f.reason, 'undecodable', f.error);
    const where = `${f.stream}/${f.id}`;
    assert.is(f.stage, sent.get(where), `dead-lettered by the stage that reads it (${where})`);
    assert.is(f.deliveries, '1', 'not retried: it cannot ever decode');
    sent.delete(where);
  }
  assert.is(sent.size, 0, 'every garbage entry is in the DLQ');
  for (const s of ['in', 'validate', 'store']) {
    const group = s === 'in' ? 'preprocess' : s;
    assert.is(((await redis.xpending(keys.stream(s), group)) as [number])[0], 0, `${s}: nothing left pending`);
  }
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
});
test.run();
