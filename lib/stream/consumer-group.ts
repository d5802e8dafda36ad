import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';

/**
 * XGROUP CREATE ... MKSTREAM from the start of the stream (entries added before the group are
 * read too); true when it was created, false when it existed already (BUSYGROUP).
 */
export async function createGroup(redis: Redis, stream: string, group: string): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    return true;
  } catch (err) {
    if (!errorMessage(err).includes('BUSYGROUP')) throw err;
    return false;
  }
}
