/** `pipeline status`'s table: its lag column is the backlog `top` and the autoscaler count. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { PipelineStatus } from '../../lib/ops/inspect.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { formatSummary } from '../../scripts/commands/start.js';
import { formatStatus } from '../../scripts/commands/status.js';
import { renderFrame } from '../../scripts/commands/top.js';

const status: PipelineStatus = {
  pipeline: 'p',
  streams: [
    { stream: 'in', key: '{p}:in', length: 3, added: 3, lastId: '1-2', stage: 'preprocess' },
    {
      stream: 'classify',
      key: '{p}:classify',
      length: 5,
      added: 9,
      lastId: '1-8',
      stage: 'classify',
      group: { name: 'classify', lag: 2, pending: 1, consumers: 1, entriesRead: 7, lastDeliveredId: '1-6' },
    },
    { stream: 'review', key: '{p}:review', length: 4, added: 4, lastId: '1-3' },
  ],
  dlq: 0,
  stored: 0,
  revokeMarks: 0,
  revoked: 0,
  at: 0,
};

const cells = (table: string, stream: string) =>
  table
    .split('\n')
    .find((l) => l.startsWith(`${stream} `))!
    .trim()
    .split(/\s+/);

test('lag: the group lag; the whole stream before a stage has its group (was "-"); "-" where no stage reads', () => {
  const table = formatStatus(status);
  assert.equal(cells(table, 'in'), ['in', 'preprocess', '3', '3', '3', '-', '-']);
  assert.equal(cells(table, 'classify'), ['classify', 'classify', '5', '9', '2', '1', '1']);
  assert.equal(cells(table, 'review'), ['review', '-', '4', '4', '-', '-', '-']);
});

test('a lag Redis could not report and was counted shows as ~N', () => {
  const classify = status.streams[1]!;
  const estimated = { ...status, streams: [{ ...classify, group: { ...classify.group!, lag: 7, lagEstimated: true } }] };
  assert.equal(cells(formatStatus(estimated), 'classify'), ['classify', 'classify', '5', '9', '~7', '1', '1']);
});

test("another sink's products are not counted as 0: the header says where they are", () => {
  assert.match(formatStatus(status), /^pipeline p {2}stored 0 {2}revoked 0 {2}revoke marks 0\n/);
  assert.match(
    formatStatus(status, undefined, 'postgres'),
    /^pipeline p {2}stored: in the postgres sink \(not counted here\) {2}revoked 0 {2}revoke marks 0\n/,
  );
});

test("a sharded pipeline's shard lines under another sink say no stored count (they said `stored 0` beneath the header's `not counted here`)", () => {
  const shard = (n: number) => ({ shard: n, tag: `{p:${n}}`, streams: status.streams, dlq: n, stored: 0, revokeMarks: 0, revoked: 0 });
  const sharded: PipelineStatus = { ...status, dlq: 1, shards: [shard(0), shard(1)] };
  const lines = (sink?: string) =>
    formatStatus(sharded, undefined, sink)
      .split('\n')
      .filter((l) => l.startsWith('shard '));
  assert.equal(lines().length, 2);
  assert.ok(
    lines().every((l) => l.endsWith(', stored 0')),
    'redis sink: each shard counts its products',
  );
  const postgres = lines('postgres');
  assert.equal(postgres.length, 2);
  assert.match(postgres[1]!, /^shard 1 \{p:1\} slot \d+: lag 5, pending 1, dlq 1, revoked 0, revoke marks 0$/);
  assert.not.match(postgres.join('\n'), /stored/);
});

test('the revoked records and the revoke marks outstanding: in the header, per shard, and in `top`', () => {
  const shard = (n: number) => ({ shard: n, tag: `{p:${n}}`, streams: status.streams, dlq: 0, stored: 0, revokeMarks: n + 1, revoked: 2 * n });
  const sharded: PipelineStatus = { ...status, revokeMarks: 3, revoked: 2, shards: [shard(0), shard(1)] };
  const text = formatStatus(sharded);
  assert.match(text, /^pipeline p {2}stored 0 {2}revoked 2 {2}revoke marks 3 {2}shards 2\n/);
  assert.match(text, /\nshard 1 \{p:1\} slot \d+: lag 5, pending 1, dlq 0, revoked 2, revoke marks 2, stored 0\n/);
  const frame = { pipeline: 'p', at: 0, rows: [], dlq: 1, stored: 4, revoked: 7, revokeMarks: 5, fused: [] };
  assert.match(renderFrame(frame, 1000), /\ndlq 1 {2}stored 4 {2}revoked 7 {2}revoke marks 5\n/);
});

test("the table names the stages that run fused, as `top` does (their rows read 0 added, 0 consumers: an idle stage's, unexplained)", () => {
  const table = formatStatus(status, undefined, 'redis', [
    { from: 'preprocess', to: 'classify' },
    { from: 'extract', to: 'validate' },
  ]);
  assert.match(
    table,
    /\n\nfused \(run in the batch of the stage before; their streams count only the rest\): classify after preprocess, validate after extract\n$/,
  );
  assert.not.match(formatStatus(status), /fused/, 'nothing fused: no line');
});

test('a stage fused after several (validate after each extractor) is named once with them all, in `status` and `top` as in `start` (it had a clause per upstream)', () => {
  const fused = [
    { from: 'preprocess', to: 'classify' },
    { from: 'extract.a', to: 'validate' },
    { from: 'extract.b', to: 'validate' },
    { from: 'validate', to: 'match' },
  ];
  const line = 'classify after preprocess, validate after extract.a/extract.b, match after validate';
  assert.ok(formatStatus(status, undefined, 'redis', fused).endsWith(`: ${line}\n`), 'status');
  const frame = { pipeline: 'p', at: 0, rows: [], dlq: 0, stored: 0, revoked: 0, revokeMarks: 0, fused };
  assert.ok(renderFrame(frame, 1000).endsWith(`: ${line}\n`), 'top');
  assert.is(renderFrame(frame, 1000).match(/validate after/g)?.length, 1);
});

/** The pipeline before a first run: nothing in Redis. */
const empty: PipelineStatus = { pipeline: 'p', streams: [], dlq: 0, stored: 0, revokeMarks: 0, revoked: 0, at: 0 };

