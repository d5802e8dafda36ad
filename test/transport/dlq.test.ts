import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { StageOptions } from '../../lib/config/types.js';
import { BadIdError, BadRecordError, StageError } from '../../lib/core/errors.js';
import { getDeadLetter, purgeDeadLetters, replayDeadLetters } from '../../lib/ops/dlq.js';
import { DlqTally } from '../../lib/ops/inspect.js';
import { Script } from '../../lib/redis/script.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { fail, ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, stageThenStore, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { addDeadLetter } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);

/**
 * A test-only stage kind, registered only here: each record's `mode` says how it behaves.
 * ok | poison (fails until `fixed.poison`) | permanent (BadRecordError) | gate (fails until `gate.open`)
 * | transient:N (fails its first N attempts) | throwbatch (makes the whole batch call throw).
 */
const fixed = { poison: false };
const gate = { open: false };
const attempts = new Map<string, number>();
const flaky: StageFactory = () => ({
  kind: 'flaky',
  async process(batch) {
    if (batch.some((m) => m.envelope.input.mode === 'throwbatch')) throw new StageError('the batch call blew up');
    return batch.map((m) => {
      const key = m.envelope.key;
      const mode = String(m.envelope.input.mode ?? 'ok');
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (mode === 'poison' && !fixed.poison) return fail(new StageError(`poison ${key}: fails every time`));
      if (mode === 'permanent') return fail(new BadRecordError(`${key} can never work`));
      if (mode === 'gate' && !gate.open) return fail(new StageError('gate closed'));
      if (mode.startsWith('transient:') && n <= Number(mode.slice('transient:'.length))) return fail(new StageError(`transient failure ${n}`));
      return ok({ mode, attempts: n });
    });
  },
});

interface Setup {
  keys: Keys;
  logs: string[];
  stop: () => Promise<void>;
}

/** A two-stage pipeline, flaky → store, run in-process. */
function start(pipeline: string, options: Partial<StageOptions>): Setup {
  const config = resolveConfig(stageThenStore(pipeline, { name: 'flaky', kind: 'flaky' }, { ...FAST, ...options }), 'test', { env: { REDIS_URL: server.url } });
  const logs: string[] = [];
  const logger = createLogger({}, 'info', (l) => logs.push(l));
  const workers = ['flaky', 'store'].map((stage) => new Worker({ config, stage, stages: { ...STAGES, flaky }, logger }));
  const runs = workers.map((w) => w.run());
  return {
    keys: new Keys(pipeline),
    logs,
    stop: async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(runs);
    },
  };
}

async function produceLines(keys: Keys, records: object[]): Promise<void> {
  const input = Readable.from([records.map((r) => JSON.stringify(r)).join('\n')]);
  await produce(redis, input, { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
}

async function dlqEntries(keys: Keys): Promise<{ id: string; f: Record<string, Buffer> }[]> {
  const rows = await redis.xrangeBuffer(keys.dlq, '-', '+');
  return rows.map(([id, fields]) => ({
    id: id.toString(),
    f: Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i]!.toString(), fields[2 * i + 1]!])),
  }));
}

const goods = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title: `good ${i}` }));

test('a message that fails every time reaches the DLQ after maxDeliveries with stage, reason, last error, delivery count and its original envelope; a permanent error goes at once; the rest of the batch is stored', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  await produceLines(keys, [...goods('a', 10), { id: 'bad', title: 'poison', mode: 'poison' }, { id: 'never', title: 'x', mode: 'permanent' }]);
  const original = (await redis.xrangeBuffer(keys.stream('in'), '-', '+')).find(([, f]) => f[1]!.toString() === 'bad')!;
  const run = start(pipeline, { maxDeliveries: 3 });
  try {
    await waitFor('two dead letters and ten stored', async () => (await redis.xlen(keys.dlq)) === 2 && (await redis.scard(keys.products)) === 10);
  } finally {
    await run.stop();
  }
  const byKey = new Map((await dlqEntries(keys)).map((e) => [e.f.k!.toString(), e.f]));
  const bad = byKey.get('bad')!;
  assert.is(bad.stage!.toString(), 'flaky');
  assert.is(bad.stream!.toString(), 'in');
  assert.is(bad.reason!.toString(), 'max_deliveries');
  assert.is(bad.error!.toString(), 'poison bad: fails every time', 'the last error');
  assert.is(bad.deliveries!.toString(), '3');
  assert.is(bad.id!.toString(), original[0].toString(), 'the original entry id');
  assert.ok(bad.e!.equals(original[1][3]!), 'the original envelope, byte for byte');
  assert.is(attempts.get('bad'), 3, 'tried exactly maxDeliveries times');
  const never = byKey.get('never')!;
  assert.is(never.reason!.toString(), 'permanent_error');
  assert.is(never.deliveries!.toString(), '1', 'a permanent error is not retried');
  assert.is(await redis.exists(keys.product('bad')), 0);
});

