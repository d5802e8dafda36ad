import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { resumeStages } from '../../lib/ops/pause.js';
import { purgeBounds, purgeStage } from '../../lib/ops/stage-purge.js';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { cli, exited, FAST, stageThenStore, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { listener } from '../helpers/statsd.js';
import { heldStageRig } from '../helpers/held-stage.js';

const { server, redis } = await redisForFile(test);

const { gate, seen, start, records, produceRecords, group, holdThenPause } = heldStageRig(redis, server.url);

async function purgedKeys(keys: Keys): Promise<string[]> {
  const rows = (await redis.xrange(keys.dlq, '-', '+')) as [string, string[]][];
  return rows
    .map(([, f]) => new Map(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])))
    .flatMap((m) => (m.get('reason') === 'purged' ? [m.get('k')!] : []));
}

test('pipeline purge dead-letters the entries waiting after a paused stage, leaves its pending ones, its lag reads 0, each id reads dead_lettered/purged; dlq replay puts them back and they are stored', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  try {
    await holdThenPause(keys, config);
    await produceRecords(keys, records('w', 30));
    const cliConfig = writeConfig(pipeline);
    const purge = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes', '--chunk', '7'], server.url);
    assert.is(await exited(purge), 0, purge.output());
    const summary = JSON.parse(
      purge
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"event":"purge"'))!,
    ) as { purged: number; stage: string };
    assert.is(summary.purged, 30);
    assert.is(summary.stage, 'preprocess');
    const g = (await group(keys))!;
    assert.is(Number(g.get('pending')), 2, 'the pending entries stay pending');
    assert.is(g.get('lag'), 0, "the group's lag is known and 0");
    const purged = await purgedKeys(keys);
    assert.equal(
      purged.sort(),
      records('w', 30)
        .map((r) => r.id)
        .sort(),
    );
    const status = await readStatus(redis, keys.status('w7'));
    assert.is(status.s, 'dead_lettered');
    assert.is(status.r, 'purged');
    assert.is(status.g, 'preprocess');
    const done = (await redis.xrange(keys.done, '-', '+')) as [string, string[]][];
    assert.is(done.filter(([, f]) => f.includes('purged')).length, 30, 'one completion per purged record');
    const again = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes'], server.url);
    assert.is(await exited(again), 0, again.output());
    assert.match(again.output(), /"purged":0/, 'a second run finds nothing waiting');

    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    // A dead letter of another reason stays where it is.
    await redis.xadd(keys.dlq, '*', 'k', 'other', 'stage', 'preprocess', 'stream', 'in', 'reason', 'no_route', 'error', 'x', 'deliveries', '1', 'at', '0');
    const replay = cli(['--config', cliConfig, 'dlq', 'replay', '--all', '--reason', 'purged'], server.url);
    assert.is(await exited(replay), 0, replay.output());
    assert.match(replay.output(), /replayed: 30/);
    await waitFor('32 stored', async () => (await redis.scard(keys.products)) === 32);
    assert.equal(await purgedKeys(keys), [], 'no purged dead letter left');
    assert.is(await redis.xlen(keys.dlq), 1, 'the no_route one stays');
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test('records added after the purge read its bounds (the API and producers keep taking them) are not purged: they wait for the stage', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  try {
    await holdThenPause(keys, config);
    await produceRecords(keys, records('bad', 12));
    const until = await purgeBounds(redis, config, 'preprocess');
    await produceRecords(keys, records('good', 5));
    const summary = await purgeStage(redis, config, 'preprocess', { by: 'test', until, chunk: 5 });
    assert.is(summary.purged, 12);
    assert.equal(
      (await purgedKeys(keys)).sort(),
      records('bad', 12)
        .map((r) => r.id)
        .sort(),
    );
    assert.is((await group(keys))!.get('lag'), 5, 'the 5 added later still wait');
    gate.open = true;
    await resumeStages(redis, config, 'preprocess');
    await waitFor('the 2 held and the 5 later ones stored', async () => (await redis.scard(keys.products)) === 7);
  } finally {
    gate.open = true;
    await run.stop();
  }
});

test('purge while a worker reads: every record ends once, stored or purged, none lost, none twice', async () => {
  const pipeline = randomPipeline();
  const run = start(pipeline);
  const { keys, config } = run;
  const all = records('c', 400).map((r) => r.id);
  try {
    await produceRecords(keys, records('c', 400, 'slow'));
    const summary = await purgeStage(redis, config, 'preprocess', { by: 'test', chunk: 3 });
    await waitFor('every record ended', async () => (await redis.scard(keys.products)) + (await redis.xlen(keys.dlq)) >= 400);
    await waitFor('nothing pending', async () => Number((await group(keys))?.get('pending')) === 0);
    const stored = await redis.smembers(keys.products);
    const purged = await purgedKeys(keys);
    assert.is(purged.length, summary.purged, 'the summary counts what the DLQ holds');
    assert.ok(stored.length > 0 && purged.length > 0, `both happened (stored ${stored.length}, purged ${purged.length})`);
    assert.equal([...stored, ...purged].sort(), [...all].sort(), 'each record once, in the store or the DLQ');
    for (const k of purged) assert.is(seen.get(k), undefined, `${k} was purged and never processed`);
    for (const k of stored) assert.is(seen.get(k), 1, `${k} processed once`);
  } finally {
    await run.stop();
  }
});

test('refused without --yes off a terminal, for an unknown stage (naming the stages), and for the observer (run it as the admin); nothing purged', async () => {
  const pipeline = randomPipeline();
  const config = resolveConfig({ ...JSON.parse('{}'), ...stageThenStore(pipeline, { name: 'preprocess', kind: 'preprocess' }) }, 'test', {
    env: { REDIS_URL: server.url },
  });
  const keys = new Keys(pipeline);
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '$', 'MKSTREAM');
  await produceRecords(keys, records('r', 5));
  const cliConfig = writeConfig(pipeline);

  const noYes = cli(['--config', cliConfig, 'purge', 'preprocess'], server.url);
  assert.is.not(await exited(noYes), 0, noYes.output());
  assert.match(noYes.output(), /5 entries wait; not a terminal.*pass --yes/);

  const unknown = cli(['--config', cliConfig, 'purge', 'nope', '--yes'], server.url);
  assert.is.not(await exited(unknown), 0, unknown.output());
  assert.match(unknown.output(), /no stage "nope" in this pipeline \(stages: preprocess, validate, store\)/);

  const users = aclUsers(config);
  await applyAcl(redis, users);
  const observer = users.find((u) => u.role === 'observer')!.url;
  const refused = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes'], observer);
  assert.is(await exited(refused), 13, refused.output());
  assert.match(refused.output(), /may not run .*`pipeline purge` .*run it as the admin/);

  assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
  assert.is((await group(keys))?.get('lag'), 5, 'all 5 still wait');
});

