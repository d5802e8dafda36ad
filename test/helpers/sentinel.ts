import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, RedisServer } from '../../lib/redis/server.js';
import { portRange } from './cluster.js';
import { SYNC_NOW, waitFor } from './redis.js';

export interface SentinelSetOptions {
  /** The master's name the sentinel monitors (the path of the redis+sentinel:// URL). @defaultValue "mymaster" */
  name?: string;
  /** `sentinel down-after-milliseconds`: a master silent this long is down (quorum 1: failed over). @defaultValue 1000 */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. @defaultValue 3000 */
  failoverTimeoutMs?: number;
  /** How long start() and the waits below wait. @defaultValue 20000 */
  readyTimeoutMs?: number;
  /** How often those waits ask again. @defaultValue 50 */
  pollMs?: number;
  /** Where the servers and the sentinel get their ports. @defaultValue env SENTINEL_TEST_PORTS (`from-to`, portRange), else freePort */
  pickPort?: () => Promise<number>;
  /**
   * A folder that close() (and restartEmpty(), for the killed server's) copies the sentinel's and every
   * redis-server's log into, named by port and time. @defaultValue env SENTINEL_TEST_LOGS, else none
   */
  keepLogsIn?: string;
}

/** Redis's default `repl-diskless-sync-delay` (seconds). */
const REDIS_SYNC_DELAY_S = '5';

/**
 * A real Sentinel set on loopback for one test file: a master, one replica of it (redis-server,
 * lib/redis/server.ts) and one sentinel (`redis-server sentinel.conf --sentinel`, quorum 1) on free
 * ports; ready once the sentinel knows the replica and the replica's link is up. The master can be
 * SIGKILLed, and restarted on its port, empty, as a replica of the promoted one (with
 * `replica-priority 0` until its first sync: see restartEmpty), failed over in place, or frozen
 * (SIGSTOP). close() stops every process and removes the temp dir; the processes are also killed if
 * the test process exits without it.
 */
export class SentinelSet {
  readonly dir = mkdtempSync(join(tmpdir(), 'pipeline-sentinel-'));
  readonly name: string;
  /** The redis-servers by port (a restarted old master replaces its entry). */
  readonly servers = new Map<number, RedisServer>();
  sentinelPort = 0;
  private sentinel?: ChildProcess;
  private readonly pickPort: () => Promise<number>;
  private readonly keepLogsIn?: string;
  /** Process ids of the servers freeze() signalled, by port (a restart replaces the process: forgotten then). */
  private readonly pids = new Map<number, number>();
  private readonly cleanup = () => {
    this.sentinel?.kill('SIGKILL');
    for (const s of this.servers.values()) void s.stop('SIGKILL');
  };

  constructor(private readonly opts: SentinelSetOptions = {}) {
    this.name = opts.name ?? 'mymaster';
    const range = process.env.SENTINEL_TEST_PORTS;
    this.pickPort = opts.pickPort ?? (range ? portRange(range) : freePort);
    this.keepLogsIn = opts.keepLogsIn ?? process.env.SENTINEL_TEST_LOGS;
    process.once('exit', this.cleanup);
  }

  /** The REDIS_URL of this set: the sentinel, and the master's name. */
  get url(): string {
    return `redis+sentinel://127.0.0.1:${this.sentinelPort}/${this.name}`;
  }

  private get pollMs(): number {
    return this.opts.pollMs ?? 50;
  }

  private get timeoutMs(): number {
    return this.opts.readyTimeoutMs ?? 20_000;
  }

  async start(): Promise<this> {
    try {
      await this.startAll();
    } catch (err) {
      await this.close(); // the caller gets no set to close: its servers and sentinel would hold the process
      throw err;
    }
    return this;
  }

