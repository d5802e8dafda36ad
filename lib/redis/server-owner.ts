/**
 * A redis-server that a process starts for itself (`pipeline start` and `eval` without REDIS_URL,
 * tests, bench, chaos: lib/redis/server.ts) must not outlive that process. A SIGKILL runs no exit
 * hook, and had left it running for good. Two guards, both cheap (docs/reliability.md#a-local-redis-server-dies-with-its-owner):
 *
 * - a watcher (`watchOwner`): a `sh` of its own process group (about 1 MB) blocked reading a pipe
 *   whose other end only the owner holds. However the owner dies, SIGKILL included, the kernel
 *   closes that end: the read returns and the watcher sends redis-server SIGTERM, at once, no
 *   polling, and removes its temp dir;
 * - an owner file (`owner.json` in the server's temp dir: the owner's pid and start time, the
 *   host, the port and redis-server's pid): the next `pipeline start`, `eval` or `up`
 *   (`reapOrphanedServers`) stops the redis-server of every such dir whose owner is gone (for when
 *   the watcher was killed too, e.g. `kill -9` of every process) and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { writeFileAtomic } from '../core/atomic-file.js';
import { sleep } from '../core/backoff.js';
import type { Logger } from '../observe/logger.js';
import { dropConnection } from './drop-connection.js';

/** The prefix of the temp dirs RedisServer makes (`<tmpdir>/pipeline-redis-XXXXXX`). */
export const SERVER_DIR_PREFIX = 'pipeline-redis-';
export const OWNER_FILE = 'owner.json';

export interface OwnerRecord {
  /** The process that started the server, and its start time (Linux: /proc/<pid>/stat, so a reused pid is no owner). */
  ownerPid: number;
  ownerStart?: string;
  host: string;
  port: number;
  /** redis-server's pid, and its watcher's (none when /bin/sh could not be started). */
  pid: number;
  watcher?: number;
}

/**
 * Wakes when the owner's end of its stdin closes (the owner exited, however), then SIGTERMs pid $1
 * unless /proc says that pid is no redis-server any more, and removes the temp dir $2 if given.
 */
const WATCH_SCRIPT =
  'read line; if [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm")" != redis-server ]; then exit 0; fi; kill -TERM "$1" 2>/dev/null; if [ -n "$2" ]; then rm -rf -- "$2"; fi';

/**
 * Start the watcher of redis-server `pid` (see above), which also removes `tempDir` (the server's
 * own temp dir; none for a dir the caller gave). Its own process group, so a terminal's Ctrl-C does
 * not stop it; unreferenced, so it never keeps the owner alive. The owner kills it once
 * redis-server has exited.
 */
export function watchOwner(pid: number, tempDir?: string): ChildProcess {
  const args = ['-c', WATCH_SCRIPT, 'pipeline-redis-watch', String(pid), tempDir ?? ''];
  const watcher = spawn('/bin/sh', args, { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  watcher.on('error', () => {}); // no /bin/sh: the owner file is left as the guard
  watcher.stdin?.on('error', () => {});
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watcher;
}

/** A process's start time in clock ticks since boot (Linux); undefined elsewhere or when it is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
  }
}

export async function writeOwnerFile(dir: string, port: number, pid: number, watcher?: number): Promise<void> {
  const record: OwnerRecord = { ownerPid: process.pid, ownerStart: procStat(process.pid)?.start, host: hostname(), port, pid, watcher };
  await writeFileAtomic(join(dir, OWNER_FILE), JSON.stringify(record) + '\n');
}

/** Whether the owner still runs: not gone, not a zombie, and (Linux) not another process under its pid. */
function ownerAlive(r: OwnerRecord): boolean {
  try {
    process.kill(r.ownerPid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(r.ownerPid);
  if (!stat) return true; // no /proc: kill(0) said it runs
  return stat.state !== 'Z' && stat.state !== 'X' && (r.ownerStart === undefined || stat.start === r.ownerStart);
}

function readOwner(dir: string): OwnerRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerRecord>;
    return typeof r.ownerPid === 'number' && typeof r.port === 'number' && typeof r.pid === 'number' && typeof r.host === 'string'
      ? (r as OwnerRecord)
      : undefined;
  } catch {
    return undefined; // no owner file (being made, or a dir of an older version): not ours to judge
  }
}

/** True once nothing accepts connections on 127.0.0.1:`port`. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

/** The pid of the redis-server on `port` when its data dir is `dir` (so it is that dir's server), else undefined. */
async function serverOf(dir: string, port: number, timeoutMs: number): Promise<number | undefined> {
  const probe = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const [, at] = (await probe.config('GET', 'dir')) as [string, string];
    if (at !== realpathSync(dir)) return undefined; // another server took the port since
    const pid = /process_id:(\d+)/.exec(await probe.info('server'))?.[1];
    return pid ? Number(pid) : undefined;
  } catch {
    return undefined; // nothing there (or nothing that answers)
  } finally {
    dropConnection(probe);
  }
}

export interface ReapOptions {
  logger: Logger;
  /** Where the servers' dirs are. @defaultValue os.tmpdir() */
  tmpDir?: string;
  /** One connection probe of an orphan's port (CONFIG GET dir, INFO). @defaultValue 1000 */
  probeTimeoutMs?: number;
  /** How long an orphan gets to exit after SIGTERM before SIGKILL. @defaultValue 5000 */
  stopTimeoutMs?: number;
  /** How often its port is checked meanwhile. @defaultValue 50 */
  pollMs?: number;
}

/**
 * Stop the redis-server of every `pipeline-redis-*` dir with an owner file whose owner is gone (on
 * this host), and remove the dir; logs `redis.orphan_stopped` per server stopped. A dir without an
 * owner file is left alone. Never throws: a dir it cannot handle is logged (`redis.orphan_left`).
 * Returns how many servers it stopped.
 */
export async function reapOrphanedServers(opts: ReapOptions): Promise<number> {
  const base = opts.tmpDir ?? tmpdir();
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(SERVER_DIR_PREFIX));
  } catch {
    return 0;
  }
  const host = hostname();
  const stale = names
    .map((n) => join(base, n))
    .flatMap((dir) => {
      const r = readOwner(dir);
      return r && r.host === host && !ownerAlive(r) ? [{ dir, r }] : [];
    });
  const stopped = await Promise.all(stale.map(({ dir, r }) => reapOne(dir, r, opts)));
  return stopped.filter(Boolean).length;
}

async function reapOne(dir: string, r: OwnerRecord, opts: ReapOptions): Promise<boolean> {
  const { logger } = opts;
  try {
    const pid = await serverOf(dir, r.port, opts.probeTimeoutMs ?? 1_000);
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + (opts.stopTimeoutMs ?? 5_000);
      while (!(await refused(r.port))) {
        if (Date.now() > deadline) {
          process.kill(pid, 'SIGKILL');
          break;
        }
        await sleep(opts.pollMs ?? 50);
      }
      logger.warn('redis.orphan_stopped', { dir, port: r.port, pid, ownerPid: r.ownerPid, why: 'its owner process is gone' });
    }
    rmSync(dir, { recursive: true, force: true });
    return pid !== undefined;
  } catch (err) {
    logger.warn('redis.orphan_left', { dir, port: r.port, pid: r.pid, err });
    return false;
  }
}