test('pipeline dlq list, show, replay: the dead letter goes back to its stage stream, atomically removed from the DLQ, and once the stage is fixed it is stored once; purge deletes', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  fixed.poison = false;
  attempts.delete('bad2');
  await produceLines(keys, [{ id: 'bad2', title: 'poison', mode: 'poison' }]);
  await redis.xadd(keys.stream('in'), '*', 'k', 'junk', 'e', 'not msgpack');
  // The CLI only needs the pipeline name and its stage inputs: a rules-only config of the same name.
  const cliConfig = writeConfig(pipeline);
  const run = start(pipeline, { maxDeliveries: 2 });
  try {
    await waitFor('dead-lettered', async () => (await redis.xlen(keys.dlq)) === 2);
    const [poison, junk] = await dlqEntries(keys).then((es) => [es.find((e) => e.f.k!.toString() === 'bad2')!, es.find((e) => e.f.k!.toString() === 'junk')!]);
    const list = cli(['--config', cliConfig, 'dlq', 'list'], server.url);
    assert.is(await exited(list), 0, list.output());
    assert.match(list.output(), new RegExp(`${poison!.id}  flaky  max_deliveries  2  bad2`));
    assert.match(list.output(), new RegExp(`${junk!.id}  flaky  undecodable  1  junk`));
    const show = cli(['--config', cliConfig, 'dlq', 'show', poison!.id], server.url);
    assert.is(await exited(show), 0, show.output());
    const shown = JSON.parse(show.output()) as { reason: string; envelope: { key: string; input: { mode: string } } };
    assert.is(shown.reason, 'max_deliveries');
    assert.is(shown.envelope.input.mode, 'poison');

    fixed.poison = true; // the stage is fixed
    const replay = cli(['--config', cliConfig, 'dlq', 'replay', '--id', poison!.id], server.url);
    assert.is(await exited(replay), 0, replay.output());
    assert.match(replay.output(), /^replayed: 1$/m);
    assert.equal(
      (await dlqEntries(keys)).map((e) => e.id),
      [junk!.id],
      'the replayed entry left the DLQ in the same step',
    );
    await waitFor('replayed message stored', async () => (await redis.hget(keys.product('bad2'), 'copies')) === '1');
    const again = cli(['--config', cliConfig, 'dlq', 'replay', '--id', poison!.id], server.url);
    assert.is(await exited(again), 1, 'an id not in the DLQ: not done, so not exit 0');
    assert.match(again.output(), /^replayed: 0$/m, 'a second replay of the same id does nothing');
    assert.match(again.output(), new RegExp(`^${poison!.id}: not replayed: not in the DLQ$`, 'm'), 'the id named');

    const purge = cli(['--config', cliConfig, 'dlq', 'purge', '--all'], server.url);
    assert.is(await exited(purge), 0, purge.output());
    assert.match(purge.output(), /^purged: 1$/m);
    assert.is(await redis.xlen(keys.dlq), 0);
    const purgeGone = cli(['--config', cliConfig, 'dlq', 'purge', '--id', junk!.id], server.url);
    assert.is(await exited(purgeGone), 1, 'an id not in the DLQ (a typo, or gone): not done, so not exit 0');
    assert.match(purgeGone.output(), /^purged: 0$/m);
    assert.match(purgeGone.output(), /^not found: 1$/m);
    assert.match(purgeGone.output(), new RegExp(`^${junk!.id}: not purged: not in the DLQ$`, 'm'), 'the id named');
  } finally {
    await run.stop();
    rmSync(cliConfig, { force: true });
  }
  assert.is(await redis.hget(keys.product('bad2'), 'copies'), '1');
});

