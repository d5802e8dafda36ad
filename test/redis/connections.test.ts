import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** Named pipeline connections from CLIENT LIST, grouped by worker (stage:consumer). */
async function connectionsByWorker(): Promise<Map<string, string[]>> {
  const list = (await redis.client('LIST')) as string;
  const byWorker = new Map<string, string[]>();
  for (const line of list.trim().split('\n')) {
    const name = /\bname=(\S*)/.exec(line)?.[1] ?? '';
    const m = /^(.+):(cmd|read)$/.exec(name);
    if (!m) continue;
    byWorker.set(m[1]!, [...(byWorker.get(m[1]!) ?? []), m[2]!]);
  }
  return byWorker;
}

test('pipeline up: each stage process holds exactly 2 named connections (read + cmd), under load too', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const up = cli(['--config', config, 'up'], server.url);
  try {
    await waitFor('3 workers connected', async () => {
      const m = await connectionsByWorker();
      return m.size === 3 && [...m.values()].every((c) => c.length === 2);
    });
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: `c${i}`, title: `t ${i}`, mpn: `M${i}` })).join('\n');
    const producer = cli(['--config', config, 'produce'], server.url, { input: lines });
    assert.is(await exited(producer), 0);
    const keys = new Keys(pipeline);
    let maxPerWorker = 0;
    await waitFor('all stored', async () => {
      for (const c of (await connectionsByWorker()).values()) maxPerWorker = Math.max(maxPerWorker, c.length);
      return (await redis.scard(keys.products)) === 5000;
    });
    const byWorker = await connectionsByWorker();
    assert.equal([...byWorker.keys()].map((k) => k.split(':')[0]).sort(), ['preprocess', 'store', 'validate']);
    for (const [worker, conns] of byWorker) assert.equal(conns.sort(), ['cmd', 'read'], worker);
    assert.is(maxPerWorker, 2);
  } finally {
    up.kill('SIGTERM');
    assert.is(await exited(up), 0, up.output());
  }
  await waitFor('connections closed', async () => (await connectionsByWorker()).size === 0);
});

test.run();
