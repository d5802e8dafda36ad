/**
 * The local redis-server helper (lib/redis/server.ts) that `npm start`, tests, bench and chaos
 * use: a start that fails says why, a port taken between pick and bind is picked again, and a
 * refused probe does not hold the process open.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PortTakenError } from '../../lib/core/errors.js';
import { freePort, RedisServer } from '../../lib/redis/server.js';
import { runScript } from '../helpers/exit-lag.js';

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

test('a fixed port already taken fails with PortTakenError naming the port and redis-server own words', async () => {
  const port = await freePort();
  const squatter = await occupy(port);
  const server = new RedisServer({ port });
  try {
    const err = await server.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, PortTakenError);
    assert.match((err as Error).message, String(port));
    assert.match((err as Error).message, /address already in use/i);
  } finally {
    squatter.close();
    await server.close();
  }
});

test('a port taken between the pick and the bind is picked again; the attempts are bounded', async () => {
  const taken = await freePort();
  const squatter = await occupy(taken);
  const picks = (first: number) => {
    let n = 0;
    return () => (n++ === 0 ? Promise.resolve(first) : freePort());
  };
  const retried = new RedisServer({ pickPort: picks(taken) });
  const once = new RedisServer({ pickPort: picks(taken), portAttempts: 1 });
  try {
    await retried.start();
    assert.is.not(retried.port, taken);
    const err = await once.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, PortTakenError);
  } finally {
    squatter.close();
    await retried.close();
    await once.close();
  }
});

test('a probe of a port nothing listens on lets the process exit at once (no 2 s ioredis destroy timer)', async () => {
  // Each redis-server start probes its port before the server listens; every refused probe had held
  // the process open 2 s after its work (npm start, every CLI command that starts one, the tests).
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  const file = join(dir, 'probe.mts');
  const server = resolve(import.meta.dirname, '../../lib/redis/server.ts');
  writeFileSync(
    file,
    `import { answersPing, freePort } from ${JSON.stringify(server)};\n` +
      `const answered = await answersPing(await freePort(), new Promise(() => {}));\n` +
      `process.stdout.write('answered ' + answered + '\\n');\n`,
  );
  try {
    const { out, exitLagMs } = await runScript(file);
    assert.is(out.trim(), 'answered false');
    assert.ok(exitLagMs < 1000, `the process exited ${exitLagMs} ms after the probe (ioredis's disconnectTimeout is 2000)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
