/**
 * A Redis Cluster moving a slot or failing over (docs/scale-out.md) answers MOVED / ASK /
 * CLUSTERDOWN / TRYAGAIN, and unblocks a reader whose stream moved away with UNBLOCKED. None is the
 * record's fault: the failure policy (lib/core/failure-policy.ts) calls them transient, so they are
 * waited out with no delivery counted. A bare MOVED had been poison: an audit's match messages
 * reached delivery 3 of 5 in a 4 s failover, and a resharding's UNBLOCKED was logged `transient: false`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classify, decide, isTransientRedisError, waitInPlace } from '../../lib/core/failure-policy.js';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const reply = (msg: string) => Object.assign(new Error(msg), { name: 'ReplyError' });
const policy = { maxDeliveries: 5, retryBaseMs: 100, retryMaxMs: 1000 };

test('MOVED, ASK, CLUSTERDOWN, TRYAGAIN and UNBLOCKED are transient Redis outages: retried with no delivery counted, never dead-lettered', () => {
  for (const m of [
    'MOVED 15063 127.0.0.1:7203',
    'ASK 9428 127.0.0.1:7204',
    'CLUSTERDOWN The cluster is down',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'UNBLOCKED the stream key no longer exists',
    'Too many Cluster redirections. Last error: ReplyError: MOVED 11949 127.0.0.1:7205',
  ]) {
    assert.equal(classify(reply(m)), { class: 'transient', outage: 'redis_unavailable' }, m);
    assert.ok(isTransientRedisError(reply(m)), m);
    const d = decide(reply(m), policy.maxDeliveries, policy);
    assert.is(d.action, 'retry_later', `${m}: not dead-lettered at the last delivery`);
    assert.is(d.action === 'retry_later' && d.attempt, policy.maxDeliveries, `${m}: no delivery counted`);
    assert.ok(waitInPlace([reply(m), reply(m)], false), `${m}: the batch waits in place`);
  }
  // Only a reply that starts with the word: a stage's own message that mentions it is not one.
  assert.equal(classify(reply('ERR price MOVED to another field')), { class: 'poison' });
});

test('a blocked reader unblocked because its stream went (UNBLOCKED, as when a resharding moves it) logs the loop error as transient and reads on', async () => {
  const server = await startRedis();
  const admin = client(server.url);
  const pipeline = randomPipeline();
  // A long block, so the stream goes while the read is blocked on it.
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, blockMs: 10_000 });
  const stage = config.stages.find((s) => s.input === config.input)!;
  const lines: string[] = [];
  const worker = new Worker({ config, stage: stage.name, stages: STAGES, logger: createLogger({ stage: stage.name }, 'warn', (l) => lines.push(l)) });
  const run = worker.run();
  const input = new Keys(pipeline).stream(config.input);
  try {
    const blocked = async () => / cmd=xreadgroup /.test(String(await admin.client('LIST')));
    await waitFor('the reader blocked on its stream', blocked, 20_000);
    await admin.del(input);
    const loopError = () => lines.find((l) => l.includes('"consumer.loop_error"') && l.includes('UNBLOCKED'));
    await waitFor('the UNBLOCKED loop error logged', () => loopError() !== undefined, 20_000);
    assert.match(loopError()!, /"transient":true/, loopError());
    // The loop goes on: the group is created again and the reader blocks on the new stream.
    await waitFor('the group recreated', () => lines.some((l) => l.includes('"consumer.group_recreated"')), 20_000);
    await waitFor('the reader blocked again', blocked, 20_000);
  } finally {
    await worker.stop();
    await run.catch(() => undefined);
    admin.disconnect();
    await server.close();
  }
});

test.run();
