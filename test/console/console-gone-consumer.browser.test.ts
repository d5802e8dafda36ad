/**
 * The console's workers view after a worker process is SIGKILLed: its consumer stays in the group
 * (with what it held, until handed over) and its liveness record outlives it by up to
 * `blockMs + stallTimeoutMs`; the row had read like a live worker's (`reading · processed 0 ·
 * progress 5 s ago`). Once its alive key lapses (`aliveTtlMs`) the row says it is gone and that
 * what it holds goes to the stage's other consumers; a live worker's row does not. A real worker
 * process, a real redis-server, Debian's headless Chromium.
 */
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { signedIn } from '../helpers/browser.js';
import { READ } from '../helpers/console.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';

const pipeline = randomPipeline('gone');
/** The default claimMinIdleMs: the registration (kept aliveTtlMs + claimMinIdleMs) outlives the alive key, as it does by default. */
const TIMERS = { ...FAST, claimMinIdleMs: 30_000 };
const { server, redis, config, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline, TIMERS), {
  console: { sampleIntervalMs: 250 },
});
const keys = new Keys(pipeline);

test("a SIGKILLed worker's row says it is gone once its alive key lapsed, while its liveness record stays; a live worker's does not", async () => {
  const live = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const run = live.run();
  const child = cli(['--config', writeConfig(pipeline, TIMERS), 'worker', 'preprocess'], server.url);
  const killed = consumerName(hostname(), child.pid!, 0);
  const alive = consumerName(hostname(), process.pid, 0);
  try {
    await waitFor(
      'both consumers beat',
      async () => (await redis.exists(keys.livenessAlive('preprocess', killed), keys.livenessAlive('preprocess', alive))) === 2,
      30_000,
    );
    const consumers = async () =>
      ((await redis.xinfo('CONSUMERS', keys.stream(config.input), 'preprocess').catch(() => [])) as unknown[][]).map((c) => String(c[1]));
    // A consumer is listed once it was served a read: records, one at a time, until both were.
    let n = 0;
    const oneRecord = () =>
      produce(redis, Readable.from([JSON.stringify({ id: `g${n}`, title: `Product ${n++}` })]), {
        stream: keys.stream(config.input),
        source: 'test',
        maxRecordBytes: 65536,
      });
    await waitFor('both consumers read', async () => (await consumers()).length === 2 || (await oneRecord(), false), 30_000, 100);
    await waitFor(
      'both liveness records',
      async () => (await redis.exists(keys.liveness('preprocess', killed), keys.liveness('preprocess', alive))) === 2,
      30_000,
    );
    child.kill('SIGKILL');
    await exited(child);
    await waitFor('its alive key lapsed', async () => (await redis.exists(keys.livenessAlive('preprocess', killed))) === 0, 10_000);
    assert.is(
      await redis.exists(keys.liveness('preprocess', killed), keys.livenessRegistration('preprocess', killed)),
      2,
      'its liveness record and registration outlive it',
    );

    const { page, errors } = await signedIn(browser, url, READ, 'workers');
    const rows = page.locator('#worker-stages h2[data-stage=preprocess] + table tbody tr');
    await rows.first().waitFor();
    const rowOf = async (name: string) => (await rows.filter({ hasText: name }).first().textContent()) ?? '';
    const gone = await rowOf(killed);
    assert.match(
      gone,
      /gone: no heartbeat \(killed or frozen\); what it holds is handed to the stage's other consumers · last: \w+ · processed \d+ · progress/,
      gone,
    );
    const running = await rowOf(alive);
    assert.match(running, /processed \d+ · progress .* ago/, running);
    assert.not.match(running, /gone/, running);
    assert.equal(errors, []);
    await page.close();
  } finally {
    child.kill('SIGKILL');
    await live.stop();
    await run;
  }
});

test.run();
