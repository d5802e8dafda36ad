import type { Redis } from 'ioredis';
import { keylessNode } from './keyless.js';

/** The Redis server's clock in ms (TIME): what orders stream ids, whatever the caller's clock says. */
export async function serverTimeMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await keylessNode(redis).time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
