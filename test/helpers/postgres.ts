import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { sleep } from '../../lib/core/backoff.js';
import { freePort } from '../../lib/redis/server.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';

/**
 * The directory of the PostgreSQL server binaries (initdb, postgres): env PG_BIN, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian's package), else wherever `initdb` on the PATH lives.
 * Undefined when PostgreSQL is not installed (`apt-get install -y postgresql`).
 */
export function findPostgresBin(): string | undefined {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, 'initdb')) ? process.env.PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const path = which.stdout.trim();
  return which.status === 0 && path ? dirname(realpathSync(path)) : undefined;
}

export interface PostgresServerOptions {
  /** Folder with initdb and postgres. @defaultValue findPostgresBin() */
  bin?: string;
  /** How long to wait for the server to accept connections. @defaultValue 20000 */
  startTimeoutMs?: number;
}

/**
 * A throwaway PostgreSQL cluster for one test file: initdb in a temp dir, the server on a free
 * loopback port (trust auth, fsync off), stoppable and restartable on the same port and data.
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` user the
 * Debian package creates (the temp dir is chowned to it).
 */
export class PostgresServer {
  readonly dir: string;
  readonly bin: string;
  port = 0;
  private child?: ChildProcess;
  private log = '';
  private readonly as: { uid?: number; gid?: number } = {};
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  constructor(private readonly opts: PostgresServerOptions = {}) {
    const bin = opts.bin ?? findPostgresBin();
    if (!bin) throw new Error('PostgreSQL server binaries not found: apt-get install -y postgresql (or set PG_BIN)');
    this.bin = bin;
    this.dir = mkdtempSync(join(tmpdir(), 'pipeline-pg-'));
    if (process.getuid?.() === 0) {
      const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
      const uid = id('-u');
      const gid = id('-g');
      if (!Number.isInteger(uid) || uid === 0)
        throw new Error('running as root needs a `postgres` user to run the server as (the postgresql package creates it)');
      Object.assign(this.as, { uid, gid });
      chownSync(this.dir, uid, gid);
    }
  }

  /** Superuser URL of the `postgres` database. */
  get url(): string {
    return this.urlFor('postgres');
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** initdb (first time only) and start the server; resolves when it accepts queries. */
  async start(): Promise<this> {
    const data = join(this.dir, 'data');
    if (!existsSync(data)) {
      const r = spawnSync(join(this.bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'], {
        encoding: 'utf8',
        ...this.as,
      });
      if (r.status !== 0) throw new Error(`initdb failed (${r.status}): ${r.stderr || r.error?.message}`);
    }
    const picked = !this.port;
    this.port ||= await freePort();
    try {
      return await this.startOnce(data);
    } catch (err) {
      // freePort() closes its probe before postgres binds: the port can be taken in between.
      if (!picked || !/address already in use/i.test(this.log)) throw err;
      this.port = await freePort();
      return this.startOnce(data);
    }
  }

  private async startOnce(data: string): Promise<this> {
    const args = ['-D', data, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1'];
    for (const s of ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=40', 'shared_buffers=16MB']) args.push('-c', s);
    this.log = '';
    const child = spawn(join(this.bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...this.as });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8_000)));
    process.on('exit', this.killOnExit);
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${this.log.trim()}`);
      const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
      c.on('error', () => undefined); // a probe that fails is retried below
      try {
        await c.connect();
        await c.query('SELECT 1');
        return this;
      } catch {
        // not accepting connections yet
      } finally {
        await c.end().catch(() => undefined);
      }
      await sleep(100);
    }
    throw new Error(`postgres did not accept connections on port ${this.port} in time: ${this.log.trim()}`);
  }

  /** Fast shutdown (SIGINT: clients disconnected, in-flight transactions rolled back), waiting for exit. */
  async stop(): Promise<void> {
    const child = this.child;
    process.off('exit', this.killOnExit);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGINT');
    await exited;
  }

  /**
   * Smart shutdown (SIGTERM), not waited for: the server refuses new connections ("the database
   * system is shutting down", 57P03) and exits once its last session ends. stop() still ends it.
   */
  beginSmartShutdown(): void {
    this.child?.kill('SIGTERM');
  }

  /** A fresh database (tests use one per test so they never see each other's rows). */
  async createDatabase(name: string): Promise<string> {
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE "${name}"`);
    } finally {
      await c.end();
    }
    return this.urlFor(name);
  }

  /** Stop and remove the data directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The server binaries; without them a SKIP line naming `file`, and the test file exits 0. */
export function postgresBinOrSkip(file: string): string {
  const bin = findPostgresBin();
  if (bin) return bin;
  console.log(`SKIP ${file}: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)`);
  process.exit(0);
}

/** A new database `name` on `server`, migrated, and a pool on it (errors of idle connections ignored: the server stops under them at the end). */
export async function migratedDatabase(server: PostgresServer, name: string, max = 2): Promise<{ url: string; pool: pg.Pool }> {
  const url = await server.createDatabase(name);
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  await migrate(pool);
  return { url, pool };
}
