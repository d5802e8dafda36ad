/**
 * A match re-check's correction (match-correct-N.lua) whose reply was lost with its connection is
 * sent again by ioredis itself once it reconnects; the first call had handed the record on and set
 * its marker, so the re-send finds the marker. The record is handed on once, and the correction is
 * still counted (`match.recheck_corrected`) and logged as sent: the re-send is answered as this
 * call's (it had been counted one short, logged `sent: false`).
 */
import { randomUUID } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLibrary } from '../../lib/redis/functions.js';
import { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { Shards } from '../../lib/redis/shard.js';
import { MatchRechecks, RECHECK_DEFAULTS, type RecheckHooks } from '../../stages/domain/match-recheck.js';
import { VectorStore } from '../../stages/domain/vector-store.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const serverPort = Number(new URL(server.url).port);
// Loaded first, so the proxied connection's first FCALL is the correction.
await loadLibrary(redis);

const correct = new Script('match-correct-N');

const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs, (x) => x / n);
};

/** Hooks that hand a corrected record (the envelope's bytes, then " corrected") to `out`, and keep what was counted and logged. */
function collect() {
  const counted: Record<string, number> = {};
  const logged: { event: string; fields: Record<string, unknown> }[] = [];
  const hooks: RecheckHooks = {
    correct: (envelope) => ({ envelope: Buffer.concat([envelope, Buffer.from(' corrected')]), targets: ['out'] }),
    log: (_level, event, fields) => logged.push({ event, fields }),
    count: (metric, n) => (counted[metric] = (counted[metric] ?? 0) + n),
  };
  return { hooks, counted, logged };
}

test('a correction whose reply was lost with the connection is handed on once, and counted and logged as sent', async () => {
  const keys = new Keys(randomPipeline());
  const shards = Shards.of(keys);
  // The twin's vector, logged by another worker while this one's copy of the shard was behind (read from position 0).
  const vectors = new VectorStore(redis, shards);
  await vectors.add('cat', 'twin', unit(1, 0, 0, 1));
  await vectors.sync('cat');
  const { hooks, counted, logged } = collect();
  const marker = keys.extra('match-corrected:rec');
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.exists(marker)) === 1,
    async (viaProxy, proxy) => {
      const rechecks = new MatchRechecks(viaProxy, shards, vectors, 0.9, { ...RECHECK_DEFAULTS, settleMs: 1 }, hooks);
      try {
        await rechecks.note('rec', 'cat', Buffer.from('record'), unit(1, 0, 0, 1.01), [[0, 0]]);
        rechecks.kick();
        await waitFor('the entry re-checked', async () => (await redis.llen(keys.extra('match-recheck'))) === 0);
        await rechecks.idle();
      } finally {
        rechecks.close();
      }
      assert.ok(proxy.dropped(), 'the connection was dropped after the correction went through');
    },
  );
  vectors.close();
  const out = await redis.xrange(keys.stream('out'), '-', '+');
  assert.is(out.length, 1, 'handed on once');
  assert.equal(out[0]![1].slice(0, 4), ['k', 'rec', 'e', 'record corrected']);
  assert.is(counted['match.recheck_corrected'], 1);
  const line = logged.find((l) => l.event === 'match.recheck_corrected');
  assert.ok(line, 'the correction is logged');
  assert.equal({ key: line.fields.key, duplicateOf: line.fields.duplicateOf, sent: line.fields.sent }, { key: 'rec', duplicateOf: 'twin', sent: true });
});

test('a twin whose marker (set with its call id) names this record is not taken: the first correction stands', async () => {
  const keys = new Keys(randomPipeline());
  const shards = Shards.of(keys);
  const vectors = new VectorStore(redis, shards);
  await vectors.add('cat', 'twin', unit(0, 1, 1, 0));
  await vectors.sync('cat');
  // The twin was re-checked first and corrected as a duplicate of `rec`.
  const call = randomUUID();
  const twinMarker = keys.extra('match-corrected:twin');
  assert.is(await correct.run<number>(redis, [twinMarker, keys.stream('out')], ['twin', 'rec', 'twin corrected', '60000', call]), 1);
  assert.is(await redis.get(twinMarker), `rec\0${call}`);
  const { hooks, counted } = collect();
  const rechecks = new MatchRechecks(redis, shards, vectors, 0.9, { ...RECHECK_DEFAULTS, settleMs: 1 }, hooks);
  try {
    await rechecks.note('rec', 'cat', Buffer.from('record'), unit(0, 1, 1, 0.01), [[0, 0]]);
    rechecks.kick();
    await waitFor('the entry re-checked', async () => (await redis.llen(keys.extra('match-recheck'))) === 0);
    await rechecks.idle();
  } finally {
    rechecks.close();
    vectors.close();
  }
  assert.is(counted['match.rechecked'], 1);
  assert.is(counted['match.recheck_corrected'], undefined, 'not corrected');
  assert.equal(
    (await redis.xrange(keys.stream('out'), '-', '+')).map(([, f]) => f[1]),
    ['twin'],
    'only the twin handed on',
  );
  assert.is(await redis.exists(keys.extra('match-corrected:rec')), 0);
});

test.run();
