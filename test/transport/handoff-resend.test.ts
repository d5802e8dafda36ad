/**
 * A stage's hand-off (handoff-N.lua) whose reply was lost with its connection is sent again by
 * ioredis itself once it reconnects; the first call had acked the batch and forwarded it, so the
 * re-send finds every entry acked. The batch is forwarded once, and counted as handed off
 * (`messages.out`), with no `handoff.already_acked` warning: the re-send is answered as the first
 * call was (it had been counted as suppressed duplicates, and warned of as if another consumer took it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLibrary } from '../../lib/redis/functions.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { readGroupEntries } from '../../lib/stream/entries.js';
import { commitHandOff, type Forward } from '../../lib/stream/handoff.js';
import { consumerHandOffSource } from '../../lib/worker/batch-commit.js';
import { STAGE_DEFAULTS } from '../../lib/config/defaults.js';
import { createLogger } from '../../lib/observe/logger.js';
import { noopMetrics, type Metrics } from '../../lib/observe/metrics.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const serverPort = Number(new URL(server.url).port);
// Loaded first, so the proxied connection's first FCALL is the hand-off.
await loadLibrary(redis);

/** A batch of `n` entries on stage `work`'s input, read by consumer c1, and their forwards to `out`. */
async function readBatch(keys: Keys, n: number): Promise<{ src: string; out: string; forwards: Forward[] }> {
  const [src, out] = [keys.stream('in'), keys.stream('out')];
  await redis.xgroup('CREATE', src, 'work', '0', 'MKSTREAM');
  for (let i = 0; i < n; i++) await redis.xadd(src, '*', 'k', `r${i}`, 'e', `v${i}`);
  const read = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'work', 'c1', 'STREAMS', src, '>'));
  return { src, out, forwards: read.map((e) => ({ id: e.id, targets: [out], fields: ['k', String(e.fields[1]), 'e', 'done'] })) };
}

function collect() {
  const lines: { level: string; event: string }[] = [];
  const counted: Record<string, number> = {};
  const logger = createLogger({}, 'info', (line) => lines.push(JSON.parse(line) as { level: string; event: string }));
  const metrics: Metrics = { ...noopMetrics, increment: (name, n = 1) => void (counted[name] = (counted[name] ?? 0) + n) };
  return { lines, counted, logger, metrics };
}

for (const [path, fence] of [
  ['fenced', '0'],
  ['checked', ''],
] as const) {
  test(`a ${path} hand-off whose reply was lost with the connection forwards the batch once and counts it as handed off, with no warning`, async () => {
    const keys = new Keys(randomPipeline());
    const { src, out, forwards } = await readBatch(keys, 5);
    const source = consumerHandOffSource(keys, { ...STAGE_DEFAULTS, name: 'work' }, src, 'work', 'c1');
    const { lines, counted, logger, metrics } = collect();
    const done = await throughReplyLosingProxy(
      serverPort,
      async () => (await redis.xlen(out)) === 5,
      async (viaProxy, proxy) => {
        const r = await commitHandOff(viaProxy, source, forwards, fence, {
          retryBaseMs: 10,
          retryMaxMs: 100,
          stopping: () => false,
          logger,
          metrics,
          tags: {},
        });
        assert.ok(proxy.dropped(), 'the connection was dropped after the hand-off went through');
        return r;
      },
    );
    assert.is(await redis.xlen(out), 5, 'forwarded once');
    assert.equal((await redis.xpending(src, 'work'))[0], 0, 'all acked');
    assert.is(done.fresh, 5);
    assert.equal({ out: counted['messages.out'], dup: counted['messages.duplicates_suppressed'] }, { out: 5, dup: undefined });
    assert.equal(
      lines.filter((l) => l.level !== 'info').map((l) => l.event),
      [],
      'no warning',
    );
    assert.not.ok(isLivenessMarker(source.memory!.key), 'the memory is no liveness marker (`pipeline health`, model-workers scans)');
  });
}

test('a hand-off of entries another consumer acked first is still answered as already acked, and warned of', async () => {
  const keys = new Keys(randomPipeline());
  const { src, forwards } = await readBatch(keys, 2);
  await redis.xack(src, 'work', forwards[0]!.id);
  const source = consumerHandOffSource(keys, { ...STAGE_DEFAULTS, name: 'work' }, src, 'work', 'c1');
  const { lines, counted, logger, metrics } = collect();
  const r = await commitHandOff(redis, source, forwards, '', { retryBaseMs: 10, retryMaxMs: 100, stopping: () => false, logger, metrics, tags: {} });
  assert.is(r.fresh, 1);
  assert.equal({ out: counted['messages.out'], dup: counted['messages.duplicates_suppressed'] }, { out: 1, dup: 1 });
  assert.equal(
    lines.filter((l) => l.level === 'warn').map((l) => l.event),
    ['handoff.already_acked'],
  );
});

test.run();
