import type { Redis } from 'ioredis';
import { Periodic } from '../core/periodic.js';
import { isPermissionRefusal, isTransient } from '../core/failure-policy.js';
import type { Keys } from '../redis/keys.js';
import { EpochMarker, type DataLossWitness } from '../stream/data-loss.js';

export interface DataLossWatchDeps extends DataLossWitness {
  /** The shared command connection. */
  redis: () => Redis;
  /** How often the markers are read again (the stage's `dataLossCheckMs`). */
  intervalMs: number;
}

/**
 * A worker's watch for Redis losing its data (lib/stream/data-loss.ts): one data-loss marker per
 * shard it reads, adopted at start (written if absent: a fresh Redis raises nothing), read again
 * every `dataLossCheckMs`, and told by the read loop when its group vanished (NOGROUP). A loss is
 * reported and the pipeline goes on: the group is made again, the marker written anew. The API
 * server runs the same watch on the markers alone (lib/api/server-data-loss-watch.ts).
 */
export class DataLossWatch {
  private readonly markers = new Map<string, EpochMarker>();
  private readonly periodic: Periodic;
  /** A lasting failure was said (warn) and no check has gone well since. */
  private blind = false;

  constructor(
    shards: readonly Keys[],
    private readonly d: DataLossWatchDeps,
  ) {
    for (const k of shards) this.markers.set(k.tag, new EpochMarker(k, d));
    this.periodic = new Periodic(
      async () => void (await this.checkAll()),
      d.intervalMs,
      (err) => this.failed(err),
    );
  }

  /** Write each shard's marker if absent and remember it (after the groups are joined). */
  async adopt(): Promise<void> {
    for (const m of this.markers.values()) await m.adopt(this.d.redis());
  }

  /** Read the markers every `intervalMs`; the first time at once with `immediate` (adopting them: the API server, which has no start-up step). */
  start(immediate = false): void {
    this.periodic.start(immediate);
  }

  stop(waitMs: number): Promise<void> {
    return this.periodic.stop(waitMs);
  }

  /** Read every marker once; true when a loss was seen. */
  async checkAll(): Promise<boolean> {
    let lost = false;
    for (const m of this.markers.values()) lost = (await m.check(this.d.redis())) || lost;
    this.blind = false;
    return lost;
  }

  /** The read loop of `keys`' shard found its group gone (NOGROUP on `stream`). */
  async groupVanished(keys: Keys, stream: string): Promise<void> {
    await this.markers.get(keys.tag)?.groupVanished(this.d.redis(), stream);
  }

  /**
   * Redis down meanwhile (transient): the next run reads again, and the read loop says the outage.
   * Any other failure (a permission refused: NOPERM, transient to the failure policy but not waited
   * out here, where no read loop may say it — the API server's watch as a user of an older ACL; a key
   * of another type) leaves the alarm blind until it is fixed: said once at warn, again after a check
   * that went well.
   */
  private failed(err: unknown): void {
    if ((isTransient(err) && !isPermissionRefusal(err)) || this.blind) return this.d.logger.debug('redis.data_loss_check_error', { err });
    this.blind = true;
    this.d.logger.warn('redis.data_loss_check_error', { err, blind: 'the data-loss alarm cannot read its marker until this is fixed' });
  }
}
