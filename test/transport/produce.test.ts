import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
/** The error message a promise rejects with ('' when it resolves). */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => '',
    (e: Error) => e.message,
  );

test('--run-id resumes after a crash: the batches that went through are skipped, the rest produced, every record in the stream once', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const lines = Array.from({ length: 450 }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}` }));
  // The first run dies after 250 lines: two full batches of 100 went through, the third was never sent.
  const dying = Readable.from(
    (function* () {
      for (const l of lines.slice(0, 250)) yield l + '\n';
      throw new Error('producer killed');
    })(),
  );
  const opts = { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536, batchSize: 100, runId: 'nightly-2026-11-25' };
  assert.match(await failure(produce(redis, dying, opts)), /killed/);
  assert.is(await redis.xlen(keys.stream('in')), 200);
  const again = await produce(redis, Readable.from([lines.join('\n')]), opts);
  assert.is(again.skipped, 200, 'the two batches of the first run');
  assert.is(again.produced, 250);
  const ids = (await redis.xrange(keys.stream('in'), '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
  assert.is(ids.length, 450);
  assert.is(new Set(ids).size, 450, 'no record twice');
  // The same input once more: everything skipped.
  const third = await produce(redis, Readable.from([lines.join('\n')]), opts);
  assert.equal([third.produced, third.skipped], [0, 450]);
  assert.match(await failure(produce(redis, Readable.from(['{}']), { ...opts, runId: 'no spaces' })), /runId/);
});

test('bad lines are reported with line number and reason, kept in the rejects file, and the rest produced; exit 1', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline, undefined, { limits: { maxRecordBytes: 200 } });
  const rejects = join(tmpdir(), `${pipeline}-rejects.jsonl`);
  const input = Buffer.concat([
    Buffer.from('{"id":"a1","title":"good one"}\n'),
    Buffer.from('{"id":"a2","title": broken\n'),
    Buffer.from('{"id":"a3"}\n'),
    Buffer.from('{"id":"a4","title":"x","brand":7}\n'),
    Buffer.from(`{"id":"a5","title":"${'y'.repeat(300)}"}\n`),
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]), // invalid UTF-8
    Buffer.from('\n[1,2]\n'),
    Buffer.from('{"id":42,"title":"numeric id is accepted as a string"}'),
  ]);
  const p = cli(['--config', config, 'produce', '--rejects', rejects], server.url, { input });
  const code = await exited(p);
  const out = p.output();
  assert.is(code, 1, out);
  const kept = readFileSync(rejects, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; reason: string; error: string });
  rmSync(rejects);
  assert.equal(
    kept.map((r) => [r.line, r.reason]),
    [
      [2, 'invalid_json'],
      [3, 'invalid_record'],
      [4, 'invalid_record'],
      [5, 'oversized'],
      [6, 'invalid_utf8'],
      [8, 'invalid_record'],
    ],
  );
  assert.match(kept[1]!.error, /field "title": expected a non-empty string/);
  assert.match(kept[2]!.error, /field "brand": expected a string, got number/);
  assert.match(out, /stdin:5: rejected \(oversized\): line is 322 bytes, over the limit of 200 \(limits\.maxRecordBytes\)/);
  assert.is(await redis.xlen(new Keys(pipeline).stream('in')), 2);
});

test('a line of a lone 0xA0 byte is rejected as invalid UTF-8, not skipped as blank (latin1 reads it as a no-break space)', async () => {
  const pipeline = randomPipeline();
  const seen: [number, string][] = [];
  const input = Readable.from([
    Buffer.concat([Buffer.from('{"id":"b1","title":"one"}\n \t\r\n'), Buffer.from([0xa0, 0x0a]), Buffer.from('{"id":"b2","title":"two"}\n')]),
  ]);
  const summary = await produce(redis, input, {
    stream: new Keys(pipeline).stream('in'),
    source: 'mem',
    maxRecordBytes: 1000,
    onReject: (r) => seen.push([r.line, r.reason]),
  });
  assert.equal(seen, [[3, 'invalid_utf8']]);
  assert.equal([summary.lines, summary.produced, summary.rejected], [4, 2, 1]);
});

test('a rejects file that cannot be written: produce refuses before the first record; the library fails the run at its end, good lines in', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const p = cli(['--config', config, 'produce', '--rejects', '/nonexistent-dir/rejects.jsonl'], server.url, { input: '{"id":"c1","title":"one"}\n{bad\n' });
  assert.is(await exited(p), 1);
  assert.match(p.output(), /error: --rejects \/nonexistent-dir\/rejects\.jsonl: cannot write there \(ENOENT/);
  assert.not.match(p.output(), /^\s+at /m, 'no stack trace');
  const stream = new Keys(pipeline).stream('in');
  assert.is(await redis.xlen(stream), 0);
  const input = Readable.from(['{"id":"c1","title":"one"}\n{bad\n{"id":"c2","title":"two"}\n']);
  const message = await failure(produce(redis, input, { stream, source: 'mem', maxRecordBytes: 1000, rejectsFile: '/nonexistent-dir/rejects.jsonl' }));
  assert.match(message, /1 rejected line\(s\) could not be kept in \/nonexistent-dir\/rejects\.jsonl: ENOENT/);
  assert.is(await redis.xlen(stream), 2);
});

test('a bad line is printed with its control characters escaped: an ESC sequence in the input does not reach the terminal', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const rejects = join(tmpdir(), `${pipeline}-rejects.jsonl`);
  const p = cli(['--config', config, 'produce', '--rejects', rejects], server.url, { input: '\u001b[2J\u001b]0;owned\u0007\n{"id":"e1","title":"ok"}\n' });
  assert.is(await exited(p), 1);
  rmSync(rejects, { force: true });
  rmSync(config, { force: true });
  assert.match(p.output(), /^stdin:1: rejected \(invalid_json\): Unexpected token '\\u001b', "\\u001b\[2J\\u001b\]0;owned\\u0007" is not valid JSON$/m);
  // eslint-disable-next-line no-control-regex -- the point: none is printed
  assert.not.match(p.output(), /[\u0000-\u0009\u000b-\u001f]/);
  assert.is(await redis.xlen(new Keys(pipeline).stream('in')), 1);
});

test('a rejected line is kept whole in the rejects file (from stdin, its only copy): fixed, it can be produced again', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  const rejectsFile = join(tmpdir(), `${randomPipeline()}-rejects.jsonl`);
  const long = `{"id":"k1","title":"${'a'.repeat(600)}","brand":7}`; // a wrong-typed field, well past 200 characters
  const broken = `{"id":"k2","title":"${'b'.repeat(600)}"`; // no closing brace
  const latin1 = Buffer.concat([Buffer.from(`{"id":"k3","title":"${'c'.repeat(600)} caf`), Buffer.from([0xe9]), Buffer.from('"}')]);
  const input = Readable.from([Buffer.concat([Buffer.from(`${long}\n${broken}\n`), latin1, Buffer.from('\n')])]);
  const summary = await produce(redis, input, { stream, source: 'stdin', maxRecordBytes: 65536, rejectsFile });
  const kept = readFileSync(rejectsFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; reason: string; raw: string });
  rmSync(rejectsFile);
  assert.equal(
    kept.map((r) => [r.line, r.reason]),
    [
      [1, 'invalid_record'],
      [2, 'invalid_json'],
      [3, 'invalid_utf8'],
    ],
  );
  assert.equal([kept[0]!.raw, kept[1]!.raw], [long, broken]);
  assert.ok(Buffer.from(kept[2]!.raw, 'latin1').equals(latin1), 'the bytes of a line that is not UTF-8, one character per byte');
  assert.equal([summary.rejected, await redis.xlen(stream)], [3, 0]);
});

test.run();