  private async startAll(): Promise<void> {
    // The replica's first sync at once (SYNC_NOW); every later one (a demoted or restarted server
    // rejoining) after Redis's own 5 s again, as the failover files were written against: synced at
    // once, sentinel-failover counted the readers while one was still moving, and the sentinel
    // sometimes failed back to the server just rejoined.
    const master = await new RedisServer({ pickPort: this.pickPort, settings: SYNC_NOW }).start();
    this.servers.set(master.port, master);
    const replica = await new RedisServer({ pickPort: this.pickPort, settings: { replicaof: `127.0.0.1 ${master.port}` } }).start();
    this.servers.set(replica.port, replica);
    await this.waitLinked(replica.port);
    const m = new Redis(master.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    m.on('error', () => {});
    await m.config('SET', 'repl-diskless-sync-delay', REDIS_SYNC_DELAY_S).finally(() => m.disconnect());
    this.sentinelPort = await this.pickPort();
    const conf = join(this.dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${this.sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `logfile ${join(this.dir, 'sentinel.log')}`,
        `sentinel monitor ${this.name} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${this.name} ${this.opts.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${this.name} ${this.opts.failoverTimeoutMs ?? 3000}`,
        '',
      ].join('\n'),
    );
    this.sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await waitFor(
      'the sentinel knows the replica',
      async () => (await this.ask('replicas')).some((r) => r.includes(String(replica.port))),
      this.timeoutMs,
      this.pollMs,
    );
  }

  /** One SENTINEL subcommand for the monitored master, through a short-lived connection. */
  async ask(sub: 'replicas' | 'get-master-addr-by-name'): Promise<string[]> {
    const s = new Redis(this.sentinelPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    s.on('error', () => {});
    try {
      await s.connect();
      const reply = (await s.call('SENTINEL', sub, this.name)) as unknown[];
      return reply.map((r) => (Array.isArray(r) ? r.join(' ') : String(r)));
    } catch {
      return [];
    } finally {
      s.disconnect();
    }
  }

  /**
   * `SENTINEL FAILOVER`: the master demoted in place (alive, its clients killed by the sentinel) and
   * its replica promoted; asked again until the sentinel has a replica it may promote (NOGOODSLAVE
   * while it has not yet seen a rejoined one answer).
   */
  async failover(): Promise<void> {
    const s = new Redis(this.sentinelPort, '127.0.0.1', { maxRetriesPerRequest: 1 });
    s.on('error', () => {});
    try {
      await waitFor(
        'the sentinel starts a failover',
        async () => (await s.call('SENTINEL', 'FAILOVER', this.name).catch(() => '')) === 'OK',
        this.timeoutMs,
        this.pollMs,
      );
    } finally {
      s.disconnect();
    }
  }

  /** The master's port as the sentinel names it now. */
  async masterPort(): Promise<number> {
    return Number((await this.ask('get-master-addr-by-name'))[1] ?? 0);
  }

  /** Until the replica at `port` reports its link to its master up. */
  async waitLinked(port: number): Promise<void> {
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    let info = '';
    try {
      await waitFor(
        `replica ${port} linked`,
        async () => /master_link_status:up/.test((info = await r.info('replication').catch((e: Error) => e.message))),
        this.timeoutMs,
        this.pollMs,
      ).catch((err: Error) => {
        // Say where the link stopped (its state, the last I/O, a sync in progress).
        const lines = info
          .split(/\r?\n/)
          .filter((l) =>
            /^(role|master_host|master_port|master_link_status|master_sync_in_progress|master_last_io_seconds_ago|master_link_down_since_seconds|slave_read_repl_offset)|ERR|LOADING/.test(
              l,
            ),
          );
        throw new Error(`${err.message}: ${lines.join(', ')}`);
      });
    } finally {
      r.disconnect();
    }
  }

  /** The role (`master`, `slave`) the redis-server at `port` reports. */
  async role(port: number): Promise<string> {
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    try {
      return String(((await r.call('ROLE')) as unknown[])[0]);
    } finally {
      r.disconnect();
    }
  }

  /** REPLICAOF `master` on the live server at `port` (what the sentinel does to a demoted master, without its delay), and wait for its link. */
  async demote(port: number, master: number): Promise<void> {
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    try {
      await r.call('REPLICAOF', '127.0.0.1', String(master));
    } finally {
      r.disconnect();
    }
    await this.waitLinked(port);
  }

  /** SIGKILL the redis-server at `port`. */
  async kill(port: number): Promise<void> {
    this.pids.delete(port);
    await this.servers.get(port)!.stop('SIGKILL');
  }

  /** Until the sentinel names a master other than `old`; returns its port. */
  async waitPromoted(old: number): Promise<number> {
    await waitFor('the sentinel promoted the replica', async () => ![0, old].includes(await this.masterPort()), this.timeoutMs, this.pollMs);
    return this.masterPort();
  }

  /**
   * Start the killed server at `port` again, empty, as a replica of `master`, with
   * `replica-priority 0`: not to be promoted. Redis 7 reports a replica that has never synced
   * `master_link_down_since_seconds:-1`, which passes the sentinel's "link down too long" filter,
   * so a second failover before its first sync (the promoted master missing down-after-milliseconds,
   * however briefly) would make this empty server the master and its former master, with the data,
   * its replica: everything lost. rejoin() gives it back the default priority once it has synced.
   */
  async restartEmpty(port: number, master: number): Promise<void> {
    this.keepLog(port);
    this.pids.delete(port);
    await this.servers.get(port)!.close();
    const s = await new RedisServer({ port, settings: { replicaof: `127.0.0.1 ${master}`, 'replica-priority': '0' } }).start();
    this.servers.set(port, s);
  }

  /**
   * restartEmpty(), wait for its link to `master` (its first sync: it now holds the data), then
   * `replica-priority` back to Redis's default (100): from then on a failover may promote it.
   */
  async rejoin(port: number, master: number): Promise<void> {
    await this.restartEmpty(port, master);
    await this.waitSynced(port, master);
  }

  /** Until the restarted replica at `port` has synced from `master`, then its `replica-priority` back to 100. */
  async waitSynced(port: number, master: number): Promise<void> {
    await this.waitLinked(port).catch((err: Error) => {
      throw new Error(`${err.message}\nreplica log: ${this.logTail(port)}\nmaster log: ${this.logTail(master)}\nsentinel log: ${this.sentinelLogTail()}`);
    });
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    try {
      await r.config('SET', 'replica-priority', '100');
    } finally {
      r.disconnect();
    }
  }

  /** SIGSTOP (`frozen` true) or SIGCONT the redis-server at `port`: alive, silent to the sentinel's PINGs. */
  async freeze(port: number, frozen: boolean): Promise<void> {
    let pid = this.pids.get(port);
    if (!pid) {
      // Asked while it still answers (a frozen server would not): kept for the SIGCONT.
      const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      r.on('error', () => {});
      try {
        pid = Number(/process_id:(\d+)/.exec(String(await r.info('server')))?.[1]);
      } finally {
        r.disconnect();
      }
      this.pids.set(port, pid);
    }
    process.kill(pid, frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** The sentinel's whole log. */
  sentinelLog(): string {
    try {
      return readFileSync(join(this.dir, 'sentinel.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** The last lines of the sentinel's log (its +sdown, +odown, +failover-*, +switch-master, +convert-to-slave...). */
  sentinelLogTail(lines = 30): string {
    return this.sentinelLog().trimEnd().split('\n').slice(-lines).join('\n  ');
  }

  /** The last lines of the redis-server log at `port` (in its data dir), for a failure's message. */
  private logTail(port: number, lines = 12): string {
    const dir = this.servers.get(port)?.dir;
    if (!dir) return '(no server)';
    try {
      return readFileSync(join(dir, 'redis-server.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n  ');
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** Copy the log of the server at `port` into keepLogsIn, if set. */
  private keepLog(port: number): void {
    const dir = this.servers.get(port)?.dir;
    if (!this.keepLogsIn || !dir || !existsSync(join(dir, 'redis-server.log'))) return;
    mkdirSync(this.keepLogsIn, { recursive: true });
    copyFileSync(join(dir, 'redis-server.log'), join(this.keepLogsIn, `redis-${port}-${Date.now()}.log`));
  }

  async close(): Promise<void> {
    const sentinel = this.sentinel;
    if (sentinel && sentinel.exitCode === null && sentinel.signalCode === null) {
      const gone = new Promise<void>((res) => sentinel.once('exit', () => res()));
      sentinel.kill('SIGTERM');
      await gone;
    }
    // A server left frozen (a failed test) would never see close()'s SIGTERM.
    for (const pid of this.pids.values()) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // exited already
      }
    }
    if (this.keepLogsIn) {
      for (const port of this.servers.keys()) this.keepLog(port);
      mkdirSync(this.keepLogsIn, { recursive: true });
      if (existsSync(join(this.dir, 'sentinel.log')))
        copyFileSync(join(this.dir, 'sentinel.log'), join(this.keepLogsIn, `sentinel-${this.sentinelPort}-${Date.now()}.log`));
    }
    await Promise.all([...this.servers.values()].map((s) => s.close()));
    process.off('exit', this.cleanup);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
