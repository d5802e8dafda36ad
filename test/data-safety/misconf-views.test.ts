/**
 * What `pipeline status`, `pipeline top` and the console's sample say while Redis refuses writes
 * because it cannot persist (MISCONF), on one real redis-server put into MISCONF once: the refusal and
 * what to do first (lib/ops/write-refusal.ts), gone once Redis saves again. Before, they showed only
 * the lag and consumers without progress, which read as stuck workers; the console's sample failed
 * on its series write and the page said "stale". Status and top run as the observer user, the sampler
 * as the API user: each must be allowed PING, or the refusal would go unseen.
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleKeys, ConsoleSampler, type ConsoleSample, type SampleFailure } from '../../lib/console/sampler.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { writeRefusalWithin } from '../../lib/ops/write-refusal.js';
import { Keys } from '../../lib/redis/keys.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { stageDataAccess } from '../../stages/access.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { addEntries, client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const pipeline = randomPipeline('mv');
const config = rulesOnlyConfig(server.url, pipeline);
const file = writeConfig(pipeline);
const users = aclUsers(config, { dataAccess: stageDataAccess });
await applyAcl(admin, users);
const urlOf = (role: string) => users.find((u) => u.role === role)!.url;
const observer = client(urlOf('observer'));
const api = client(urlOf('api'));
const keys = new Keys(pipeline);
// Records waiting at the first stage, no worker: the lag an operator would see.
await addEntries(admin, keys.stream(config.stages[0]!.input), 5);

const REFUSAL =
  /^Redis refuses every write: it cannot persist to disk .*\[MISCONF .*\]; free the disk or fix what failed the save \(the Redis log names it\), then `BGSAVE`/;

/** `pipeline status` as the observer: its text, and its `--json` line parsed. */
async function status(): Promise<{ text: string; json: Record<string, unknown> }> {
  const run = async (args: string[]) => {
    const child = cli(['--config', file, 'status', ...args], urlOf('observer'));
    assert.is(await exited(child), 0, child.output());
    return child.output();
  };
  const [text, json] = await Promise.all([run([]), run(['--json'])]);
  const line = json.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, json);
  return { text, json: JSON.parse(line) as Record<string, unknown> };
}

/** `pipeline top --once` as the observer. */
async function topOnce(): Promise<string> {
  const child = cli(['--config', file, 'top', '--once', '--interval', '100'], urlOf('observer'));
  assert.is(await exited(child), 0, child.output());
  return child.output();
}

test('status (text first line, --json redisRefusesWrites), top (--once and a live sampler frame by frame) and the console sample name the refusal while it lasts, and drop it once Redis saves again', async () => {
  const sampler = new ConsoleSampler({ redis: api, config, logger: silentLogger, intervalMs: 100 });
  const failures: SampleFailure[] = [];
  sampler.subscribe(
    () => {},
    (f) => failures.push(f),
  );
  const live = new TopSampler(observer, config, 10);
  const series = () => admin.xlen(consoleKeys(keys).series);

  await api.ping(); // ready: the sampler does not queue behind a connection not up yet
  const calm = await sampler.sampleOnce();
  assert.equal([calm?.redisRefusesWrites, calm?.writeRefusalLine, sampler.writer], [null, null, true], JSON.stringify(failures));
  assert.not.match(renderFrame(await live.frame(), 1000), /refuses/);
  const written = await series();

  await refuseWrites(admin);
  try {
    const s = await status();
    assert.match(s.text.split('\n')[0]!, REFUSAL, s.text);
    assert.match(s.text, /\n\npipeline mv/, 'then the usual table');
    assert.match(String(s.json.redisRefusesWrites), /^MISCONF /, JSON.stringify(s.json));

    const top = await topOnce();
    const [head, refusal] = top.split('\n');
    assert.match(head!, /^pipeline mv/, top);
    assert.match(refusal!, REFUSAL, 'the header line under the title');
    const frame = await live.frame();
    assert.match(frame.redisRefusesWrites ?? '', /^MISCONF /);
    assert.match(renderFrame(frame, 1000).split('\n')[1]!, REFUSAL, 'a live frame says it');

    const sample = (await sampler.sampleOnce()) as ConsoleSample;
    assert.ok(sample, 'the sample is taken (it had failed on its series write)');
    assert.match(sample.redisRefusesWrites ?? '', /^MISCONF /);
    assert.match(sample.writeRefusalLine ?? '', REFUSAL);
    assert.equal([failures, sampler.writer, await series()], [[], false, written], 'no stale event; no write tried, the chart has a gap');
  } finally {
    await allowWrites(admin);
  }

  const s = await status();
  assert.not.match(s.text, /refuses/, s.text);
  assert.is(s.json.redisRefusesWrites, null);
  assert.not.match(await topOnce(), /refuses/);
  assert.not.match(renderFrame(await live.frame(), 1000), /refuses/, 'the next live frame drops it');
  const after = await sampler.sampleOnce();
  assert.equal([after?.redisRefusesWrites, after?.writeRefusalLine, sampler.writer], [null, null, true]);
  assert.is(await series(), written + 1, 'the series written again');
});

test('a PING that hangs holds the console sample up at most writeRefusalTimeoutMs (undefined: not known, the sample goes on)', async () => {
  const asker = client(server.url);
  try {
    await asker.ping();
    await admin.client('PAUSE', 1500, 'ALL'); // every client's commands wait, the PING among them
    const t0 = Date.now();
    assert.is(await writeRefusalWithin(asker, 200), undefined);
    const took = Date.now() - t0;
    assert.ok(took >= 150 && took < 1000, `${took} ms`);
  } finally {
    asker.disconnect();
  }
});

test.after(async () => {
  for (const r of [observer, api, admin]) r.disconnect();
  await server.close();
  rmSync(file, { force: true });
});

test.run();
