import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServerError } from '../core/errors.js';
import { sleep } from '../core/backoff.js';

export interface RedisServerOptions {
  /** @defaultValue a free port on 127.0.0.1 */
  port?: number;
  /** Turn on the append-only file (fsync everysec unless `appendfsync` says otherwise). @defaultValue false */
  appendonly?: boolean;
  /** @defaultValue "everysec" */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Extra `--name value` settings, e.g. { maxclients: '10' }. */
  settings?: Record<string, string>;
  /** Data directory; kept across restart() so AOF survives. @defaultValue a fresh temp dir */
  dir?: string;
  /** How long to wait for PING after start. @defaultValue 10000 */
  startTimeoutMs?: number;
}

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

/** A real redis-server child process on loopback, for `npm start`, tests, bench and chaos. */
export class RedisServer {
  private child?: ChildProcess;
  readonly dir: string;
  private ownsDir: boolean;
  port = 0;

  constructor(private readonly opts: RedisServerOptions = {}) {
    this.ownsDir = !opts.dir;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pipeline-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    assertRedisServerInstalled();
    this.port ||= this.opts.port ?? (await freePort());
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
    if (this.opts.appendonly) args.push('--appendonly', 'yes', '--appendfsync', this.opts.appendfsync ?? 'everysec');
    for (const [k, v] of Object.entries(this.opts.settings ?? {})) args.push(`--${k}`, v);
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    // A process that exits without close() (a crashed test, an uncaught error) must not leave
    // its redis-server running.
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new RedisServerError(`redis-server exited with ${child.exitCode}: ${stderr.trim()}`);
      const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return this;
      } catch {
        // not up yet (or still loading the AOF)
      } finally {
        probe.disconnect();
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
