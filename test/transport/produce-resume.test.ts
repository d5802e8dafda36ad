/**
 * A named producer run (`--run-id`) resumed after a crash or Ctrl-C: any batch size, never on an
 * input it was not started on, never past records Redis lost; the state read retried like a batch.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProducerGapError, RunInputMismatchError } from '../../lib/core/errors.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const lines = (n: number, p = 'r') => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${p}${i}`, title: `item ${i}` }));
/** The first `n` lines, then the producer dies. */
const dying = (all: string[], n: number) =>
  Readable.from(
    (function* () {
      for (const l of all.slice(0, n)) yield l + '\n';
      throw new Error('producer killed');
    })(),
  );
const idsIn = async (stream: string) => (await redis.xrange(stream, '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: Error) => e,
  );

test('resumed with another --batch, every record once (batch numbers had skipped 49,000 of 200,000 in an audit)', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  const all = lines(450);
  const opts = { stream, source: 'test', maxRecordBytes: 65536, runId: 'resume-batch' };
  assert.match((await rejection(produce(redis, dying(all, 250), { ...opts, batchSize: 100 })))!.message, /killed/);
  assert.is(await redis.xlen(stream), 200);
  const again = await produce(redis, Readable.from([all.join('\n')]), { ...opts, batchSize: 64 });
  assert.equal([again.skipped, again.produced], [200, 250]);
  const ids = await idsIn(stream);
  assert.equal([ids.length, new Set(ids).size], [450, 450]);
});

test('a run id used on another input is refused before anything of it is written (it had skipped the whole day-2 file)', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  const opts = { stream, source: 'test', maxRecordBytes: 65536, batchSize: 100, runId: 'nightly' };
  await produce(redis, Readable.from([lines(300, 'day1-').join('\n')]), opts);
  const err = await rejection(produce(redis, Readable.from([lines(300, 'day2-').join('\n')]), opts));
  assert.instance(err, RunInputMismatchError);
  assert.match(err!.message, /run id nightly: the first 300 records for .* differ from those the run added/);
  // A shorter input than the run had added is not the same input either.
  const shorter = await rejection(produce(redis, Readable.from([lines(100, 'day1-').join('\n')]), opts));
  assert.match(shorter!.message, /this input has 100 records for .*, the run had added 300/);
  assert.is(await redis.xlen(stream), 300, 'nothing of day 2 written');
  // The same input again: nothing to do.
  const same = await produce(redis, Readable.from([lines(300, 'day1-').join('\n')]), opts);
  assert.equal([same.produced, same.skipped], [0, 300]);
});

test('Redis lost what the run had added (a restart without persistence): the next batch stops the run, naming the loss; the same run id then adds them again', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  const all = lines(450);
  const opts = { stream, source: 'test', maxRecordBytes: 65536, batchSize: 100, runId: 'lossy' };
  let batches = 0;
  const beforeBatch = async () => {
    if (++batches === 3) await redis.del(stream, `${stream}:producer:lossy`); // the restart: stream and state gone
  };
  const err = await rejection(produce(redis, Readable.from([all.join('\n')]), { ...opts, beforeBatch }));
  assert.instance(err, ProducerGapError);
  assert.match(err!.message, /Redis has 0 of the 200 records this run had added before this batch/);
  assert.is(await redis.xlen(stream), 0, 'nothing written past the gap');
  const again = await produce(redis, Readable.from([all.join('\n')]), opts);
  assert.is(again.produced, 450);
  assert.is(new Set(await idsIn(stream)).size, 450);
});