test('Redis cannot tell the lag (an entry deleted past the group): the refusal off a terminal says at least the entries counted wait, not that only they do', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '$', 'MKSTREAM');
  const batch = redis.pipeline();
  for (let i = 0; i < 1200; i++) batch.xadd(keys.stream('in'), '*', 'k', `l${i}`, 'e', 'x');
  await batch.exec();
  const entries = (await redis.xrange(keys.stream('in'), '-', '+')) as [string, string[]][];
  await redis.xdel(keys.stream('in'), entries[600]![0]);
  assert.is((await group(keys))?.get('lag'), null, 'Redis reports no lag');

  const noYes = cli(['--config', writeConfig(pipeline), 'purge', 'preprocess'], server.url);
  assert.is.not(await exited(noYes), 0, noYes.output());
  assert.match(noYes.output(), /at least 1000 entries wait \(Redis cannot tell how many more\); not a terminal/);
  assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
});

test("a sharded pipeline: every shard's stream, or --shard; a group Redis keeps no entries-read count for reads lag 0 once all is purged; a stage with no group yet gets it", async () => {
  const pipeline = randomPipeline();
  const config = resolveConfig({ ...stageThenStore(pipeline, { name: 'preprocess', kind: 'preprocess' }), shards: 2 }, 'test', {
    env: { REDIS_URL: server.url },
  });
  const [k0, k1] = Keys.shards(pipeline, 2) as [Keys, Keys];
  for (const k of [k0, k1]) for (let i = 0; i < 5; i++) await redis.xadd(k.stream('in'), '*', 'k', `s${k.shard}-${i}`, 'e', 'x');
  // Shard 0's group made by hand, moved with SETID alone and an entry after it deleted: Redis then has no entries-read for it and reports no lag.
  await redis.xgroup('CREATE', k0.stream('in'), 'preprocess', '0');
  const entries0 = (await redis.xrange(k0.stream('in'), '-', '+')) as [string, string[]][];
  await redis.xgroup('SETID', k0.stream('in'), 'preprocess', entries0[0]![0]);
  await redis.xdel(k0.stream('in'), entries0[2]![0]);
  assert.is((await group(k0))?.get('lag'), null, 'no lag known before');

  const one = await purgeStage(redis, config, 'preprocess', { by: 'test', shard: 1 });
  assert.equal(
    one.shards.map((x) => [x.shard, x.purged]),
    [[1, 5]],
  );
  assert.is(await redis.xlen(k0.dlq), 0, 'shard 0 left alone');
  const all = await purgeStage(redis, config, 'preprocess', { by: 'test', chunk: 2 });
  assert.equal(
    all.shards.map((x) => [x.shard, x.purged]),
    [
      [0, 3],
      [1, 0],
    ],
  );
  assert.equal((await purgedKeys(k0)).sort(), ['s0-1', 's0-3', 's0-4']);
  assert.is((await group(k0))?.get('lag'), 0, 'the lag is known again, 0');
  assert.is((await group(k1))?.get('lag'), 0);
  assert.is((await readStatus(redis, k1.status('s1-2'))).r, 'purged', "a record's status is on its shard");
});

