/**
 * `pipeline produce --wait-replicas auto`, the default: with a replica, a batch counts as produced
 * only once the replica has it (a replica stopped with SIGSTOP: WAIT 1 times out, the batch is sent
 * again within --retry-for, then the ReplicationError line and exit 16), `--wait-replicas 0` does
 * not wait; a redis-server without replicas is sent no WAIT at all (INFO commandstats). Real
 * servers (a master, its replica, a standalone one), produce as a CLI child process. The library's
 * `produce()` defaults to "auto" too (it defaulted to 0: a program embedding it had a batch the
 * stalled replica never got counted as produced): the same ReplicationError, and no WAIT to a
 * standalone server.
 */
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReplicationError } from '../../lib/core/errors.js';
import { produce as produceLib, type ProduceOptions } from '../../lib/producer/producer.js';
import { EXIT_CODES } from '../../lib/redis/diagnose.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { commandCalls, ReplicatedPair } from '../helpers/replica.js';

const pair = await ReplicatedPair.start();
const standalone = await startRedis();
const alone = client(standalone.url);
const files: string[] = [];

const lines = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: 'Acme widget' })).join('\n') + '\n';

/** `pipeline produce -` of `input` against `url`; its exit code and output. */
async function produce(pipeline: string, url: string, input: string, flags: string[] = []): Promise<{ code: number | null; out: string }> {
  const config = writeConfig(pipeline);
  files.push(config);
  const c = cli(['--config', config, 'produce', '-', '--rejects', `${config}.rejects`, ...flags], url, { input });
  const code = await exited(c);
  return { code, out: c.output() };
}

test('with a replica, by default: while it acknowledges nothing, the ReplicationError and exit 16 (it was exit 0), --wait-replicas 0 does not wait; produced once the replica has it', async () => {
  const pipeline = randomPipeline('pa');
  const input = new Keys(pipeline).stream('in');
  pair.stall();
  try {
    const short = await produce(pipeline, pair.master.url, lines('b', 5), ['--retry-for', '1500']);
    assert.is(short.code, EXIT_CODES.unavailable, `exit ${String(short.code)}: ${short.out.slice(-800)}`);
    assert.match(short.out, /reached 0 of 1 replicas within 1500 ms \(is a replica down\?\)/);
    const off = await produce(pipeline, pair.master.url, lines('c', 5), ['--wait-replicas', '0', '--retry-for', '1500']);
    assert.is(off.code, 0, `--wait-replicas 0: ${off.out.slice(-800)}`);
  } finally {
    await pair.resume();
  }
  const waitsBefore = await commandCalls(pair.admin, 'wait');
  const ok = await produce(pipeline, pair.master.url, lines('a', 5));
  assert.is(ok.code, 0, ok.out);
  assert.ok((await commandCalls(pair.admin, 'wait')) > waitsBefore, 'waited for the replica');
  assert.is(await pair.admin.xlen(input), 15, 'every batch is in the master (the short one said so)');
});

test('standalone redis-server without replicas, by default: produced at once, no WAIT ever sent', async () => {
  const pipeline = randomPipeline('ps');
  const r = await produce(pipeline, standalone.url, lines('s', 20), ['--batch', '5']);
  assert.is(r.code, 0, r.out);
  assert.is(await alone.xlen(new Keys(pipeline).stream('in')), 20);
  assert.is(await commandCalls(alone, 'wait'), 0, 'cmdstat_wait absent');
});

/** The library's produce() of `n` lines into `pipeline`'s input, with no `waitReplicas`: its own default. */
const produceLines = (redis: Parameters<typeof produceLib>[0], pipeline: string, prefix: string, n: number, opts: Partial<ProduceOptions> = {}) =>
  produceLib(redis, Readable.from([lines(prefix, n)]), { stream: new Keys(pipeline).stream('in'), source: 'test', maxRecordBytes: 65_536, ...opts });

test('the library produce(), by default, with a stalled replica: the ReplicationError (it returned success); waitReplicas 0 does not wait', async () => {
  const pipeline = randomPipeline('pl');
  const redis = client(pair.master.url);
  pair.stall();
  try {
    const err = await produceLines(redis, pipeline, 'l', 5, { retryForMs: 1500 }).then(
      (summary) => summary,
      (e: unknown) => e,
    );
    assert.instance(err, ReplicationError, String(JSON.stringify(err)));
    assert.match((err as Error).message, /reached 0 of 1 replicas within 1500 ms \(is a replica down\?\)/);
    const off = await produceLines(redis, pipeline, 'm', 5, { retryForMs: 1500, waitReplicas: 0 });
    assert.is(off.produced, 5, 'waitReplicas 0: produced without waiting');
  } finally {
    await pair.resume();
    redis.disconnect();
  }
  const waitsBefore = await commandCalls(pair.admin, 'wait');
  const redis2 = client(pair.master.url);
  try {
    assert.is((await produceLines(redis2, pipeline, 'n', 5)).produced, 5);
  } finally {
    redis2.disconnect();
  }
  assert.ok((await commandCalls(pair.admin, 'wait')) > waitsBefore, 'waited for the replica');
});

test('the library produce() into a standalone redis-server, by default: produced at once, no WAIT ever sent', async () => {
  const pipeline = randomPipeline('pk');
  const redis = client(standalone.url);
  try {
    const summary = await produceLines(redis, pipeline, 'k', 20, { batchSize: 5 });
    assert.is(summary.produced, 20);
  } finally {
    redis.disconnect();
  }
  assert.is(await alone.xlen(new Keys(pipeline).stream('in')), 20);
  assert.is(await commandCalls(alone, 'wait'), 0, 'cmdstat_wait absent');
});

test('--wait-replicas takes auto or an integer >= 0: another value is refused before Redis is contacted', async () => {
  const r = await produce(randomPipeline('pv'), standalone.url, lines('v', 1), ['--wait-replicas', 'some']);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /option '--wait-replicas <n>' argument 'some' is invalid\. Expected auto or an integer >= 0\./);
});

test.after(async () => {
  for (const f of files) for (const path of [f, `${f}.rejects`]) rmSync(path, { force: true });
  alone.disconnect();
  await standalone.close();
  await pair.close();
});

test.run();