test('CLI: the state read waits out a busy Redis like a batch does (with --run-id it had exited 16); Ctrl-C names the run id to resume with; - is stdin; no empty rejects file', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const dir = mkdtempSync(join(tmpdir(), 'produce-'));
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, lines(2_000).join('\n'));
  const stream = new Keys(pipeline).stream('in');
  const busy = client(server.url);
  try {
    await redis.config('SET', 'busy-reply-threshold', '100');
    const script = busy
      .eval('local t = redis.call("TIME"); while true do local n = redis.call("TIME"); if n[1] - t[1] > 6 then break end end return 1', 0)
      .catch(() => 0);
    await new Promise((r) => setTimeout(r, 300));
    const p = cli(['--config', config, 'produce', '--run-id', 'busy-run', '--rejects', join(dir, 'rejects.jsonl'), '-'], server.url, {
      input: lines(300, 'stdin-').join('\n'),
    });
    await waitFor('produce says it waits', () => /waiting: .*BUSY/.test(p.output()), 20_000);
    await script;
    assert.is(await exited(p), 0, p.output());
    assert.match(p.output(), /"produced":300/);
    assert.match(p.output(), /produce: going on after \d+ s of waiting/);
    assert.not.ok(existsSync(join(dir, 'rejects.jsonl')), 'no rejects, no rejects file');

    // Ctrl-C mid-run: the run id to resume with, then the resume adds the rest once.
    const slow = cli(['--config', config, 'produce', '--batch', '10', '--rejects', join(dir, 'rejects.jsonl'), input], server.url);
    await waitFor('some batches in', async () => (await redis.xlen(stream)) > 300, 10_000);
    slow.kill('SIGINT');
    assert.is(await exited(slow), 130);
    const runId = /--run-id (\S+)/.exec(slow.output())?.[1];
    assert.ok(runId, `the run id is named: ${slow.output()}`);
    assert.match(
      slow.output(),
      new RegExp(
        `stopped by SIGINT after \\d+ records? produced( \\(\\d+ more sent, [^)]*\\))?; to resume \\(nothing twice\\): pipeline produce ${input} --run-id`,
      ),
    );
    const resumed = cli(['--config', config, 'produce', '--run-id', runId!, '--rejects', join(dir, 'rejects.jsonl'), input], server.url);
    assert.is(await exited(resumed), 0, resumed.output());
    const ids = await idsIn(stream);
    assert.equal([ids.length, new Set(ids).size], [2_300, 2_300]);

    // A missing file whose name holds a Redis word is a file error, exit 1 (it had been "Redis loading", exit 16).
    const missing = cli(['--config', config, 'produce', join(dir, 'LOADING-ssl.jsonl')], server.url);
    assert.is(await exited(missing), 1);
    assert.match(missing.output(), /error: .*LOADING-ssl\.jsonl: cannot read it \(ENOENT\)/);
  } finally {
    await redis.config('SET', 'busy-reply-threshold', '5000');
    busy.disconnect();
    rmSync(dir, { recursive: true, force: true });
    rmSync(config, { force: true });
  }
});

test('CLI: Ctrl-C while a batch waits for its answer says it was sent and may be in (the count had said 0 produced of the 500 Redis then held)', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const admin = client(server.url);
  try {
    // Writes held: the batch is sent, and its answer does not come.
    await admin.client('PAUSE', 30_000, 'WRITE');
    const p = cli(['--config', config, 'produce', '--batch', '500', '--rejects', join(tmpdir(), `${pipeline}-rejects.jsonl`), '-'], server.url, {
      input: lines(700).join('\n'),
    });
    await waitFor('the batch sent', async () => /cmd=fcall/.test(String(await admin.client('LIST'))), 10_000);
    p.kill('SIGINT');
    assert.is(await exited(p), 130);
    assert.match(
      p.output(),
      /produce: stopped by SIGINT after 0 records produced \(500 more sent, not acknowledged yet: they may be in\); to resume \(nothing twice\): pipeline produce < <the same input> --run-id \S+/,
    );
  } finally {
    await admin.client('UNPAUSE');
    admin.disconnect();
    rmSync(config, { force: true });
  }
});

test('CLI: a --run-id that is no run id is refused before the run, naming the option (it failed as produce.runId after telling to resume with it)', async () => {
  const config = writeConfig(randomPipeline());
  const p = cli(['--config', config, 'produce', '--run-id', '../x', '-'], server.url, { input: lines(3).join('\n') });
  assert.is(await exited(p), 1, p.output());
  assert.match(p.output(), /^error: option '--run-id <id>' argument '\.\.\/x' is invalid\. Expected 1-128 characters of \[A-Za-z0-9_\.:-\]\.$/m);
  assert.not.match(p.output(), /to resume/);
  rmSync(config, { force: true });
});

test.run();
