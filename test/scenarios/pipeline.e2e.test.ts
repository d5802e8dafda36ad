import { createReadStream, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';

const { server, redis } = await redisForFile(test);

test('1,000 records: every one stored exactly once, with the route its identifiers call for', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const keys = new Keys(config.pipeline);
  const records = Array.from({ length: 1000 }, (_, i) => ({
    id: `p${i}`,
    title: `<b>Product</b>  ${i}\u0007`,
    ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}),
    ...(i % 5 === 0 ? { description: `UPC 036000291452 item ${i}` } : {}),
  }));
  const file = join(tmpdir(), `${config.pipeline}.jsonl`);
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n'));
  const workers = startWorkers(config, 2);
  try {
    const summary = await produce(redis, createReadStream(file), { stream: keys.stream('in'), source: file, maxRecordBytes: 65536 });
    assert.is(summary.produced, 1000);
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === 1000 && isIdle(await pipelineStatus(redis, config)));
  } finally {
    await stopAll(workers);
  }
  for (const r of records) {
    const h = await redis.hgetall(keys.product(r.id));
    const doc = JSON.parse(h.doc!) as { route: string[]; outputs: Record<string, Record<string, unknown>> };
    const hasId = r.mpn !== undefined || r.description !== undefined;
    assert.equal(doc.route, hasId ? ['preprocess', 'validate', 'store'] : ['preprocess', 'store'], r.id);
    assert.is(h.copies, '1', `${r.id} written by more than one store entry`);
    assert.is(doc.outputs.preprocess!.title, `Product ${r.id.slice(1)}`);
    if (r.description) assert.is(doc.outputs.validate!.gtinValid, true);
  }
  const status = await pipelineStatus(redis, config);
  assert.is(status.dlq, 0);
  for (const s of status.streams) if (s.group) assert.is(s.group.pending, 0, s.stream);
});

test.run();
