import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import { freePort, RedisServer } from '../../lib/redis/server.js';
import { failoverLog } from './cluster-log.js';
import { SYNC_NOW } from './redis.js';

export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** A replica's master id. */
  masterId?: string;
  /** Slot ranges a master serves, inclusive. */
  slots: [number, number][];
  /** Flagged fail / pfail / disconnected by the node asked. */
  failing: boolean;
}

export interface RedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** Replicas per master. @defaultValue 1 */
  replicas?: number;
  /** cluster-node-timeout: how long a master may be unreachable before its replica takes over. @defaultValue 1000 */
  nodeTimeoutMs?: number;
  /** How long start() and waitHealthy() wait. @defaultValue 30000 */
  readyTimeoutMs?: number;
  /**
   * How long a wait for a replica's promotion (waitFailover, waitPromoted) lasts. Redis flags the
   * master failed after the node timeout and a majority's reports, and starts an election that a
   * stalled voter can make fail; the next starts 4 × node timeout after it. The default leaves room
   * for three elections. @defaultValue the larger of 60000 and 13 × nodeTimeoutMs
   */
  failoverTimeoutMs?: number;
  /** Where a node's port and its cluster bus port come from. @defaultValue env CLUSTER_TEST_PORTS (`7700-7799`: the free ports of that range, in order), else freePort */
  pickPort?: () => Promise<number>;
}

const isFree = (port: number) =>
  new Promise<boolean>((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });

/** A port picker over `from-to` (env CLUSTER_TEST_PORTS): each free port of the range once, in order. */
export function portRange(range: string): () => Promise<number> {
  const [from, to] = range.split('-').map(Number) as [number, number];
  let next = from;
  return async () => {
    // The port tried is taken before the await: `next` moves on meanwhile when pickers run at once
    // (a cluster's nodes start together), and two nodes given one port made a 5-node cluster.
    while (next <= to) {
      const port = next++;
      if (await isFree(port)) return port;
    }
    throw new Error(`no free port left in ${range}`);
  };
}

/**
 * A real Redis Cluster on loopback for one test file: masters × (1 + replicas) redis-server
 * processes (`--cluster-enabled yes --appendonly yes`, each in its own folder of one temp dir),
 * joined by `redis-cli --cluster create ... --cluster-replicas N --cluster-yes`, with
 * `repl-diskless-sync-delay 0` (SYNC_NOW: a replica's full sync starts at once, on start and after
 * every restart, not 5 s later) and `cluster-replica-validity-factor 0` (a replica takes over
 * however long its master has been gone), ready when every
 * node reports `cluster_state:ok` and every replica's link to its master is up. Nodes can be
 * killed and restarted (same port, folder and nodes-<port>.conf, so a restarted master rejoins as a
 * replica of whoever replaced it). close() stops every process and removes the temp dir; the
 * processes are also killed and the dir removed if the test process exits without it.
 */
export class RedisCluster {
  readonly dir: string;
  readonly servers = new Map<number, RedisServer>();
  /** Process ids (from INFO server), for SIGSTOP / SIGCONT. */
  private readonly pids = new Map<number, number>();
  private readonly down = new Set<number>();
  private readonly cleanup = () => {
    for (const s of this.servers.values()) void s.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };

  constructor(private readonly opts: RedisClusterOptions = {}) {
    if (!opts.pickPort && process.env.CLUSTER_TEST_PORTS) this.opts = { ...opts, pickPort: portRange(process.env.CLUSTER_TEST_PORTS) };
    this.dir = mkdtempSync(join(tmpdir(), 'pipeline-cluster-'));
    process.once('exit', this.cleanup);
  }

  get ports(): number[] {
    return [...this.servers.keys()];
  }

