import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { resumeStages } from '../../lib/ops/pause.js';
import { revokeIds } from '../../lib/ops/revoke.js';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, stageThenStore, writeConfig } from '../helpers/pipeline.js';
import { countingMetrics } from '../helpers/outage-records.js';
import { heldStageRig } from '../helpers/held-stage.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const OPTIONS = { ...FAST, batchSize: 5, pausePollMs: 100 };
const rig = heldStageRig(redis, server.url);
const { gate, seen, gated, records, produceRecords, holdThenPause } = rig;

/** `preprocess` (the gated kind) then store, in-process, with their metrics counted and their log lines kept. */
function start(pipeline: string) {
  const lines: Record<string, unknown>[] = [];
  const metrics = countingMetrics();
  const run = rig.start(pipeline, { options: OPTIONS, metrics, logger: (stage) => createLogger({ stage }, 'info', (l) => lines.push(JSON.parse(l))) });
  return { ...run, lines, metrics };
}

test("pipeline revoke while records wait: they end revoked (status, completion, counter, log), never run nor stored; one in the stage's hands is revoked by the store; the others are stored; produced again after, stored", async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  try {
    await holdThenPause(keys, config);
    await produceRecords(keys, records('w', 5));
    const cliConfig = writeConfig(pipeline, OPTIONS);
    const revoke = cli(['--config', cliConfig, 'revoke', 'w1', 'w3', 'h0', '--reason', 'withdrawn', '--json'], server.url);
    assert.is(await exited(revoke), 0, revoke.output());
    const said = revoke
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{"event":"revoke"'))
      .map((l) => JSON.parse(l) as { id: string; outcome: string; was: string });
    assert.equal(
      said.map((r) => [r.id, r.outcome, r.was]),
      [
        ['w1', 'revoked', 'unknown'],
        ['w3', 'revoked', 'unknown'],
        ['h0', 'revoked', 'unknown'],
      ],
    );
    await new Promise((res) => setTimeout(res, 400)); // the store's consumer has read the marker (pausePollMs 100) before h0 reaches it
    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    await waitFor('4 stored', async () => (await redis.scard(keys.products)) === 4).catch(async (e: Error) => {
      throw new Error(
        e.message +
          JSON.stringify(await redis.smembers(keys.products)) +
          JSON.stringify(run.lines.filter((l) => l.level !== 'info' || String(l.event).includes('revok'))),
      );
    });
    await waitFor('3 revoked', async () =>
      (await Promise.all(['w1', 'w3', 'h0'].map((id) => readStatus(redis, keys.status(id))))).every((s) => s.s === 'revoked'),
    );
    assert.equal((await redis.smembers(keys.products)).sort(), ['h1', 'w0', 'w2', 'w4']);
    for (const id of ['w1', 'w3']) {
      assert.is(seen.get(id), undefined, `${id} never ran`);
      const s = await readStatus(redis, keys.status(id));
      assert.equal([s.g, s.b, s.r], ['preprocess', `cli:${(await import('node:os')).userInfo().username}`, 'withdrawn']);
    }
    assert.is(seen.get('h0'), 1, 'h0 was in the stage when revoked: it ran there');
    assert.is((await readStatus(redis, keys.status('h0'))).g, 'store', 'the store, the next stage to read it, ended it');
    assert.is(run.metrics.counts.get('messages.revoked'), 3);
    const done = (await redis.xrange(keys.done, '-', '+')) as [string, string[]][];
    assert.equal(
      done
        .filter(([, f]) => f[f.indexOf('s') + 1] === 'revoked')
        .map(([, f]) => f[f.indexOf('k') + 1])
        .sort(),
      ['h0', 'w1', 'w3'],
    );
    const logged = run.lines.filter((l) => l.event === 'message.revoked');
    assert.equal(logged.map((l) => l.key).sort(), ['h0', 'w1', 'w3']);
    for (const l of logged) assert.ok(l.stage && l.consumer && l.id && l.by && l.reason === 'withdrawn', JSON.stringify(l));
    // What an operator sees of it: the records that ended revoked and the marks outstanding, in `status` and `status --json`.
    const status = cli(['--config', cliConfig, 'status', '--json'], server.url);
    assert.is(await exited(status), 0, status.output());
    const json = JSON.parse(
      status
        .output()
        .split('\n')
        .find((l) => l.startsWith('{'))!,
    ) as { revoked: number; revokeMarks: number };
    assert.equal([json.revoked, json.revokeMarks], [3, 3]);
    const table = cli(['--config', cliConfig, 'status'], server.url);
    assert.is(await exited(table), 0, table.output());
    assert.match(table.output(), new RegExp(`^pipeline ${pipeline} {2}stored 4 {2}revoked 3 {2}revoke marks 3$`, 'm'));

    // Submitted after the revoke: processed normally.
    await produceRecords(keys, records('w', 2).slice(1));
    await waitFor('w1 stored', async () => (await readStatus(redis, keys.status('w1'))).s === 'stored');
    assert.is(seen.get('w1'), 1);
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test('revoke of an id whose trip ended answers its status and changes nothing (CLI exit 6), unless --force, which revokes a version produced again; --wait reports revoked, --wait-timeout while paused exits 5', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  const cliConfig = writeConfig(pipeline, OPTIONS);
  try {
    await produceRecords(keys, records('s', 1));
    await waitFor('s0 stored', async () => (await readStatus(redis, keys.status('s0'))).s === 'stored');
    const ended = cli(['--config', cliConfig, 'revoke', 's0'], server.url);
    assert.is(await exited(ended), 6, ended.output());
    assert.match(ended.output(), /s0: not revoked, its trip ended stored/);
    assert.is(await redis.exists(keys.revokes), 0, 'no marker written');
    assert.equal(await revokeIds(redis, config, ['s0'], { by: 'test' }), [{ id: 's0', outcome: 'ended', status: 'stored' }]);
    assert.is((await readStatus(redis, keys.status('s0'))).s, 'stored');

    await holdThenPause(keys, config);
    await produceRecords(keys, records('q', 2));
    const late = cli(['--config', cliConfig, 'revoke', 'q0', '--wait', '--wait-timeout', '300'], server.url);
    assert.is(await exited(late), 5, late.output());
    assert.match(late.output(), /q0: revoked, not ended yet after --wait-timeout/);
    // s0 produced again (`pipeline produce` writes no queued status): its stored status answers, unless --force.
    await produceRecords(keys, records('s', 1));
    const stale = cli(['--config', cliConfig, 'revoke', 's0'], server.url);
    assert.is(await exited(stale), 6, stale.output());
    const waiting = cli(['--config', cliConfig, 'revoke', 'q1', 's0', '--force', '--wait'], server.url);
    await waitFor('q1 and s0 marked', async () => (await redis.xlen(keys.revokes)) === 3);
    await new Promise((res) => setTimeout(res, 400)); // every consumer has read the markers (pausePollMs 100)
    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    assert.is(await exited(waiting), 0, waiting.output());
    assert.match(waiting.output(), /^q1: revoked$/m);
    assert.match(waiting.output(), /^s0: revoked$/m, 'the end written after the revoke, not the stored one before');
    await waitFor('q0 revoked', async () => (await readStatus(redis, keys.status('q0'))).s === 'revoked');
    assert.is(seen.get('s0'), 1, 's0 ran once: its second version was revoked');
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test('an id revoked before it is produced is processed when it comes: the cut-off is the input stream at the revoke', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  try {
    await produceRecords(keys, records('a', 3));
    await waitFor('3 stored', async () => (await redis.scard(keys.products)) === 3);
    const [r] = await revokeIds(redis, config, ['later'], { by: 'test' });
    assert.is(r!.outcome, 'revoked');
    const last = ((await redis.xrevrange(keys.stream('in'), '+', '-', 'COUNT', 1)) as [string, string[]][])[0]![0];
    assert.is(r!.outcome === 'revoked' && r!.cutoff, last, "the cut-off is the input stream's last id");
    await new Promise((res) => setTimeout(res, 300)); // the workers have read the marker
    await produceRecords(keys, [{ id: 'later', title: 'x' }]);
    await waitFor('later stored', async () => (await readStatus(redis, keys.status('later'))).s === 'stored');
    assert.is(run.metrics.counts.get('messages.revoked'), undefined);
  } finally {
    await run.stop();
  }
});

test('a record revoked while in a stage whose next stage runs fused in the same process: the fused stage acks it revoked', async () => {
  const pipeline = randomPipeline();
  const config = resolveConfig(stageThenStore(pipeline, { name: 'preprocess', kind: 'gated' }, OPTIONS), 'test', { env: { REDIS_URL: server.url } });
  const keys = new Keys(pipeline);
  const proc = new StageProcess({ config, stages: ['preprocess', 'store'], kinds: { ...STAGES, gated }, logger: createLogger({}, 'error', () => {}) });
  const running = proc.run();
  try {
    gate.open = false;
    await produceRecords(keys, [{ id: 'f0', title: 'hold' }]);
    await waitFor('f0 in the stage', () => seen.get('f0') === 1);
    await revokeIds(redis, config, ['f0'], { by: 'test' });
    await new Promise((res) => setTimeout(res, 400)); // the store's consumer has read the marker (pausePollMs 100)
    gate.open = true;
    await waitFor('f0 ended', async () => (await readStatus(redis, keys.status('f0'))).s !== undefined);
    const s = await readStatus(redis, keys.status('f0'));
    assert.equal([s.s, s.g], ['revoked', 'store']);
    assert.is(await redis.exists(keys.product('f0')), 0, 'not stored');
    assert.is(await redis.xlen(keys.stream('store')), 0, 'it went fused, not through the store stream');
  } finally {
    gate.open = true;
    await proc.stop();
    await running;
  }
});

test('a version rebuilt after a revoke (pipeline reprocess) runs: the revoke stops only what was made before it', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  const cliConfig = writeConfig(pipeline, OPTIONS);
  try {
    await produceRecords(keys, records('r', 2));
    await waitFor('2 stored', async () => (await redis.scard(keys.products)) === 2);
    // r0 produced again (a wrong version), revoked (--force: its status still reads stored) before it runs.
    await holdThenPause(keys, config);
    await produceRecords(keys, records('r', 1));
    await revokeIds(redis, config, ['r0'], { by: 'test', force: true });
    await new Promise((res) => setTimeout(res, 400)); // every consumer has read the marker (pausePollMs 100)
    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    await waitFor('r0 revoked', async () => (await readStatus(redis, keys.status('r0'))).s === 'revoked');
    assert.is(seen.get('r0'), 1, 'the version produced before the revoke did not run');
    // Reprocessed after the revoke: both products run again, r0 included.
    const re = cli(['--config', cliConfig, 'reprocess', '--from-stage', 'preprocess'], server.url);
    assert.is(await exited(re), 0, re.output());
    await waitFor('r0 and r1 run again', () => seen.get('r0') === 2 && seen.get('r1') === 2).catch((e: Error) => {
      throw new Error(`${e.message}: r0 ran ${seen.get('r0')}, r1 ${seen.get('r1')}; r0 revoked ${run.metrics.counts.get('messages.revoked')} times`);
    });
    await waitFor('r0 stored', async () => (await readStatus(redis, keys.status('r0'))).s === 'stored');
    assert.is(run.metrics.counts.get('messages.revoked'), 1);
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test('a reprocessed version revoked: the next pipeline reprocess puts the product back (the revoke took its marker), not skipped as in flight', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  const cliConfig = writeConfig(pipeline, OPTIONS);
  const summary = (out: string) =>
    JSON.parse(out.split('\n').find((l) => l.includes('"reprocess.done"'))!) as { reprocessed: number; skipped: { inFlight: number } };
  try {
    await produceRecords(keys, records('z', 1));
    await waitFor('z0 stored', async () => (await readStatus(redis, keys.status('z0'))).s === 'stored');
    await holdThenPause(keys, config); // h0, h1 in the stage's hands; what comes next waits
    const first = cli(['--config', cliConfig, 'reprocess', '--from-stage', 'preprocess'], server.url);
    assert.is(await exited(first), 0, first.output());
    assert.is(await redis.exists(keys.reprocess('z0')), 1, 'z0 put back, marked in flight');
    await revokeIds(redis, config, ['z0'], { by: 'test', force: true });
    await new Promise((res) => setTimeout(res, 400)); // every consumer has read the marker (pausePollMs 100)
    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    await waitFor('z0 revoked', async () => (await readStatus(redis, keys.status('z0'))).s === 'revoked');
    await waitFor('h0 and h1 stored', async () => (await redis.scard(keys.products)) === 3);
    const again = cli(['--config', cliConfig, 'reprocess', '--from-stage', 'preprocess'], server.url);
    assert.is(await exited(again), 0, again.output());
    const s = summary(again.output());
    assert.equal([s.reprocessed, s.skipped.inFlight], [3, 0], again.output());
    await waitFor('z0 stored again', async () => (await readStatus(redis, keys.status('z0'))).s === 'stored');
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test.run();