test('a transient per-message error is retried with backoff and then succeeds; the rest of its batch is not held back', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  gate.open = false;
  await produceLines(keys, [...goods('t', 8), { id: 'gated', title: 'waits', mode: 'gate' }, { id: 'twice', title: 'fails twice', mode: 'transient:2' }]);
  const run = start(pipeline, { maxDeliveries: 1000, retryBaseMs: 20, retryMaxMs: 100 });
  try {
    await waitFor('the rest stored while one keeps failing', async () => (await redis.scard(keys.products)) === 9);
    assert.is(await redis.exists(keys.product('gated')), 0);
    await waitFor('retried a few times', () => (attempts.get('gated') ?? 0) >= 4);
    const pending = (await redis.xpending(keys.stream('in'), 'flaky', '-', '+', 10)) as [string, string, number, number][];
    const count = pending[0]![3];
    assert.ok(count >= 3, `each retry is counted in the group (delivery count ${count})`);
    gate.open = true;
    await waitFor('the retried message stored', async () => (await redis.hget(keys.product('gated'), 'copies')) === '1');
  } finally {
    await run.stop();
  }
  assert.is(attempts.get('twice'), 3);
  assert.is(await redis.hget(keys.product('twice'), 'copies'), '1');
  assert.is(await redis.xlen(keys.dlq), 0);
  const retries = run.logs
    .filter((l) => l.includes('"event":"message.retry"') && l.includes('"key":"gated"'))
    .map((l) => JSON.parse(l) as { attempt: number; delayMs: number });
  assert.ok(retries.length >= 3);
  assert.equal(
    retries.slice(0, 3).map((r) => r.attempt),
    [1, 2, 3],
  );
  assert.ok(
    retries.every((r) => r.delayMs >= 10 && r.delayMs <= 100),
    'backoff within retryBaseMs/2 .. retryMaxMs',
  );
});

test('a batch call that throws is split: each message runs alone, only the poison one fails and is dead-lettered', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  await produceLines(keys, [...goods('s', 6), { id: 'bomb', title: 'breaks the batch', mode: 'throwbatch' }]);
  const run = start(pipeline, { maxDeliveries: 2 });
  try {
    await waitFor('six stored, one dead-lettered', async () => (await redis.scard(keys.products)) === 6 && (await redis.xlen(keys.dlq)) === 1);
  } finally {
    await run.stop();
  }
  const [bomb] = await dlqEntries(keys);
  assert.is(bomb!.f.k!.toString(), 'bomb');
  assert.is(bomb!.f.error!.toString(), 'the batch call blew up');
  for (let i = 0; i < 6; i++) assert.is(await redis.hget(keys.product(`s${i}`), 'copies'), '1');
});

test('a dead-letter id without its -seq is refused by show, replay and purge; the replay script deletes the entry it put back (a replay by <ms> had stored one record twice)', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const stream = config.stages[1]!.input;
  // Two dead letters in one millisecond, as a batch dead-letters them.
  for (const seq of [0, 1]) await redis.xadd(keys.dlq, `5-${seq}`, 'stream', stream, 'k', `p${seq}`, 'e', 'x', 'reason', 'max_deliveries');
  for (const call of [
    () => getDeadLetter(redis, keys, '5'),
    () => replayDeadLetters(redis, config, { ids: ['5'] }, keys),
    () => purgeDeadLetters(redis, keys, { ids: ['5'] }),
  ])
    await call().then(
      () => assert.unreachable('a partial id was taken'),
      (err: unknown) => {
        assert.instance(err, BadIdError);
        assert.match((err as Error).message, /expected <ms>-<seq>/);
      },
    );
  assert.is(await redis.xlen(keys.dlq), 2, 'nothing replayed or purged');
  // The script itself, given a partial id after 5-0 went: it puts back 5-1 and deletes 5-1, not 5-0.
  await redis.xdel(keys.dlq, '5-0');
  const r = await new Script('dlq-replay-2').run<string>(redis, [keys.dlq, keys.stream(stream)], ['5', stream]);
  assert.type(r, 'string');
  assert.is(await redis.xlen(keys.dlq), 0, 'the entry put back is the one deleted');
  const back = await redis.xrange(keys.stream(stream), '-', '+');
  assert.equal(
    back.map(([, f]) => f[f.indexOf('k') + 1]),
    ['p1'],
  );
});

