/**
 * A Redis that takes connections but answers nothing (its process frozen with SIGSTOP, as a frozen
 * machine or a proxy in front of a dead server would be): the CLI's commands fail with the one
 * unreachable line and exit 10 once a command waited REDIS_COMMAND_TIMEOUT_MS, and `produce` waits it
 * out within `--retry-for` first. They had waited for ever (`pipeline status` printed nothing, a
 * `produce --retry-for 5000` still ran a minute later). A value that is no number of ms is refused.
 */
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { BIN, exitedWithin } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
const PIPELINE = randomPipeline('hung');
/** The timeout the commands get here; each should end within a few of it (a command or two, then the diagnosis's 1 s probe). */
const TIMEOUT_MS = 1_000;

function run(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, REDIS_URL: server.url, PIPELINE, LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(input ?? '');
  return { child, output: () => out };
}

const timeout = { REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS) };
const line = /error: cannot reach Redis: nothing answers at 127\.0\.0\.1:\d+ \(`REDIS_URL`\) .*\[Command timed out\]/;

test('a frozen Redis: status, dlq list and pause exit 10 with the unreachable line within a few command timeouts', async () => {
  process.kill(pid, 'SIGSTOP');
  try {
    for (const args of [['status'], ['dlq', 'list'], ['pause', 'preprocess']]) {
      const t0 = Date.now();
      const { child, output } = run(args, timeout);
      const code = await exitedWithin(child, 15_000);
      if (code === 'running') child.kill('SIGKILL');
      assert.is(code, 10, `${args.join(' ')}: ${output()}`);
      assert.match(output(), line);
      assert.ok(Date.now() - t0 < 12_000, `${args.join(' ')} took ${Date.now() - t0} ms`);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});

test('a frozen Redis: produce waits within --retry-for, then exits 10 with nothing produced; produces all once Redis answers again', async () => {
  const keys = new Keys(PIPELINE);
  const records = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `h${i}`, title: `Product ${i}` })).join('\n') + '\n';
  process.kill(pid, 'SIGSTOP');
  let frozen = true;
  try {
    const { child, output } = run(['produce', '-', '--rejects', '/dev/null', '--retry-for', '2000'], timeout, records);
    const code = await exitedWithin(child, 20_000);
    if (code === 'running') child.kill('SIGKILL');
    assert.is(code, 10, output());
    assert.match(output(), /waiting: cannot reach Redis: .*\[Command timed out\]; retrying for up to \d+ s more \(--retry-for\)/);
    assert.match(output(), line);
    process.kill(pid, 'SIGCONT');
    frozen = false;
    const again = run(['produce', '-', '--rejects', '/dev/null'], timeout, records);
    assert.is(await exitedWithin(again.child, 20_000), 0, again.output());
    assert.is(await redis.xlen(keys.stream('in')), 20, 'each record once');
  } finally {
    if (frozen) process.kill(pid, 'SIGCONT');
  }
});

test('REDIS_COMMAND_TIMEOUT_MS that is no number of ms: exit 1 naming it', async () => {
  const { child, output } = run(['status'], { REDIS_COMMAND_TIMEOUT_MS: '5s' });
  assert.is(await exitedWithin(child, 15_000), 1, output());
  assert.match(output(), 'REDIS_COMMAND_TIMEOUT_MS (environment): expected a number of ms >= 0 (0: none), got "5s"');
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});

test.run();
