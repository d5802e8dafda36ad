import type { Redis } from 'ioredis';
import { ReplicationError } from '../core/errors.js';
import type { WaitReplicas } from '../core/wait-replicas.js';
import { asCluster, masterForKey } from './url.js';

export interface ReplicaCheckOptions {
  /** How often a master's replica count is read again (INFO replication, `connected_slaves`) on the same connection; a new connection is read at its first write. @defaultValue 5000 */
  checkMs?: number;
  /**
   * A count lower than the last one, read on the same connection, is believed only once it has
   * been read for this long: a master failed over in place loses its replica (promoted) before
   * its clients hear of the switch, and a write acknowledged there without WAIT would be lost.
   * @defaultValue 30000
   */
  dropAfterMs?: number;
}

interface Reading {
  /** The connection it was read on: a new one (a reconnect, maybe to another master) is read again. */
  stream: unknown;
  count: number;
  at: number;
  lowerSince?: number;
}

const streamOf = (r: Redis): unknown => (r as unknown as { stream?: unknown }).stream;

/** `connected_slaves` of an INFO replication reply. */
export function connectedReplicas(info: string): number {
  return Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
}

/**
 * The replicas a write waits for (`WAIT n`), per master: a number as given; `"auto"` reads the
 * master's `connected_slaves` (INFO replication, which every ACL user of the pipeline may run)
 * per connection, cached `checkMs`, and waits for 1 when it is at least 1. A standalone
 * redis-server without replicas thus never sees a WAIT. On a Cluster, the master that serves the
 * written key's slot is read (each shard its own).
 */
export class ReplicaWait {
  private readonly readings = new WeakMap<Redis, Reading>();
  private readonly pending = new WeakMap<Redis, Promise<number>>();

  constructor(
    readonly setting: WaitReplicas,
    private readonly opts: ReplicaCheckOptions = {},
  ) {}

  /** True when a write may WAIT (a number above 0, or auto). */
  get mayWait(): boolean {
    return this.setting === 'auto' || this.setting > 0;
  }

  /** Replicas to WAIT for after a write of `key` through `redis`. */
  async forKey(redis: Redis, key: string): Promise<number> {
    return (await this.recheck(redis, key, false)).wanted;
  }

  /**
   * After a WAIT that came short: with "auto", the master's replica count is read again now (not
   * up to `checkMs` later), so a replica that died is seen at once. `wanted`: the replicas a write
   * waits for now (0: its replica is believed gone); `believedAt` (ms since the epoch), while a lower
   * count is read but not yet believed (`dropAfterMs`): when it will be. A replica still connected
   * but acknowledging nothing (stalled, cut off) leaves the count as it was: no `believedAt`.
   */
  async recheck(redis: Redis, key: string, fresh = true): Promise<{ wanted: number; believedAt?: number }> {
    if (this.setting !== 'auto') return { wanted: this.setting };
    const cluster = asCluster(redis);
    const node = cluster ? masterForKey(cluster, key) : redis;
    // A Cluster whose slot map has no master for the key yet: wait for 1 (short: the call is sent again, and read then).
    if (!node) return { wanted: 1 };
    const wanted = (await this.count(node, fresh)) > 0 ? 1 : 0;
    const since = this.readings.get(node)?.lowerSince;
    return since === undefined ? { wanted } : { wanted, believedAt: since + this.dropAfterMs };
  }

  /** How long a lower count must last before it is believed (ReplicaCheckOptions). */
  get dropAfterMs(): number {
    return this.opts.dropAfterMs ?? 30_000;
  }

  private async count(node: Redis, fresh: boolean): Promise<number> {
    const last = this.readings.get(node);
    const now = Date.now();
    // A lower count due to be believed is read again then, not up to checkMs later.
    const due = last?.lowerSince !== undefined && now - last.lowerSince >= this.dropAfterMs;
    if (!fresh && !due && last && last.stream === streamOf(node) && now - last.at < (this.opts.checkMs ?? 5_000)) return last.count;
    let p = this.pending.get(node);
    if (!p) {
      p = this.read(node, last).finally(() => this.pending.delete(node));
      this.pending.set(node, p);
    }
    return p;
  }

  private async read(node: Redis, last: Reading | undefined): Promise<number> {
    const read = connectedReplicas(String(await node.info('replication')));
    const now = Date.now();
    const stream = streamOf(node);
    let next: Reading = { stream, count: read, at: now };
    if (last && last.stream === stream && read < last.count) {
      // Lower on the same connection: believed once it has lasted dropAfterMs (see ReplicaCheckOptions).
      const since = last.lowerSince ?? now;
      if (now - since < this.dropAfterMs) next = { stream, count: last.count, at: now, lowerSince: since };
    }
    this.readings.set(node, next);
    return next.count;
  }
}

/**
 * A batch short of its replicas because its master has lost its replica (`--wait-replicas auto`:
 * the master's replica count fell to 0): waited out until the lower count is believed
 * (`replicaDropMs`, `believedInMs` from now), then the records go on without WAIT.
 */
export class ReplicaLostError extends ReplicationError {
  constructor(
    stream: string,
    readonly believedInMs: number,
    readonly dropAfterMs: number,
  ) {
    super(
      `batch of ${stream} reached 0 of 1 replicas: its master has lost its replica (none connected); once that has lasted replicaDropMs / --replica-drop (${dropAfterMs} ms), ` +
        `in ${Math.max(0, Math.ceil(believedInMs / 1000))} s, produce goes on without WAIT (--wait-replicas auto), unless a replica is back first`,
    );
  }
}
