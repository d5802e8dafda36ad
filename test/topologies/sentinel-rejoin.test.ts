/**
 * A master SIGKILLed behind Sentinel and restarted empty as the promoted one's replica
 * (test/helpers/sentinel.ts restartEmpty, what test/topologies/sentinel-failover.test.ts does mid-run) is
 * never promoted before its first sync. Redis 7 reports a replica that never synced
 * `master_link_down_since_seconds:-1`, which the sentinel's candidate filter lets through, and a
 * master just promoted is eligible for a new failover at once (the switch resets its failover
 * clock): the promoted master silent for down-after-milliseconds (here SIGSTOPped; under load, the
 * sentinel's fresh links to it slower than 1 s to answer their first PING) made the empty server
 * the master, and the promoted one, holding the data, its replica (the SIGKILL flake of
 * sentinel-failover: `+sdown` 1 s after `+switch-master`, `+selected-slave` the restarted one,
 * `+convert-to-slave` of the promoted). With `replica-priority 0` until its link is up the
 * sentinel finds no replica to promote, the silent master comes back as the master, and no data is
 * lost.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/redis.js';
import { SentinelSet } from '../helpers/sentinel.js';

/** Keys written (and acknowledged by the replica) before the kill. */
const KEYS = 200;
/** How long the sentinel gets to see the restarted server, and to decide on the silent master. */
const WAIT_MS = 20_000;
const POLL_MS = 50;
/** The promoted master's `repl-diskless-sync-delay` (seconds) while the test needs the restarted server unsynced; 0 after. */
const HOLD_SYNC_S = 60;

const set = await new SentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 3000 }).start();

function client(port: number): Redis {
  const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  return c;
}

/** One field of INFO `section` of the server at `port`. */
async function infoField(port: number, section: string, field: string): Promise<string> {
  const c = client(port);
  try {
    return new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(String(await c.info(section)))?.[1] ?? '';
  } finally {
    c.disconnect();
  }
}

async function configSet(port: number, name: string, value: string): Promise<void> {
  const c = client(port);
  try {
    await c.config('SET', name, value);
  } finally {
    c.disconnect();
  }
}

/** The sentinel's view of its replica at `port` (SENTINEL REPLICAS: field, value, field, value...). */
async function sentinelReplica(port: number): Promise<Record<string, string> | undefined> {
  for (const line of await set.ask('replicas')) {
    const words = line.split(' ');
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < words.length; i += 2) fields[words[i]!] = words[i + 1]!;
    if (fields.port === String(port)) return fields;
  }
  return undefined;
}

test('a master killed and restarted empty is not promoted before its first sync: the silent promoted master stays the master, its data kept', async () => {
  const old = await set.masterPort();
  const w = client(old);
  try {
    for (let i = 0; i < KEYS; i++) await w.set(`k${i}`, `v${i}`);
    assert.is(await w.wait(1, 5000), 1, 'the replica has every key before the kill');
  } finally {
    w.disconnect();
  }
  await set.kill(old);
  const promoted = await set.waitPromoted(old);
  // Its first sync held back (the default diskless delay is 5 s) until the sentinel has decided: empty meanwhile.
  await configSet(promoted, 'repl-diskless-sync-delay', String(HOLD_SYNC_S));
  await set.restartEmpty(old, promoted);
  // The sentinel has the restarted server's INFO (its run id, no flag but "slave"): a candidate if allowed.
  const runId = await infoField(old, 'server', 'run_id');
  await waitFor(
    'the sentinel sees the restarted server',
    async () => {
      const r = await sentinelReplica(old);
      return r?.runid === runId && r.flags === 'slave';
    },
    WAIT_MS,
    POLL_MS,
  );
  assert.is(await infoField(old, 'replication', 'master_link_status'), 'down', 'the restarted server has not synced yet (empty)');
  const from = set.sentinelLog().length;
  await set.freeze(promoted, true);
  try {
    await waitFor(
      'the sentinel tries to fail the silent master over',
      async () => /\+selected-slave|-failover-abort-no-good-slave/.test(set.sentinelLog().slice(from)),
      WAIT_MS,
      POLL_MS,
    );
  } finally {
    await set.freeze(promoted, false);
  }
  await configSet(promoted, 'repl-diskless-sync-delay', '0');
  const log = set.sentinelLog().slice(from);
  assert.ok(log.includes(`+try-failover master ${set.name} 127.0.0.1 ${promoted}`), `the sentinel tried a failover of the silent master:\n${log}`);
  assert.not.ok(/\+selected-slave/.test(log), `no replica selected for promotion:\n${log}`);
  assert.is(await set.role(old), 'slave', 'the restarted empty server is still a replica');
  await set.waitSynced(old, promoted);
  assert.is(await set.masterPort(), promoted, 'the sentinel still names the promoted master');
  assert.is(await set.role(promoted), 'master', 'the promoted master is still the master');
  for (const port of [promoted, old]) {
    const c = client(port);
    try {
      assert.is(await c.dbsize(), KEYS, `every key on ${port === promoted ? 'the master' : 'the rejoined replica'}`);
    } finally {
      c.disconnect();
    }
  }
  assert.is(await infoField(old, 'replication', 'slave_priority'), '100', 'synced, it may be promoted again');
});

test.after(async () => {
  await set.close();
});
test.run();
