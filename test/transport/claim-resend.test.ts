/**
 * A reclaimer's claim (claim-3.lua) whose reply was lost with its connection is sent again by
 * ioredis itself once it reconnects. The first call gave the entries to the claiming consumer and
 * reset their idle time; the re-send is answered from the consumer's claim memory with the entries
 * the first call took (and the trimmed ones it dropped), so the consumer runs them now. It had
 * claimed none: they waited, held by a consumer that never learned of them, until idle past
 * `claimMinIdleMs` again, and the trimmed ones went unreported.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLibrary } from '../../lib/redis/functions.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { fenceToken } from '../../lib/stream/handoff.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const serverPort = Number(new URL(server.url).port);
// Loaded first, so the proxied connection's first FCALL is the claim.
await loadLibrary(redis);

const claim = new Script('claim-3');
type ClaimReply = [Buffer, Buffer[], Buffer[]?];
const MIN_IDLE_MS = 300;
const str = (xs: Buffer[] | undefined) => (xs ?? []).map(String);

/** Owner of each pending entry of group `work`. */
async function owners(stream: string): Promise<string[]> {
  const rows = (await redis.xpending(stream, 'work', '-', '+', 100)) as [string, string, number, number][];
  return rows.map((r) => r[1]);
}

/** Stage `work`'s input with 4 entries read by a consumer gone, idle past MIN_IDLE_MS; the last one's data trimmed. */
async function abandoned(keys: Keys): Promise<{ src: string; ids: string[]; trimmed: string }> {
  const src = keys.stream('in');
  await redis.xgroup('CREATE', src, 'work', '0', 'MKSTREAM');
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await redis.xadd(src, '*', 'k', `r${i}`))!);
  await redis.xreadgroup('GROUP', 'work', 'gone', 'STREAMS', src, '>');
  const trimmed = ids.pop()!;
  await redis.xdel(src, trimmed);
  await new Promise((r) => setTimeout(r, MIN_IDLE_MS + 50));
  return { src, ids, trimmed };
}

/** The reclaimer's call (lib/worker/reclaimer.ts): ids only, a fresh token, the memory kept 60 s. */
const claimOf = (keys: Keys, src: string, consumer: string) => {
  const memory = keys.livenessClaim('work', consumer);
  return { keys: [src, keys.fence('work'), memory], args: ['work', consumer, MIN_IDLE_MS, '0-0', 10, fenceToken(), 'JUSTID', 60_000] };
};

test('a claim whose reply was lost: the re-send is answered with the entries the first call took and the trimmed ones it dropped', async () => {
  const keys = new Keys(randomPipeline());
  const { src, ids, trimmed } = await abandoned(keys);
  const call = claimOf(keys, src, 'c1');
  const reply = await throughReplyLosingProxy(
    serverPort,
    async () => (await owners(src)).join() === 'c1,c1,c1',
    async (viaProxy, proxy) => {
      const r = await claim.runBuffer<ClaimReply>(viaProxy, call.keys, call.args);
      assert.ok(proxy.dropped(), 'the connection was dropped after the claim went through');
      return r;
    },
  );
  assert.equal(str(reply[1]), ids, 'the entries the first call claimed');
  assert.equal(str(reply[2]), [trimmed], 'and the trimmed one it dropped from the group');
  assert.not.ok(isLivenessMarker(call.keys[2]!), 'the memory is no liveness marker (`pipeline health`, model-workers scans)');
});

test('the memory answers only the call that wrote it: the next claim takes what is claimable then', async () => {
  const keys = new Keys(randomPipeline());
  const { src, ids } = await abandoned(keys);
  const first = claimOf(keys, src, 'c1');
  assert.equal(str((await claim.runBuffer<ClaimReply>(redis, first.keys, first.args))[1]), ids);
  assert.equal(str((await claim.runBuffer<ClaimReply>(redis, first.keys, first.args))[1]), ids, 'the same call again: the same answer');
  const next = claimOf(keys, src, 'c1');
  assert.equal(str((await claim.runBuffer<ClaimReply>(redis, next.keys, next.args))[1]), [], 'a new call: nothing idle enough');
  assert.equal(await owners(src), ['c1', 'c1', 'c1']);
  const plain = ['work', 'c2', MIN_IDLE_MS, '0-0', 10, fenceToken(), 'JUSTID'];
  await new Promise((r) => setTimeout(r, MIN_IDLE_MS + 50));
  assert.equal(
    str((await claim.runBuffer<ClaimReply>(redis, [src, keys.fence('work'), keys.fence('work')], plain))[1]),
    ids,
    'without a memory TTL: a plain claim',
  );
  assert.is(await redis.exists(keys.livenessClaim('work', 'c2')), 0, 'no memory kept');
});

test.run();
