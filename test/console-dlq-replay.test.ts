/**
 * The console's replay action and undecodable dead letters: refused (skipped, left in the DLQ),
 * since the same bytes fail the same way again and come straight back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../lib/redis/keys.js';
import { rulesOnlyConfig } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';
import { addDeadLetter, addUndecodableDeadLetter, ADMIN, auth, startConsole } from './helpers/console.js';

const server = await startRedis();
const redis = client(server.url);

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

test.after(async () => {
  redis.disconnect();
  await server.stop();
});
test.run();
