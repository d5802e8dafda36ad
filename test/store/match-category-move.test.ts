/**
 * The match stage end to end on a real redis-server, two workers: a product matched in category
 * A and then reprocessed into B (a new classification, or a review decision routed through match)
 * is no longer a twin in A, for the worker that moved it and for the other one, and still is in
 * B (vector-add-N.lua, stages/domain/vector-moves.ts). The workers run as the match stage's ACL
 * user (`pipeline acl`): the move's HDEL and its read of the stored product are granted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { loadLibrary } from '../../lib/redis/functions.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { newEnvelope, type Envelope, type Message } from '../../lib/stream/codec.js';
import type { StageContext, StageResult } from '../../lib/worker/stage.js';
import { stageDataAccess } from '../../stages/access.js';
import { createMatch } from '../../stages/match.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const clients = [redis];
await loadLibrary(redis);
const TITLE = 'Sony WH-1000XM5 wireless noise cancelling over-ear headphones black';

let seq = 0;
/** `id` as the classifier (or, with `reviewedBy`, a reviewer) left it: in `category`. */
function message(id: string, category: string, reviewedBy?: string): Message {
  const env: Envelope = { ...newEnvelope({ id, title: TITLE }), origin: `${Date.now()}-${seq}` };
  const hop = { stage: 'classify', consumer: 'c', readAt: 0, doneAt: 0, batch: 1 };
  env.hops = [hop];
  env.outputs = { classify: { category: 'A', confidence: 0.4 } };
  if (reviewedBy) env.outputs.review = { category, reviewedBy };
  else env.outputs.classify = { category, confidence: 0.9 };
  return { id: `${Date.now()}-${seq++}`, stream: 'in', envelope: env };
}
const duplicateOf = (r: StageResult | undefined) => (r?.ok ? r.output.duplicateOf : 'failed');

for (const how of ['reprocessed with a new classification', 'moved by a review decision']) {
  test(`a product ${how} from A into B is no twin in A for either worker, and is one in B`, async () => {
    const pipeline = randomPipeline();
    const raw = {
      pipeline,
      input: 'in',
      stages: [{ name: 'match', kind: 'match', input: 'in', model: 'product-embed' }],
      routes: {},
    } as unknown as PipelineConfig;
    const config = resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
    const users = aclUsers(config, { dataAccess: stageDataAccess });
    await applyAcl(redis, users);
    const url = users.find((u) => u.stage === 'match')!.url;
    const ctx = (name: string): StageContext => ({
      config,
      stage: config.stages[0]!,
      keys: new Keys(pipeline),
      redis: clients[clients.push(client(url)) - 1]!,
      logger: createLogger({ stage: 'match', consumer: name }, 'warn'),
      metrics: noopMetrics,
    });
    const [w1, w2] = [createMatch(ctx('w1')), createMatch(ctx('w2'))];
    try {
      await Promise.all([w1.init?.(), w2.init?.()]);
      await w1.process([message('p1', 'A')]);
      assert.is(duplicateOf((await w2.process([message('twin0', 'A')]))[0]), 'p1', 'a twin in A before');
      // The twin leaves A too (worker 2 moves it), so nothing in A is like p1 but p1 itself.
      await w2.process([message('twin0', 'Z')]);
      await w1.process([message('p1', 'B', how === 'moved by a review decision' ? 'ann' : undefined)]);
      for (const [w, n] of [
        [w1, 1],
        [w2, 2],
      ] as const) {
        const [inA] = await w.process([message(`a${n}`, 'A')]);
        // Worker 2 finds worker 1's probe, added to A just before: never p1 or twin0.
        assert.is(duplicateOf(inA), n === 1 ? undefined : 'a1', `worker ${n}: no twin of p1 in A any more`);
        const [inB] = await w.process([message(`b${n}`, 'B')]);
        assert.ok(duplicateOf(inB) === 'p1' || (n === 2 && duplicateOf(inB) === 'b1'), `worker ${n}: found in B`);
      }
    } finally {
      await w1.close?.();
      await w2.close?.();
    }
  });
}

test.after(async () => {
  for (const c of clients) c.disconnect();
  await server.stop();
});
test.run();