  /** `redis+cluster://` URL with every node as a seed. */
  get url(): string {
    return `redis+cluster://${this.ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  async start(): Promise<this> {
    const masters = this.opts.masters ?? 3;
    const replicas = this.opts.replicas ?? 1;
    const n = masters * (1 + replicas);
    try {
      await Promise.all(Array.from({ length: n }, () => this.startNode()));
      const create = spawnSync(
        'redis-cli',
        ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status}): ${create.stdout}${create.stderr}`);
      await this.waitHealthy();
    } catch (err) {
      await this.close(); // the caller gets no cluster to close: its nodes would hold the process
      throw err;
    }
    return this;
  }

  /** One node; RedisServer picks its port again (and the bus port with it) when one was taken. */
  private async startNode(): Promise<void> {
    const server = new RedisServer({
      dir: mkdtempSync(join(this.dir, 'node-')),
      appendonly: true,
      ...(this.opts.pickPort ? { pickPort: this.opts.pickPort } : {}),
      settings: async (port) => ({
        ...SYNC_NOW,
        'cluster-enabled': 'yes',
        'cluster-config-file': `nodes-${port}.conf`,
        'cluster-node-timeout': String(this.nodeTimeoutMs),
        // At Redis's default (10) a replica whose master has been gone longer than 10 × node
        // timeout + repl-ping-replica-period (21 s at node timeout 1 s) never takes over: a
        // failover a stalled voter holds up past that never ends (docs/scale-out.md, on the factor).
        'cluster-replica-validity-factor': '0',
        // The bus port would be port + 10000, which may be taken or out of range: pick a free one.
        'cluster-port': String(await (this.opts.pickPort ?? freePort)()),
      }),
    });
    await server.start();
    this.servers.set(server.port, server);
    await this.notePid(server.port);
  }

  /** A plain connection to one node (caller disconnects). */
  node(port: number): Redis {
    const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false });
    r.on('error', () => {});
    return r;
  }

  private async notePid(port: number): Promise<void> {
    const info = (await this.ask(port, (r) => r.info('server'))) as string;
    this.pids.set(port, Number(/process_id:(\d+)/.exec(info)![1]));
  }

  private async ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = this.node(port);
    try {
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }

  /** Ports of the nodes whose process runs. */
  livePorts(): number[] {
    return this.ports.filter((p) => !this.down.has(p));
  }

  /** CLUSTER NODES as one live node sees it. */
  async topology(from = this.livePorts()[0]!): Promise<ClusterNode[]> {
    const text = (await this.ask(from, (r) => r.call('CLUSTER', 'NODES'))) as string;
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
        const f = flags!.split(',');
        return {
          id: id!,
          port: Number(addr!.split('@')[0]!.split(':')[1]),
          role: f.includes('master') ? ('master' as const) : ('replica' as const),
          masterId: master === '-' ? undefined : master,
          slots: slots
            .filter((s) => /^\d/.test(s))
            .map((s) => s.split('-').map(Number))
            .map(([a, b]) => [a!, b ?? a!] as [number, number]),
          failing: f.some((x) => x === 'fail' || x === 'fail?' || x === 'noaddr'),
        };
      });
  }

  /** Port of the master serving `slot`, as a live node sees it. */
  async masterOf(slot: number): Promise<number> {
    const m = (await this.topology()).find((n) => n.role === 'master' && !n.failing && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!m) throw new Error(`no live master serves slot ${slot}`);
    return m.port;
  }

  /**
   * Until `check` (a promotion as some node sees it) holds, at most `failoverTimeoutMs`; a timeout
   * says why in Redis's words: each node's last failover lines (`Currently unable to failover: ...`).
   */
  async waitFailover(what: string, check: () => Promise<boolean>): Promise<void> {
    const timeoutMs = this.failoverTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the nodes' failover log:\n${failoverLog(this.servers)}`);
      await sleep(100);
    }
  }

  /** Until a master other than `victim` serves `slot` (as the first live node sees it); its port. */
  async waitPromoted(slot: number, victim: number): Promise<number> {
    let port = 0;
    const serving = (n: ClusterNode) => n.role === 'master' && n.port !== victim && n.slots.some(([a, b]) => slot >= a && slot <= b);
    await this.waitFailover(`a replica of ${victim} promoted (slot ${slot})`, async () => {
      port = (await this.topology()).find(serving)?.port ?? 0;
      return port !== 0;
    });
    return port;
  }

  /** Port of a replica of the master on `port`. */
  async replicaOf(port: number): Promise<number> {
    const nodes = await this.topology();
    const master = nodes.find((n) => n.port === port);
    const replica = nodes.find((n) => n.role === 'replica' && n.masterId === master?.id && !n.failing);
    if (!replica) throw new Error(`no replica of ${port}`);
    return replica.port;
  }

  /** Signal one node's process (SIGKILL: dead; SIGSTOP / SIGCONT: paused and resumed). */
  signal(port: number, signal: NodeJS.Signals): void {
    const pid = this.pids.get(port);
    if (!pid || this.down.has(port)) throw new Error(`node ${port} is not running`);
    process.kill(pid, signal);
  }

  async kill(port: number): Promise<void> {
    this.down.add(port);
    await this.servers.get(port)!.stop('SIGKILL');
  }

  /** Start a killed node again (same port, data and cluster config). */
  async restart(port: number): Promise<void> {
    await this.servers.get(port)!.start();
    this.down.delete(port);
    await this.notePid(port);
  }

  /** cluster-node-timeout of the nodes (ms): a master is failed over no sooner than this after it stops answering. */
  get nodeTimeoutMs(): number {
    return this.opts.nodeTimeoutMs ?? 1000;
  }

  /** How long waitFailover waits (RedisClusterOptions.failoverTimeoutMs). */
  get failoverTimeoutMs(): number {
    return this.opts.failoverTimeoutMs ?? Math.max(60_000, 13 * this.nodeTimeoutMs);
  }

  /**
   * Until every live node says cluster_state:ok and knows no failing live node, every master has
   * `replicas` replicas, and every replica's link to its master is up (so a failover now loses
   * only what was written since).
   */

  async waitHealthy(timeoutMs = this.opts.readyTimeoutMs ?? 30_000): Promise<void> {
    const want = this.opts.replicas ?? 1;
    const deadline = Date.now() + timeoutMs;
    let why: string;
    for (;;) {
      try {
        why = await this.unhealthy(want);
        if (!why) return;
      } catch (err) {
        why = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms: ${why}`);
      await sleep(100);
    }
  }

  private async unhealthy(replicas: number): Promise<string> {
    const live = this.livePorts();
    for (const port of live) {
      const info = (await this.ask(port, (r) => r.call('CLUSTER', 'INFO'))) as string;
      if (!/cluster_state:ok/.test(info)) return `${port}: cluster_state not ok`;
    }
    const nodes = await this.topology();
    if (nodes.some((n) => n.failing && live.includes(n.port))) return 'a live node is still flagged failing';
    const masters = nodes.filter((n) => n.role === 'master' && n.slots.length > 0);
    for (const m of masters) {
      const reps = nodes.filter((n) => n.masterId === m.id && !n.failing && live.includes(n.port));
      if (reps.length < replicas) return `master ${m.port} has ${reps.length} live replicas`;
      for (const r of reps) {
        const info = (await this.ask(r.port, (c) => c.info('replication'))) as string;
        if (!/master_link_status:up/.test(info)) return `replica ${r.port} link down`;
      }
    }
    return '';
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop('SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.cleanup);
  }
}