test('dlq list --stage naming no stage of the pipeline says so on stderr, with the stages (a typo had read as "0 dead letters")', async () => {
  const config = writeConfig(randomPipeline());
  for (const [stage, warned] of [
    ['valdiate', true],
    ['validate', false],
  ] as const) {
    const child = cli(['--config', config, 'dlq', 'list', '--stage', stage], server.url);
    assert.is(await exited(child), 0, child.output());
    const warning = `warning: no stage "${stage}" in pipeline `;
    assert.is(child.output().includes(warning), warned, child.output());
    if (warned) assert.match(child.output(), /\(stages: preprocess, [^)]*validate[^)]*\): only dead letters of a stage removed from the config match it/);
  }
});

test('dlq list counts in the number it takes: "1 dead letter", "2 dead letters"', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const keys = new Keys(pipeline);
  for (const [n, line] of [
    [1, '1 dead letter\n'],
    [2, '2 dead letters\n'],
  ] as const) {
    await addDeadLetter(redis, keys, { id: `d${n}`, title: 'a thing' });
    const child = cli(['--config', config, 'dlq', 'list'], server.url);
    assert.is(await exited(child), 0, child.output());
    assert.ok(child.output().includes(line), child.output());
  }
});

test("top's dead letters per stage go down when entries are replayed, purged or trimmed (the tally had only grown)", async () => {
  const keys = new Keys(randomPipeline());
  const add = (stage: string) => redis.xadd(keys.dlq, '*', 'stage', stage, 'k', 'x');
  const [a1] = [await add('a'), await add('a'), await add('b')];
  const tally = new DlqTally(keys.dlq, 2); // at most 2 entries read per update: a large DLQ catches up over updates
  await tally.update(redis);
  await tally.update(redis);
  assert.equal(Object.fromEntries(tally.byStage), { a: 2, b: 1 });
  await redis.xdel(keys.dlq, a1!);
  await add('b');
  // Counted again, two entries a call: the new count is whole once a call reaches the end.
  for (let i = 0; i < 3; i++) await tally.update(redis);
  assert.equal(Object.fromEntries(tally.byStage), { a: 1, b: 2 });
  await redis.del(keys.dlq);
  await tally.update(redis);
  assert.equal(Object.fromEntries(tally.byStage), {});
});

test('a tally counted again after a replay keeps its last whole count until the new one reaches the end, and a first count is not whole until it does (a part had been shown as all)', async () => {
  const keys = new Keys(randomPipeline());
  const add = (stage: string) => redis.xadd(keys.dlq, '*', 'stage', stage, 'k', 'x');
  const ids = [await add('a'), await add('a'), await add('a'), await add('b'), await add('b')];
  const tally = new DlqTally(keys.dlq, 2);
  await tally.update(redis);
  assert.equal([tally.complete, Object.fromEntries(tally.byStage)], [false, {}], 'two of five read: not a count yet');
  await tally.update(redis);
  await tally.update(redis);
  assert.equal([tally.complete, Object.fromEntries(tally.byStage)], [true, { a: 3, b: 2 }]);
  await redis.xdel(keys.dlq, ids[0]!); // replayed
  await tally.update(redis); // caught up, one fewer than counted: counts again, two entries this call
  assert.equal(Object.fromEntries(tally.byStage), { a: 3, b: 2 }, 'the last whole count, not the two entries read so far');
  await tally.update(redis);
  await tally.update(redis); // reaches the end
  assert.equal(Object.fromEntries(tally.byStage), { a: 2, b: 2 });
});

test('purge answers the ids it deleted, and runs while Redis is at maxmemory (dlq-purge-1 is allow-oom: XDEL ran there, and a purge frees memory)', async () => {
  const keys = new Keys(randomPipeline());
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await redis.xadd(keys.dlq, '*', 'k', `p${i}`, 'e', 'x'.repeat(1000), 'reason', 'max_deliveries'))!);
  assert.equal(await purgeDeadLetters(redis, keys, { ids: [ids[0]!] }), [ids[0]]); // the library is loaded
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await redis.config('SET', 'maxmemory', String(used - 100_000));
  try {
    await redis.set(`${keys.dlq}:probe`, 'x').then(
      () => assert.unreachable('Redis is not at maxmemory'),
      (err: Error) => assert.match(err.message, /^OOM/),
    );
    assert.equal(await purgeDeadLetters(redis, keys, { ids }), ids.slice(1), 'the ones still there, in order');
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
  assert.is(await redis.xlen(keys.dlq), 0);
});

test.run();
