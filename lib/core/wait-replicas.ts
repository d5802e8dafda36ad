import { ConfigError } from './errors.js';

/**
 * How many replicas a write waits for before it is acknowledged (`WAIT`): a number (0: none), or
 * `"auto"`: 1 when the master the write went to has a connected replica, else 0
 * (lib/redis/replicas.ts).
 */
export type WaitReplicas = 'auto' | number;

/** The default of `api.submitWaitReplicas`, `pipeline produce --wait-replicas` and the library's `produce()` (`waitReplicas`). */
export const DEFAULT_WAIT_REPLICAS: WaitReplicas = 'auto';

/** `"auto"` or an integer from 0 (a number, or its digits as a string: a CLI flag), else a ConfigError naming `where`. */
export function parseWaitReplicas(where: string, v: unknown): WaitReplicas {
  if (v === 'auto') return 'auto';
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1)
    throw new ConfigError(where, `expected "auto" or an integer from 0 (0: no WAIT), got ${JSON.stringify(v)}`);
  return n;
}
