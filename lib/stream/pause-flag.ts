import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

/**
 * A stage's paused flag (`{p}:paused:<stage>`, Keys.paused): a hash whose presence pauses the
 * stage's consumers (lib/worker/pause-gate.ts), with who paused it, when and why. Written by
 * `pipeline pause`, the HTTP API and the console (lib/ops/pause.ts); read by the workers, `status`,
 * `top`, `health` and the console.
 */
export interface PauseRecord {
  /** Who paused it: `cli:<user>`, `api:<token name>`, `console:<token name>`. */
  by: string;
  /** When (ms since the epoch). */
  at: number;
  /** The operator's reason, when one was given. */
  reason?: string;
}

/** A flag's hash as read (HGETALL), leniently: undefined when the key is gone (not paused). */
export function parsePauseRecord(hash: Record<string, string> | null | undefined): PauseRecord | undefined {
  if (!hash || Object.keys(hash).length === 0) return undefined;
  const at = Number(hash.at);
  return { by: hash.by ?? 'unknown', at: Number.isFinite(at) ? at : 0, ...(hash.reason ? { reason: hash.reason } : {}) };
}

/** The flag's fields as HSET writes them. */
export function pauseFields(r: PauseRecord): Record<string, string> {
  return { by: r.by, at: String(r.at), ...(r.reason ? { reason: r.reason } : {}) };
}

/** Whether `stage` is paused under `keys`' tag, and by whom. */
export async function readPause(redis: Redis, keys: Keys, stage: string): Promise<PauseRecord | undefined> {
  return parsePauseRecord(await redis.hgetall(keys.paused(stage)));
}

/** `paused by cli:ann 42 s ago: swapping the model` (status, top, health). */
export function pauseLine(r: PauseRecord, now = Date.now()): string {
  const ago = Math.max(0, Math.round((now - r.at) / 1000));
  return `paused by ${r.by} ${ago} s ago${r.reason ? `: ${r.reason}` : ''}`;
}
