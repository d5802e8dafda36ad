import type { Redis } from 'ioredis';
import { asCluster } from './url.js';

const counters = new WeakMap<Redis, { drops: number }>();

/**
 * How many times the client's connection dropped so far (a Cluster client: a node's connection
 * failed or left). ioredis sends a command that was in flight when its connection dropped again by
 * itself once it reconnects (`autoResendUnfulfilledCommands`), and the caller never sees the drop:
 * a caller whose call may have gone through before the drop compares this before and after it.
 */
export function connectionDrops(client: Redis): () => number {
  let counter = counters.get(client);
  if (!counter) {
    const c = { drops: 0 };
    const dropped = () => c.drops++;
    if (asCluster(client)) client.on('node error', dropped).on('-node', dropped);
    else client.on('close', dropped);
    counters.set(client, (counter = c));
  }
  return () => counter.drops;
}

/** `call`'s value, and whether `client`'s connection dropped while it ran (then ioredis may have sent it again, and the value be the re-send's answer). */
export async function duringDrops<T>(client: Redis, call: () => Promise<T>): Promise<{ value: T; dropped: boolean }> {
  const drops = connectionDrops(client);
  const before = drops();
  const value = await call();
  return { value, dropped: drops() !== before };
}
