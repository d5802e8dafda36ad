import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { PortTakenError, RedisServerError } from '../core/errors.js';
import { sleep } from '../core/backoff.js';
import { SERVER_DIR_PREFIX, watchOwner, writeOwnerFile } from './server-owner.js';
import { dropConnection } from './drop-connection.js';

export interface RedisServerOptions {
  /** @defaultValue a free port on 127.0.0.1 */
  port?: number;
  /** Turn on the append-only file (fsync everysec unless `appendfsync` says otherwise). @defaultValue false */
  appendonly?: boolean;
  /** @defaultValue "everysec" */
  appendfsync?: 'always' | 'everysec' | 'no';
  /**
   * Extra `--name value` settings, e.g. { maxclients: '10' }; or made for the port picked (a
   * cluster node's config file and bus port), made again when a taken port is picked again and
   * kept across restart().
   */
  settings?: Record<string, string> | ((port: number) => Promise<Record<string, string>>);
  /** Data directory; kept across restart() so AOF survives. @defaultValue a fresh temp dir */
  dir?: string;
  /** How long to wait for PING after start. @defaultValue 10000 */
  startTimeoutMs?: number;
  /**
   * Starts on another free port when the picked one was taken before redis-server bound it (only
   * when `port` is not given). @defaultValue 5
   */
  portAttempts?: number;
  /** Where start() gets a port when `port` is not given. @defaultValue freePort */
  pickPort?: () => Promise<number>;
  /**
   * Run redis-server in its own process group, so a terminal's Ctrl-C reaches only its owner,
   * which stops it after its workers have drained (`pipeline start`). @defaultValue false
   */
  detached?: boolean;
  /**
   * Stop redis-server when this process dies, however (SIGKILL included): a watcher process
   * (lib/redis/server-owner.ts), and an owner file in its temp dir for `reapOrphanedServers`.
   * @defaultValue true
   */
  watchOwner?: boolean;
}

/** Last bytes of redis-server's log kept for an error message. */
const LOG_TAIL_BYTES = 4096;
/** One PING probe while waiting for the server to come up. */
const PROBE_TIMEOUT_MS = 1000;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Fail early, with the package to install, when there is no redis-server binary. */
export function assertRedisServerInstalled(bin = 'redis-server'): void {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new RedisServerError(`${bin} not found: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL`);
  }
}

/** PING once, or false when the child exits first; the probe is closed either way. */
export async function answersPing(port: number, exited: Promise<false>): Promise<boolean> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: PROBE_TIMEOUT_MS });
  probe.on('error', () => {});
  const ping = async () => {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  };
  try {
    // Raced with the child's exit: whatever holds the port may accept and never answer.
    return await Promise.race([ping(), exited]);
  } catch {
    return false; // not up yet (or still loading the AOF)
  } finally {
    dropConnection(probe);
  }
}

/** A real redis-server child process on loopback, for `npm start`, tests, bench and chaos. */
export class RedisServer {
  private child?: ChildProcess;
  /** `opts.settings` for the current port. */
  private settings: Record<string, string> = {};
  readonly dir: string;
  private ownsDir: boolean;
  port = 0;

  constructor(private readonly opts: RedisServerOptions = {}) {
    this.ownsDir = !opts.dir;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), SERVER_DIR_PREFIX));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    assertRedisServerInstalled();
    const attempts = this.opts.port || this.port ? 1 : (this.opts.portAttempts ?? 5);
    for (let attempt = 1; ; attempt++) {
      if (!this.port) {
        this.port = this.opts.port ?? (await (this.opts.pickPort ?? freePort)());
        const s = this.opts.settings;
        this.settings = typeof s === 'function' ? await s(this.port) : (s ?? {});
      }
      try {
        return await this.startOnce();
      } catch (err) {
        // freePort() closes its probe before redis-server binds: a parallel test or an outgoing
        // connection can take the port in between. Pick another one.
        if (!(err instanceof PortTakenError) || attempt >= attempts) throw err;
        this.port = 0;
      }
    }
  }

  private async startOnce(): Promise<this> {
    // A log file in its data dir rather than a pipe: a server's writes never wait on this
    // process's event loop, and a failed start can still say why (its last lines).
    const logFile = join(this.dir, 'redis-server.log');
    const logFrom = existsSync(logFile) ? statSync(logFile).size : 0;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--logfile', logFile];
    if (this.opts.appendonly) args.push('--appendonly', 'yes', '--appendfsync', this.opts.appendfsync ?? 'everysec');
    for (const [k, v] of Object.entries(this.settings)) args.push(`--${k}`, v);
    // stderr only carries a fatal config error, printed before the log file opens.
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: this.opts.detached ?? false });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-LOG_TAIL_BYTES)));
    // Nor may a process killed by a signal, which runs no exit hook: a watcher stops the server
    // when this process is gone, and the owner file lets the next `start` or `up` stop it.
    const watcher = this.opts.watchOwner !== false && child.pid ? watchOwner(child.pid, this.ownsDir ? this.dir : undefined) : undefined;
    // A process that exits without close() (a crashed test, an uncaught error) must not leave
    // its redis-server running.
    const reap = () => {
      watcher?.kill('SIGKILL');
      child.kill('SIGKILL');
    };
    process.once('exit', reap);
    child.once('exit', () => {
      process.off('exit', reap);
      watcher?.kill('SIGKILL'); // its server is gone: nothing for it to stop
    });
    const logSince = () => {
      try {
        return readFileSync(logFile).subarray(logFrom).toString().slice(-LOG_TAIL_BYTES);
      } catch {
        return ''; // it exited before opening its log (e.g. a bad argument)
      }
    };
    const exited = new Promise<false>((res) => child.once('exit', () => res(false)));
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        const log = `${stderr}${logSince()}`;
        const why = `redis-server on port ${this.port} exited with ${child.exitCode}: ${log.trim().split('\n').slice(-3).join(' | ')}`;
        throw /address already in use/i.test(log) ? new PortTakenError(why) : new RedisServerError(why);
      }
      if (await answersPing(this.port, exited)) {
        // Up: say who owns it (a failed write leaves the watcher as the guard).
        if (this.ownsDir && this.opts.watchOwner !== false && child.pid) await writeOwnerFile(this.dir, this.port, child.pid, watcher?.pid).catch(() => {});
        return this;
      }
      await sleep(50);
    }
    throw new RedisServerError(`redis-server did not answer PING on port ${this.port} in time`);
  }

  /** SIGKILL (no final fsync) or SIGTERM, and wait for the process to exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill(signal);
    await exited;
  }

  /** Stop and start again on the same port and data directory (AOF replayed when on). */
  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  /** Stop and remove the temp data directory. */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