test('Redis full (maxmemory): the purge stops, prints what it did with "stopped":true, exits non-zero; a re-run once memory is free purges what waits', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '$', 'MKSTREAM');
  await produceRecords(keys, records('m', 6));
  const cliConfig = writeConfig(pipeline);
  await redis.config('SET', 'maxmemory', '1');
  try {
    const full = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes'], server.url);
    assert.is.not(await exited(full), 0, full.output());
    assert.match(full.output(), /"event":"purge".*"purged":0.*"stopped":true/);
    assert.match(full.output(), /purge of preprocess stopped after 0 entries: .*OOM/);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
  assert.is(await redis.xlen(keys.dlq), 0);
  const again = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes'], server.url);
  assert.is(await exited(again), 0, again.output());
  assert.match(again.output(), /"purged":6/);
});

test('a purge is counted as other dead letters are (messages.dead_lettered, reason purged, to StatsD) and logged (stage.purge, warn)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const statsd = await listener();
  try {
    await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '$', 'MKSTREAM');
    await produceRecords(keys, records('n', 4));
    const cliConfig = writeConfig(pipeline, FAST, { metrics: { enabled: true, host: '127.0.0.1', port: statsd.port } });
    const purge = cli(['--config', cliConfig, 'purge', 'preprocess', '--yes'], server.url);
    assert.is(await exited(purge), 0, purge.output());
    await waitFor('the count sent', () => statsd.lines.some((l) => l.name === 'messages.dead_lettered'), 5_000);
    const sent = statsd.lines.filter((l) => l.name === 'messages.dead_lettered');
    assert.equal(
      sent.map((l) => [l.value, l.type, l.tags.stage, l.tags.reason, l.tags.pipeline]),
      [[4, 'c', 'preprocess', 'purged', pipeline]],
    );
    const logged = purge
      .output()
      .split('\n')
      .filter((l) => l.includes('"event":"stage.purge"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.is(logged.length, 1, purge.output());
    assert.equal([logged[0]!.level, logged[0]!.stage, logged[0]!.purged], ['warn', 'preprocess', 4]);
    assert.match(String(logged[0]!.by), /^cli:/);
  } finally {
    statsd.socket.close();
  }
});

test.run();
