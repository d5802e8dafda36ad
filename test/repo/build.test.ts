/**
 * The compiled build (docs/development.md): `scripts/build.mjs` compiles to a fresh folder, and
 * the compiled CLI runs without tsx, finds its Lua scripts (copied beside it) and config (from the
 * package root), and carries records through a real pipeline. The other tests run the sources:
 * their own code through tsx, the CLI they start compiled from them at the run's start
 * (test/runner/run-build.ts), or through tsx when a file runs alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { freePort } from '../../lib/redis/server.js';
import { exited } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');
const out = join(REPO, `dist-test-${process.pid}`);

test('build.mjs compiles the CLI and copies the Lua scripts and migrations; the compiled CLI runs a pipeline', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  try {
    execFileSync(process.execPath, [join(REPO, 'scripts/build.mjs'), '--out-dir', out], { stdio: 'pipe' });
    const cli = join(out, 'scripts/cli.js');
    for (const f of readdirSync(join(REPO, 'lib/lua'))) assert.ok(existsSync(join(out, 'lib/lua', f)), `lib/lua/${f} copied`);
    assert.ok(existsSync(join(out, 'stages/sinks/migrations/001_products.sql')), 'migrations copied');
    assert.not.ok(existsSync(join(out, 'deploy')), 'deploy rendering (devDependency yaml) stays out of the build');
    assert.match(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }), /Usage: pipeline/);

    // A plain node (no tsx loader) runs the compiled rules-only pipeline end to end.
    const pipeline = randomPipeline('build');
    const env = { ...process.env, REDIS_URL: server.url, PIPELINE: pipeline, PIPELINE_CONFIG: join(REPO, 'config/rules-only.json'), NODE_OPTIONS: '' };
    const run = (args: string[]) => spawn(process.execPath, [cli, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const workers = ['preprocess', 'validate', 'store'].map((s) => run(['worker', s]));
    try {
      const producer = run(['produce', '--rejects', join(out, 'rejects.jsonl'), join(REPO, 'data/sample.jsonl')]);
      let log = '';
      producer.stderr!.on('data', (d: Buffer) => (log += d));
      producer.stdout!.on('data', (d: Buffer) => (log += d));
      assert.is(await exited(producer), 0, log);
      const produced = Number(/"produced":(\d+)/.exec(log)?.[1]);
      assert.ok(produced > 0, log);
      const keys = new Keys(pipeline);
      await waitFor(`${produced} products stored by the compiled workers`, async () => (await redis.scard(keys.products)) === produced, 60_000, 100);
      // The compiled server finds the console's page (console/ at the package root, not in dist/).
      const port = await freePort(); // a fixed port (it was 20000 + pid % 20000) may be another test file's at the same time
      const server = run(['serve', '--port', String(port)]);
      workers.push(server);
      let page = '';
      await waitFor(
        'the compiled server serves the console',
        async () => {
          page = await fetch(`http://127.0.0.1:${port}/`).then(
            (r) => (r.ok ? r.text() : ''),
            () => '',
          );
          return page !== '';
        },
        30_000,
        200,
      );
      assert.match(page, /<html/i);
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map(exited));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    redis.disconnect();
    await server.close();
  }
});

test.run();
