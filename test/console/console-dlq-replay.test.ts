/**
 * The console's replay action and undecodable dead letters: refused (skipped, left in the DLQ),
 * since the same bytes fail the same way again and come straight back. And what the audit of a
 * purge or replay names: the ids that call removed, not the ones it was asked for.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { auditKey } from '../../lib/ops/audit.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { addDeadLetter, addUndecodableDeadLetter, ADMIN, ADMIN2, auth, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);

test('an undecodable dead letter is not replayed by the console (it came straight back: a loop with Replay all); the others of the selection are', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, pipeline));
  try {
    const good = await addDeadLetter(redis, keys, { id: 'ok-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const bad = await addUndecodableDeadLetter(redis, keys, 'bad-1');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const replay = async (body: unknown): Promise<any> =>
      (
        await fetch(`${url}/console/api/dlq/replay`, {
          method: 'POST',
          headers: { ...auth(ADMIN), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json();
    const r = await replay({ ids: [good, bad] });
    assert.equal(
      r.replayed.map((x: { id: string }) => x.id),
      [good],
    );
    assert.equal(
      r.skipped.map((x: { id: string }) => x.id),
      [bad],
    );
    assert.match(r.skipped[0].why, /^undecodable/);
    assert.is(await redis.xlen(keys.stream('in')), 1, 'only the good one went back to its stage');
    const byReason = await replay({ reason: 'undecodable' });
    assert.is(byReason.replayed.length, 0, 'Replay all of the undecodable group replays nothing');
    assert.equal(
      (await redis.xrange(keys.dlq, '-', '+')).map(([id]) => id),
      [bad],
      'it stays in the DLQ to be purged',
    );
  } finally {
    await app.close();
  }
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const post = async (url: string, action: string, token: string, body: unknown): Promise<any> => {
  const res = await fetch(`${url}/console/api/dlq/${action}`, {
    method: 'POST',
    headers: { ...auth(token), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.is(res.status, 200, await res.clone().text());
  return res.json();
};

/** The audit entries of `action`, oldest first. */
const audited = async (keys: Keys, action: string): Promise<{ by: string; purged?: number; replayed?: number; ids: string[] }[]> =>
  ((await redis.xrange(auditKey(keys), '-', '+')) as [string, string[]][])
    .map(([, f]) => JSON.parse(f[f.indexOf('a') + 1]!))
    .filter((e: { action: string }) => e.action === action);

test('a purge is audited with the ids it removed, not those it was asked for (two operators purging the same entries were both audited as removing them)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, pipeline));
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await addDeadLetter(redis, keys, { id: `p-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' }));
    // alice purges the first two; bob, from a page drawn before, all three.
    assert.equal(await post(url, 'purge', ADMIN, { ids: ids.slice(0, 2) }), { purged: 2 });
    assert.equal(await post(url, 'purge', ADMIN2, { ids }), { purged: 1 });
    const [alice, bob] = await audited(keys, 'dlq_purge');
    assert.equal({ by: alice!.by, purged: alice!.purged, ids: alice!.ids }, { by: 'alice', purged: 2, ids: ids.slice(0, 2) });
    assert.equal({ by: bob!.by, purged: bob!.purged, ids: bob!.ids }, { by: 'bob', purged: 1, ids: [ids[2]] }, "bob's audit names only the one he removed");

    // At once, on the same entries: each removed once, and each audit names what its call removed.
    const more: string[] = [];
    for (let i = 0; i < 40; i++) more.push(await addDeadLetter(redis, keys, { id: `q-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' }));
    const answers = await Promise.all([ADMIN, ADMIN2].map((t) => post(url, 'purge', t, { ids: more })));
    assert.is(answers[0].purged + answers[1].purged, 40, 'each entry purged once');
    const both = (await audited(keys, 'dlq_purge')).slice(2);
    assert.is(both.length, 2);
    for (const e of both) assert.is(e.ids.length, e.purged, 'as many ids as purged');
    assert.equal([...both[0]!.ids, ...both[1]!.ids].sort(), [...more].sort(), 'the two audits together name each entry once');
    assert.is(await redis.xlen(keys.dlq), 0);

    // A replay of entries purged already: skipped, and its audit names only what it put back.
    const left = await addDeadLetter(redis, keys, { id: 'r-0', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const replay = await post(url, 'replay', ADMIN, { ids: [ids[0], left] });
    assert.equal(
      replay.replayed.map((r: { id: string }) => r.id),
      [left],
    );
    const [replayed] = await audited(keys, 'dlq_replay');
    assert.equal({ replayed: replayed!.replayed, ids: replayed!.ids }, { replayed: 1, ids: [left] });
  } finally {
    await app.close();
  }
});

test.run();
