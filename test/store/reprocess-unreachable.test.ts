/**
 * `pipeline reprocess` waiting out a Redis it cannot reach (a mistyped `REDIS_URL`, a server down)
 * says why in the CLI's words, naming the address and the setting to check, as `produce` does
 * (lib/redis/diagnose.ts), then fails with exit 10 after `--retry-for`. Its waiting line had been
 * ioredis's own, `Reached the max retries per request limit (which is 2) ...`, for up to ten minutes.
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../../lib/redis/server.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline } from '../helpers/redis.js';

test('a Redis that does not answer: each wait line names the address and REDIS_URL, then exit 10 with the totals', async () => {
  const port = await freePort(); // nothing listens there
  const config = writeConfig(randomPipeline('unr'));
  try {
    for (const dry of [['--dry-run'], []]) {
      const child = cli(['--config', config, 'reprocess', '--from-stage', 'validate', '--retry-for', '1000', ...dry], `redis://127.0.0.1:${port}`);
      const code = await exited(child);
      const out = child.output();
      assert.is(code, 10, out);
      const waits = out.split('\n').filter((l) => l.startsWith('reprocess: waiting: '));
      assert.ok(waits.length >= 1, out);
      for (const w of waits)
        assert.match(w, new RegExp(`^reprocess: waiting: cannot reach Redis: nothing answers at 127\\.0\\.0\\.1:${port} \\(\`REDIS_URL\`\\)`), out);
      assert.match(out, /^\{"event":"reprocess\.failed"/m, out);
    }
  } finally {
    rmSync(config, { force: true });
  }
});

test.run();
