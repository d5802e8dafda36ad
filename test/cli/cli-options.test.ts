/**
 * The CLI's own input: a bad option value stops a command before it touches Redis, with
 * commander's error naming the option and what it expects (exit 1); a reader that closes the
 * output early (`| head -1`) ends the command quietly (exit 0, no EPIPE stack trace).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { integer, nonNegativeInt, nonNegativeMs, oneOf, port, positiveInt, positiveMs, positiveSeconds, share } from '../../scripts/commands/option-values.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const rejects = (parse: (v: string) => string, value: string) => {
  try {
    parse(value);
    return false;
  } catch {
    return true;
  }
};

test('option checks: integers, ports, shares and choices; the text is kept', () => {
  assert.is(positiveInt('500'), '500');
  for (const bad of ['0', '-3', '1.5', 'abc', '', ' ']) assert.ok(rejects(positiveInt, bad), `positiveInt(${JSON.stringify(bad)})`);
  assert.is(nonNegativeInt('0'), '0');
  assert.ok(rejects(nonNegativeInt, '-1'));
  assert.is(integer('-7'), '-7');
  assert.ok(rejects(integer, '7.5'));
  assert.is(port('0'), '0');
  assert.ok(rejects(port, '65536'));
  assert.is(share('0.15'), '0.15');
  assert.ok(rejects(share, '1.5'));
  // Timer values stop at 2^31-1 ms: Node fires a larger delay at once (top --interval 2147483648 refreshed in a loop).
  assert.is(positiveMs('2147483647'), '2147483647');
  assert.ok(rejects(positiveMs, '2147483648'));
  assert.is(nonNegativeMs('0'), '0');
  assert.ok(rejects(nonNegativeMs, '3e9'));
  // A TTL Redis takes as ms: 1e20 s was "1e+23", refused by PEXPIRE after the product was put back.
  assert.ok(rejects(positiveSeconds, '100000000000000000000'));
  assert.is(oneOf(['a', 'b'])('b'), 'b');
  assert.ok(rejects(oneOf(['a', 'b']), 'c'));
});

test('bad values stop the command before it writes: produce --batch abc, dlq list --reason bogus, --count 0', async () => {
  const pipeline = randomPipeline('cliopt');
  const file = writeConfig(pipeline);
  const input = new Keys(pipeline).stream('in');
  const cases: [string[], RegExp][] = [
    [['produce', '--batch', 'abc'], /option '--batch <n>' argument 'abc' is invalid\. Expected a positive integer/],
    [['produce', '--retry-for', '-1'], /option '--retry-for <ms>' argument '-1' is invalid/],
    [['dlq', 'list', '--reason', 'bogus'], /argument 'bogus' is invalid\. Expected one of max_deliveries, .*unwritable_target/],
    [['dlq', 'list', '--count', '0'], /option '--count <n>' argument '0' is invalid/],
    [
      ['top', '--once', '--interval', '2147483648'],
      /option '--interval <ms>' argument '2147483648' is invalid\. Expected a positive integer of ms, at most 2147483647/,
    ],
    [['reprocess', '--marker-ttl', '100000000000000000000'], /option '--marker-ttl <s>' argument '100000000000000000000' is invalid/],
  ];
  for (const [args, message] of cases) {
    const child = cli(['--config', file, ...args], server.url, { input: '{"id":"a","title":"one"}\n' });
    const code = await exited(child);
    assert.is(code, 1, `${args.join(' ')}: ${child.output()}`);
    assert.match(child.output(), message);
  }
  assert.is(await redis.exists(input), 0, 'produce wrote nothing');
});

test('a reader that closes the pipe early ends `dlq list --json` quietly', async () => {
  const pipeline = randomPipeline('cliopt');
  const file = writeConfig(pipeline);
  const dlq = new Keys(pipeline).dlq;
  const batch = redis.pipeline();
  const error = 'x'.repeat(400);
  for (let i = 0; i < 3000; i++)
    batch.xadd(
      dlq,
      '*',
      'stage',
      'classify',
      'stream',
      'in',
      'id',
      `1-${i}`,
      'reason',
      'permanent_error',
      'error',
      error,
      'deliveries',
      '1',
      'at',
      String(Date.now()),
      'k',
      `k${i}`,
      'e',
      'x',
    );
  await batch.exec();
  const child = cli(['--config', file, 'dlq', 'list', '--json', '--count', '3000'], server.url);
  // Take the first chunk, then close the pipe while the command still has about 2 MB to write.
  await new Promise<void>((res) => child.stdout!.once('data', () => res()));
  child.stdout!.destroy();
  const code = await exited(child);
  assert.is(code, 0, child.output());
  assert.not.match(child.output(), /EPIPE|^\s+at /m);
});

test('status of a pipeline this Redis has nothing of warns and names the pipelines it has (all zeros had read as idle)', async () => {
  const real = randomPipeline('realpl');
  await redis.xadd(new Keys(real).stream('in'), '*', 'k', 'x', 'e', 'y');
  const typo = writeConfig(randomPipeline('typo'));
  const st = cli(['--config', typo, 'status'], server.url);
  assert.is(await exited(st), 0, st.output());
  assert.match(st.output(), /warning: nothing of pipeline "typo[^"]*" in this Redis yet .*; pipelines here: [^\n]*realpl/);
  const ok = cli(['--config', writeConfig(real), 'status'], server.url);
  assert.is(await exited(ok), 0);
  assert.not.match(ok.output(), /warning: nothing of pipeline/, 'not for a pipeline that has keys');
});

test('status of a pipeline that only pipeline webhooks has run on (the completion stream, webhook dead letters) does not say it has nothing', async () => {
  const name = randomPipeline('hooksonly');
  const keys = new Keys(name);
  await redis.xgroup('CREATE', keys.done, 'webhook:shop', '$', 'MKSTREAM');
  const st = cli(['--config', writeConfig(name), 'status'], server.url);
  assert.is(await exited(st), 0, st.output());
  assert.not.match(st.output(), /warning: nothing of pipeline/);
});

test('produce, export, dlq list and labels export of a pipeline this Redis has nothing of warn as status does (they had been silent: exit 0, an empty file or list); produce still produces', async () => {
  const real = randomPipeline('realpl');
  await redis.xadd(new Keys(real).stream('in'), '*', 'k', 'x', 'e', 'y');
  const name = randomPipeline('typo');
  const typo = writeConfig(name);
  const warning = new RegExp(`warning: nothing of pipeline "${name}" in this Redis yet .*; pipelines here: [^\\n]*realpl`);
  const ex = cli(['--config', typo, 'export'], server.url);
  assert.is(await exited(ex), 0, ex.output());
  assert.match(ex.output(), warning);
  assert.match(ex.output(), /"exported":0/);
  const rejects = join(tmpdir(), `${name}-rejects.jsonl`);
  const pr = cli(['--config', typo, 'produce', '-', '--rejects', rejects], server.url, { input: '{"id":"p1","title":"Koss EQ50"}\n' });
  assert.is(await exited(pr), 0, pr.output());
  assert.match(pr.output(), warning);
  // Also what a first run gets (`pipeline up &` then `produce`, the workers not reading yet): not a fault, and it says so.
  assert.match(pr.output(), /; the records go in all the same, and workers that start later \(pipeline up\) read them from the first\n/);
  assert.match(pr.output(), /"produced":1/);
  assert.is(await redis.xlen(new Keys(name).stream('in')), 1, 'produced all the same');
  const dl = cli(['--config', writeConfig(randomPipeline('typo')), 'dlq', 'list'], server.url);
  assert.is(await exited(dl), 0, dl.output());
  assert.match(dl.output(), /0 dead letters\nwarning: nothing of pipeline "typo[^"]*" in this Redis yet .*; pipelines here: [^\n]*realpl/, 'dlq list too');
  const lb = cli(['--config', writeConfig(randomPipeline('typo')), 'labels', 'export'], server.url);
  assert.is(await exited(lb), 0, lb.output());
  assert.match(
    lb.output(),
    /"labels":0[^\n]*\nwarning: nothing of pipeline "typo[^"]*" in this Redis yet .*; pipelines here: [^\n]*realpl/,
    'labels export too',
  );
  // Now it has something: no warning.
  for (const args of [['export'], ['produce', '-', '--rejects', rejects], ['dlq', 'list']]) {
    const again = cli(['--config', typo, ...args], server.url, { input: '{"id":"p2","title":"Koss EQ50"}\n' });
    assert.is(await exited(again), 0, again.output());
    assert.not.match(again.output(), /warning: nothing of pipeline/, args[0]);
  }
});

test.run();
