/**
 * Connections.close() (lib/redis/connections.ts) while Redis cannot be reached: the process exits
 * soon after, not when ioredis's timers run out. It had sent QUIT into the offline queue (armed
 * with the command timeout, 5 s in the API) and then dropped the closed socket (a destroy timer
 * of 2 s): an API closed during an outage held its process open that long after its close.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript } from '../helpers/exit-lag.js';

test('close() while Redis is unreachable lets the process exit within quitTimeoutMs (QUIT had waited out the command timeout)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conn-close-'));
  const file = join(dir, 'close.mts');
  const lib = (p: string) => JSON.stringify(resolve(import.meta.dirname, '../../lib', p));
  writeFileSync(
    file,
    `import { Connections } from ${lib('redis/connections.ts')};\n` +
      `import { freePort } from ${lib('redis/server.ts')};\n` +
      `import { silentLogger } from ${lib('observe/logger.ts')};\n` +
      // Nothing listens on the port: the shared connection and a reader keep reconnecting.
      `const c = new Connections({ url: 'redis://127.0.0.1:' + (await freePort()), name: 't', logger: silentLogger, commandTimeoutMs: 5000, quitTimeoutMs: 200 });\n` +
      // No command of its own: one would hold the process with its own timeout, whatever close() does.
      `c.command();\n` +
      `c.reader('r');\n` +
      `await new Promise((r) => setTimeout(r, 300));\n` +
      `await c.close();\n` +
      `process.stdout.write('closed\\n');\n`,
  );
  try {
    const { out, exitLagMs } = await runScript(file);
    assert.is(out.trim(), 'closed');
    assert.ok(exitLagMs < 1_500, `the process exited ${exitLagMs} ms after close() (the command timeout is 5000, ioredis's disconnectTimeout 2000)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