test("pipeline start's summary is this run's: reads, terminal entries, dead letters and stored products less what was there before (they were all-time totals)", () => {
  const config = { pipeline: 'p', stages: [{ name: 'store', kind: 'store', settings: { sink: 'redis' } }], routes: {} } as unknown as ResolvedConfig;
  const classify = status.streams[1]!;
  const before: PipelineStatus = {
    ...status,
    streams: [status.streams[0]!, { ...classify, group: { ...classify.group!, entriesRead: 4 } }, { ...status.streams[2]!, added: 1 }],
    dlq: 2,
    stored: 10,
  };
  const after: PipelineStatus = { ...status, dlq: 3, stored: 13 };
  const text = formatSummary(config, after, before, 3, 0, { counts: { 'preprocess→classify→store': 3 }, examples: [] }, 1);
  assert.match(text, /done in 1\.0 s \(the numbers are this run's\)/);
  assert.match(text, /\n {4}classify {15}3\n/, 'classify read 7 in all, 4 of them before');
  assert.match(text, /\n {2}review {5}3\n/, 'review: 4 added in all, 1 before');
  assert.match(text, /\n {2}dlq {8}1\n/);
  assert.match(text, /\n {2}stored {5}3 \(the pipeline holds 13: 10 from earlier runs\)\n/);
});

test("pipeline start's summary marks fused stages and says why their groups read little (it showed classify 0 unexplained)", () => {
  const config = {
    pipeline: 'p',
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in', process: 'one', fuse: true, redisUrl: 'r' },
      { name: 'classify', kind: 'classify', input: 'classify', process: 'one', fuse: true, redisUrl: 'r' },
      { name: 'store', kind: 'store', input: 'store', process: 'two', fuse: true, redisUrl: 'r', settings: { sink: 'redis' } },
    ],
    routes: { preprocess: [{ to: 'classify' }], classify: [{ to: 'store' }] },
  } as unknown as ResolvedConfig;
  const text = formatSummary(config, status, empty, 3, 0, { counts: {}, examples: [] }, 1);
  assert.match(text, /\n {4}classify {15}7 \*\n/);
  // A fan-out (validate's record with incomplete attributes, to match and review) is never fused: it
  // reaches the fused stage's group through its stream, as `npm start`'s `match 1 *` did, which the
  // footnote had put down to retries and replays alone.
  assert.match(
    text,
    /\n {4}\* fused: run in the batch of the stage before, so their group reads only the rest \(fan-outs, retries, replays\): classify after preprocess\n/,
  );
  assert.not.match(text, /store after/, 'store runs in another process: not fused');
});

test("pipeline start's summary under the postgres sink says where the products are (it printed stored 0 and no route)", () => {
  const config = (sink: string) => ({ pipeline: 'p', stages: [{ name: 'store', kind: 'store', settings: { sink } }], routes: {} }) as unknown as ResolvedConfig;
  const counts = { 'preprocess→store': 2 };
  const redisSummary = formatSummary(config('redis'), { ...status, stored: 2 }, empty, 2, 0, { counts, examples: [] }, 1);
  assert.match(redisSummary, /per route \(stored products\):\n {4}preprocess→store +2\n/);
  assert.match(redisSummary, /\n {2}stored {5}2\n/);
  const pg = formatSummary(config('postgres'), status, empty, 2, 0, { counts: {}, examples: [] }, 1);
  assert.match(pg, /per route \(stored products\): in the postgres sink \(pipeline export --sink postgres\)\n/);
  assert.match(pg, /\n {2}stored {5}in the postgres sink \(not counted here\)\n/);
  assert.not.match(pg, /stored {5}0/);
});

test("pipeline start's summary shows the examples heading only over examples (a pipeline of your own stages printed it bare)", () => {
  const config = { pipeline: 'p', stages: [{ name: 'store', kind: 'store', settings: { sink: 'redis' } }], routes: {} } as unknown as ResolvedConfig;
  const counts = { 'preprocess→price→store': 5 };
  const none = formatSummary(config, { ...status, stored: 5 }, empty, 5, 0, { counts, examples: [] }, 1);
  assert.not.match(none, /examples:/);
  assert.match(none, /preprocess→price→store +5\n {2}dlq/);
  const line = '    Koss EQ50\n      → {"brand":"Koss","mpn":"EQ50"}';
  const some = formatSummary(config, { ...status, stored: 5 }, empty, 5, 0, { counts, examples: [line] }, 1);
  assert.match(some, /\n {2}examples:\n {4}Koss EQ50\n/);
});

test.run();
