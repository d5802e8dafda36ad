import type { Redis } from 'ioredis';
import { ReplicationError } from '../core/errors.js';
import type { Script } from '../redis/script.js';

/**
 * One submit call and a `WAIT replicas timeoutMs` in one pipeline, so both go on the same
 * connection (WAIT counts the replicas that have this connection's writes). Throws
 * ReplicationError when fewer replicas acknowledged, or when the connection changed while the call
 * was out (a reconnect: ioredis sends an unanswered WAIT again on the new connection, where it
 * counts nothing of this call): the caller sends the call again with the same marker. Why: a
 * master failed over in place (`SENTINEL FAILOVER`, a partition) takes writes until its clients
 * learn of the switch, and lost them all; it has no replica left, so WAIT says so.
 */
export async function submitAndWait(
  redis: Redis,
  script: Script,
  keys: readonly string[],
  args: readonly (string | Buffer | number)[],
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const socket = streamOf(redis);
  const send = async () => {
    const replies =
      (await redis
        .pipeline()
        .fcall(script.fn, keys.length, ...keys, ...args)
        .wait(replicas, timeoutMs)
        .exec()) ?? [];
    if (replies[0]?.[0]) throw replies[0][0]; // "Function not found": the script loads the library and sends again
    return replies;
  };
  const [call, wait] = await script.withLibrary(redis, send, keys);
  if (call?.[0]) throw call[0];
  if (wait?.[0]) throw wait[0];
  if (!call || !wait) throw new ReplicationError('no reply to the submit call or its WAIT');
  if (streamOf(redis) !== socket) throw new ReplicationError('the connection changed under the submit call: its replicas were not counted');
  const acked = Number(wait[1]);
  if (acked < replicas) throw new ReplicasShort(acked, replicas, timeoutMs);
}

/** A submit call Redis answered (its records are on the master) that fewer replicas than it waits for acknowledged within the WAIT's timeout. */
export class ReplicasShort extends ReplicationError {
  constructor(
    readonly acked: number,
    readonly wanted: number,
    readonly timeoutMs: number,
  ) {
    super(`the submit call reached ${acked} of ${wanted} replicas within ${timeoutMs} ms`);
  }
}

/** The socket of a single-node or Sentinel client (a new one at each reconnect); undefined for a Cluster (its pipeline goes to the slot's master). */
function streamOf(redis: Redis): unknown {
  return (redis as unknown as { stream?: unknown }).stream;
}
