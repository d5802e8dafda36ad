import { spawnSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { waitFor } from './redis.js';

/**
 * Make a real redis-server refuse writes with MISCONF, as one whose disk is full does, and let it
 * persist again. A save point (`save 3600 1`: no automatic save within the test), a BGSAVE slowed
 * down per key (`rdb-key-save-delay`, µs) so its child is still saving, and the child killed:
 * Redis records the save as failed (`rdb_last_bgsave_status:err`) and, with
 * `stop-writes-on-bgsave-error yes` (the default), refuses every write and PING with MISCONF until a
 * save succeeds (`allowWrites`: no delay, BGSAVE).
 */
export interface MisconfOptions {
  /** How long each step may take (the child to appear, the save to be recorded). @defaultValue 20000 */
  timeoutMs?: number;
  /** A hash tag the helper's own keys carry (`{tag}misconf:...`): on a Cluster node, one of the slots it serves. @defaultValue none */
  keyTag?: string;
}

const key = (o: MisconfOptions, name: string) => `${o.keyTag ? `{${o.keyTag}}` : ''}misconf:${name}`;

/** The process id of the server behind `admin`. */
const serverPid = async (admin: Redis) => Number(/process_id:(\d+)/.exec(await admin.info('server'))![1]);

/** The pid of a child process of `pid`, or 0 when it has none. */
function childOf(pid: number): number {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return out ? Number(out.split('\n')[0]) : 0;
}

const saveStatus = async (admin: Redis) => /rdb_last_bgsave_status:(\w+)/.exec(await admin.info('persistence'))?.[1];

/** The message a plain SET gets (empty when Redis took it). */
export const setRefusal = (admin: Redis, o: MisconfOptions = {}): Promise<string> =>
  admin.set(key(o, 'probe'), 'x').then(
    () => '',
    (e: Error) => e.message,
  );

/**
 * The server behind `admin` refuses writes with MISCONF when this resolves: checked with a plain
 * SET, so a test built on it cannot pass without the outage (throws otherwise).
 */
export async function refuseWrites(admin: Redis, o: MisconfOptions = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const pid = await serverPid(admin);
  // Keys for the slowed save to spend its time on (1 s each): the child is still saving when killed.
  for (let i = 0; i < 3; i++) await admin.set(key(o, `pad:${i}`), 'x');
  await admin.config('SET', 'save', '3600 1');
  await admin.config('SET', 'rdb-key-save-delay', '1000000');
  await admin.bgsave();
  let child = 0;
  await waitFor('the BGSAVE child', () => (child = childOf(pid)) > 0, timeoutMs);
  process.kill(child, 'SIGKILL');
  await waitFor('the save recorded as failed', async () => (await saveStatus(admin)) === 'err', timeoutMs);
  const refused = await setRefusal(admin, o);
  if (!/^MISCONF\b/.test(refused)) throw new Error(`expected Redis to refuse a SET with MISCONF, it answered: ${refused || 'OK'}`);
}

/** The server persists again (a BGSAVE without delay succeeded) and takes writes; no save points left. */
export async function allowWrites(admin: Redis, o: MisconfOptions = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  await admin.config('SET', 'rdb-key-save-delay', '0');
  if ((await saveStatus(admin)) !== 'ok') {
    await admin.bgsave();
    await waitFor('a successful save', async () => (await saveStatus(admin)) === 'ok', timeoutMs);
  }
  await admin.config('SET', 'save', '');
  const refused = await setRefusal(admin, o);
  if (refused) throw new Error(`expected Redis to take writes again, it answered: ${refused}`);
}
