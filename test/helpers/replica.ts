import type { Redis } from 'ioredis';
import type { RedisServer } from '../../lib/redis/server.js';
import { client, startRedis, waitFor } from './redis.js';

/**
 * A master and one replica of it (two real redis-servers on free ports), linked. `stall()` stops
 * the replica's process (SIGSTOP): its link stays up to the master (`connected_slaves` 1) but it
 * acknowledges nothing, so a WAIT 1 times out; `resume()` (SIGCONT) lets it catch up. close()
 * resumes and stops both; the replica is also resumed if the test process exits without it.
 */
export class ReplicatedPair {
  readonly admin: Redis;
  private replicaPid = 0;
  private readonly onExit = () => this.signal('SIGCONT');

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    private readonly timeoutMs: number,
  ) {
    this.admin = client(master.url);
    process.once('exit', this.onExit);
  }

  /** Started and linked within `timeoutMs` (default 20000). */
  static async start(timeoutMs = 20_000): Promise<ReplicatedPair> {
    const master = await startRedis();
    const replica = await startRedis({ settings: { replicaof: `127.0.0.1 ${master.port}` } }).catch(async (err: unknown) => {
      await master.close();
      throw err;
    });
    const pair = new ReplicatedPair(master, replica, timeoutMs);
    const r = client(replica.url);
    try {
      pair.replicaPid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
      await waitFor('the replica linked', async () => /master_link_status:up/.test(await r.info('replication')), timeoutMs);
      await waitFor('the master counts its replica', async () => /connected_slaves:1/.test(await pair.admin.info('replication')), timeoutMs);
    } catch (err) {
      await pair.close(); // the caller gets no pair to close: its servers and admin connection would hold the process
      throw err;
    } finally {
      r.disconnect();
    }
    return pair;
  }

  private signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    try {
      if (this.replicaPid) process.kill(this.replicaPid, sig);
    } catch {
      // gone already
    }
  }

  stall(): void {
    this.signal('SIGSTOP');
  }

  /** SIGCONT, then until the replica has acknowledged everything the master has (WAIT 1 answers 1). */
  async resume(): Promise<void> {
    this.signal('SIGCONT');
    await waitFor('the replica caught up', async () => Number(await this.admin.wait(1, 100)) >= 1, this.timeoutMs);
  }

  async close(): Promise<void> {
    this.signal('SIGCONT');
    process.off('exit', this.onExit);
    this.admin.disconnect();
    await this.replica.close();
    await this.master.close();
  }
}

/** The calls of `cmd` the server at `redis` has answered (INFO commandstats), 0 when it never ran. */
export async function commandCalls(redis: Redis, cmd: string): Promise<number> {
  return Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'))?.[1] ?? 0);
}
