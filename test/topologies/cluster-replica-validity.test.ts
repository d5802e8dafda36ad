/**
 * A failover held up longer than Redis's replica validity window still ends. On a real Redis Cluster
 * (3 masters + 3 replicas, node timeout 1 s, test/helpers/cluster.ts) a second master is paused
 * (SIGSTOP: what a loaded machine or a stalled disk does to a voter) and the master of a slot is
 * SIGKILLed: with one master of three left, no majority flags it failed. Once the pause has outlasted
 * node timeout × `cluster-replica-validity-factor` (Redis's default 10) + `repl-ping-replica-period`
 * (1 s here) + node timeout, the paused master resumes, and the dead master's replica must take over. At
 * the default factor it refuses for good (`Currently unable to failover: Disconnected from master for
 * longer than allowed`) and the slots stay down; the helper's clusters set the factor to 0, as
 * docs/scale-out.md advises (its paragraph on the factor).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { RedisCluster } from '../helpers/cluster.js';

const NODE_TIMEOUT_MS = 1_000;
/** Redis's default factor: the data age past which a replica will not take over is factor × node timeout + ping period, counted after the node timeout. */
const DEFAULT_VALIDITY_FACTOR = 10;
/** repl-ping-replica-period, set on every node (Redis's default is 10 s): the window, and so the pause, 9 s shorter. */
const REPL_PING_REPLICA_PERIOD_MS = 1_000;
/** The pause: 2 s past the window that the default factor allows. */
const STALL_MS = NODE_TIMEOUT_MS * DEFAULT_VALIDITY_FACTOR + REPL_PING_REPLICA_PERIOD_MS + NODE_TIMEOUT_MS + 2_000;

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
for (const port of cluster.ports) {
  const node = cluster.node(port);
  await node.config('SET', 'repl-ping-replica-period', String(REPL_PING_REPLICA_PERIOD_MS / 1000));
  node.disconnect();
}

test(`a master dies while another is paused for ${STALL_MS} ms (no quorum): once it resumes, the dead master's replica takes over`, async () => {
  const masters = (await cluster.topology()).filter((n) => n.role === 'master' && n.slots.length > 0);
  const [victim, stalled] = masters;
  const replica = await cluster.replicaOf(victim!.port);
  const slot = victim!.slots[0]![0];
  cluster.signal(stalled!.port, 'SIGSTOP');
  try {
    await cluster.kill(victim!.port);
    await sleep(STALL_MS);
  } finally {
    cluster.signal(stalled!.port, 'SIGCONT');
  }
  assert.is(await cluster.waitPromoted(slot, victim!.port), replica, "the dead master's replica serves its slots");
});

test.after(async () => {
  await cluster.close();
});
test.run();
