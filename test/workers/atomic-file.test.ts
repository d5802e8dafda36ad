/** The watchdog's progress file is replaced whole: a probe reading it at any moment sees a complete file. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/core/atomic-file.js';

/** Rewrites `path` with `write` 150 times while reading it between writes; counts reads that were not a whole body. */
async function tornReads(write: (path: string, data: string) => Promise<void>): Promise<number> {
  const path = join(tmpdir(), `atomic-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const body = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(50_000) }) + '\n';
  writeFileSync(path, body(0));
  let torn = 0;
  let done = false;
  const reader = (async () => {
    while (!done) {
      try {
        JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        torn++;
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let i = 1; i <= 150; i++) await write(path, body(i));
  done = true;
  await reader;
  rmSync(path, { force: true });
  return torn;
}

test('a reader never sees a part of the file while it is rewritten', async () => {
  assert.is(await tornReads(writeFileAtomic), 0);
  assert.ok(await tornReads((p, d) => writeFile(p, d)), 'writing in place is seen half-written (the bug this replaced)');
  assert.equal(
    readdirSync(tmpdir()).filter((f) => f.startsWith(`atomic-${process.pid}-`)),
    [],
    'no temporary files left behind',
  );
});

test.run();
