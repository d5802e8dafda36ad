/**
 * A JSONL file that starts with a UTF-8 byte order mark (Windows editors, Excel's "CSV UTF-8"
 * save) is read like one without: `pipeline eval --input/--train` had failed with
 * `FILE:1: not JSON (Unexpected token '\ufeff' ...)`, and so had the training data set and a
 * reviewers' labels file. All of them parse a line through lib/core/json-line.ts, which drops it;
 * `pipeline produce` always did (its TextDecoder), kept here so it stays so.
 */
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLabelled } from '../../training/eval/dataset.js';
import { loadDataset } from '../../training/data.js';
import { mergeLabels } from '../../training/review-labels.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';

const BOM = '\ufeff';
const dir = mkdtempSync(join(tmpdir(), 'jsonl-bom-'));
const row = (id: string, category = 'audio') =>
  JSON.stringify({ id, title: `Koss ${id} Stereo Headphones`, category, brand: 'Koss', source_category: 'headphones' });
/** Two rows, the file starting with a BOM; CRLF line ends, as such files often have. */
const withBom = (...lines: string[]) => BOM + lines.join('\r\n') + '\r\n';

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('eval --input / --train (loadLabelled): a leading BOM is dropped, the first row read as any other', async () => {
  const file = join(dir, 'bom.jsonl');
  writeFileSync(file, withBom(row('a1'), row('a2', 'storage')));
  const loaded = await loadLabelled(file, { gtinShare: 0, badGtinShare: 0, seed: 1 });
  assert.equal(
    loaded.rows.map((r) => [r.id, r.category]),
    [
      ['a1', 'audio'],
      ['a2', 'storage'],
    ],
  );
  // Files joined with cat: each part's BOM starts a line.
  writeFileSync(file, withBom(row('b1')) + withBom(row('b2')));
  assert.equal(
    (await loadLabelled(file, { gtinShare: 0, badGtinShare: 0, seed: 1 })).rows.map((r) => r.id),
    ['b1', 'b2'],
  );
});

test("the training data set (train.jsonl, dev.jsonl) and a reviewers' labels file: a leading BOM is dropped", () => {
  writeFileSync(join(dir, 'train.jsonl'), withBom(row('t1'), row('t2')));
  writeFileSync(join(dir, 'dev.jsonl'), withBom(row('d1')));
  const ds = loadDataset(dir);
  assert.equal([ds.train.map((r) => r.id), ds.dev.map((r) => r.id)], [['t1', 't2'], ['d1']]);
  const labels = join(dir, 'labels.jsonl');
  writeFileSync(labels, withBom(JSON.stringify({ id: 't1', title: 'Koss t1 Stereo Headphones', category: 'audio', decision: 'confirm' })));
  const m = mergeLabels(ds.train, ds.dev, [labels]);
  assert.equal(
    m.errors.map((e) => e.message),
    [],
  );
  assert.is(m.files[0]!.replaced, 1);
});

test('pipeline produce: a leading BOM is not a rejected line (TextDecoder drops it)', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  try {
    const keys = new Keys(randomPipeline());
    const rejects: string[] = [];
    const r = await produce(redis, Readable.from([Buffer.from(withBom(row('p1'), row('p2')))]), {
      stream: keys.stream('in'),
      source: 'bom.jsonl',
      maxRecordBytes: 65536,
      onReject: (x) => rejects.push(JSON.stringify(x)),
    });
    assert.equal([r.produced, r.rejected, rejects], [2, 0, []]);
    const ids = (await redis.xrange(keys.stream('in'), '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
    assert.equal(ids, ['p1', 'p2']);
  } finally {
    redis.disconnect();
    await server.close();
  }
});

test.run();
