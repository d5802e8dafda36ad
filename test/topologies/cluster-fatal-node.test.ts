/**
 * Why the CLI's synchronous `fatal()` (scripts/commands/common.ts) cannot name another shard's node
 * for the error it reports: it reaches a Redis error only through an unhandled rejection
 * (scripts/cli.ts) or a refused credential (an auth line, which names no node). Every error whose
 * message names a Cluster node (`lib/redis/failing-node.ts` `nodeInError`: a connect error's
 * address, a MOVED/ASK target) is a transient Redis error, which the unhandled-rejection policy
 * (scripts/commands/unhandled.ts) logs as a warn line and never hands to `fatal`. Checked here with
 * the errors a real Cluster gives for a stopped master's slot and for a redirect.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { nodeInError } from '../../lib/redis/failing-node.js';
import { keySlot } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { onUnhandledRejection } from '../../scripts/commands/unhandled.js';
import { RedisCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/redis.js';

/** How long each wait below may take. */
const WAIT_MS = 30_000;

const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();

/** What the CLI does with `err` left unhandled: warned (true) or handed to `fatal` (false). */
function survived(err: unknown): boolean {
  let fatal = false;
  onUnhandledRejection(
    err,
    () => undefined,
    () => {
      fatal = true;
      return undefined as never;
    },
  );
  return !fatal;
}

test("every Redis error naming a node (a stopped master's, a MOVED target) is transient: an unhandled one is warned, never the sync fatal's", async () => {
  const [a, b] = cluster.ports as [number, number];
  // A redirect a single-node client cannot follow: a key of another master's slots asked of `a`.
  const plain = cluster.node(a);
  let moved: Error | undefined;
  for (let i = 0; !moved && i < 100; i++) {
    const key = `k${i}`;
    if ((await cluster.masterOf(keySlot(key))) !== a)
      moved = await plain.get(key).then(
        () => undefined,
        (e: Error) => e,
      );
  }
  plain.disconnect();
  assert.ok(moved && nodeInError(moved), String(moved));
  assert.ok(isTransientRedisError(moved) && survived(moved), moved!.message);

  // A stopped master (no replica): the Cluster client's command for its slot fails naming it, or with a closed connection.
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    await n.config('SET', 'cluster-require-full-coverage', 'no');
    n.disconnect();
  }
  const redis = createClient(cluster.url, { maxRetriesPerRequest: 1 });
  const nodeErrors: Error[] = [];
  redis.on('node error', (e: Error) => nodeErrors.push(e));
  redis.on('error', () => {});
  let key = '';
  for (let i = 0; !key; i++) if ((await cluster.masterOf(keySlot(`s${i}`))) === b) key = `s${i}`;
  await redis.set(key, 'x');
  await cluster.kill(b);
  try {
    const failures: Error[] = [];
    await waitFor(
      'a command for the stopped master fails',
      async () => {
        const e = await redis.get(key).then(
          () => undefined,
          (err: Error) => err,
        );
        if (e) failures.push(e);
        return failures.length > 0 && nodeErrors.length > 0;
      },
      WAIT_MS,
    );
    for (const e of [...failures, ...nodeErrors]) {
      assert.ok(isTransientRedisError(e) && survived(e), e.message);
      const at = nodeInError(e);
      if (at) assert.is(at, `127.0.0.1:${b}`, e.message);
    }
    assert.ok(
      [...failures, ...nodeErrors].some((e) => nodeInError(e) === `127.0.0.1:${b}`),
      'some error names the stopped master',
    );
  } finally {
    redis.disconnect();
    await cluster.restart(b);
  }
});

test.after(async () => {
  await cluster.close();
});
test.run();
