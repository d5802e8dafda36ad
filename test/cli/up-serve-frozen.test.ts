/**
 * `pipeline up --serve` stopped (SIGTERM) while its Redis is frozen (SIGSTOP: connections up,
 * nothing answered): the API's close and the workers' SIGTERM run together, so the workers start
 * draining at once and end within their bound (`drainTimeoutMs` + 10 s after the SIGTERM). The
 * API's close, which waits out its Redis checks and connections against the frozen server (a
 * data-loss check in flight: `dataLossCheckMs` 100), came first and held the workers' SIGTERM
 * back by about 10 s.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../../lib/redis/server.js';
import { cli, exitedWithin, FAST, writeConfig } from '../helpers/pipeline.js';
import { events, killAll, startedPids } from '../helpers/processes.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
const DRAIN_MS = 3_000;
/** The API's port: env API_TEST_PORT when set, else a free one. */
const PORT = Number(process.env.API_TEST_PORT) || (await freePort());

test('up --serve stopped while Redis is frozen signals its workers at once, not after the API has closed', async () => {
  const file = writeConfig(randomPipeline('upfrz'), { ...FAST, drainTimeoutMs: DRAIN_MS, dataLossCheckMs: 100 });
  const up = cli(['--config', file, 'up', '--no-autoscale', '--serve', '--host', '127.0.0.1', '--port', String(PORT)], server.url);
  let frozen = false;
  try {
    await waitFor('workers started', () => startedPids(up.output()).length > 0, 30_000);
    const n = startedPids(up.output()).length;
    await waitFor('every worker reads', () => events(up.output(), 'worker.started').length >= n, 60_000);
    await waitFor(
      'the API answers',
      () =>
        fetch(`http://127.0.0.1:${PORT}/health`).then(
          () => true,
          () => false,
        ),
      30_000,
    );
    process.kill(pid, 'SIGSTOP');
    frozen = true;
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    up.kill('SIGTERM');
    const workerStops = () => events(up.output(), 'shutdown.begin').filter((e) => e.component !== 'supervisor');
    await waitFor('every worker told to stop', () => workerStops().length >= n, 30_000);
    const signalledMs = Date.now() - t0;
    assert.ok(signalledMs < 2_000, `the workers were signalled ${signalledMs} ms after up's SIGTERM`);
    // Each worker ends within the bound its SIGTERM starts (drainTimeoutMs + 10 s, as the deploy files' grace period), and up after them.
    const pids = startedPids(up.output());
    await waitFor('every worker exited', () => events(up.output(), 'supervisor.exited').length >= pids.length, DRAIN_MS + 10_000);
    const code = await exitedWithin(up, 30_000);
    assert.is(code, 0, `up ended ${Date.now() - t0} ms after its SIGTERM\n${up.output().slice(-3000)}`);
  } finally {
    if (frozen) process.kill(pid, 'SIGCONT');
    up.kill('SIGKILL');
    killAll(startedPids(up.output()));
  }
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});

test.run();
