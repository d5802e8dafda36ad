/**
 * A stage's `rateLimit` (lib/worker/rate-gate.ts): at most `records` records per `perMs` for the
 * stage, across all its workers (per shard on a sharded pipeline: docs/configuration.md). Pure
 * validation; the token bucket is lib/lua/rate-limit-1.lua.
 */
import { ConfigError } from '../core/errors.js';
import { configInt } from './sections.js';

export interface RateLimit {
  /** Records per window; also the bucket's size, the largest burst after an idle spell. */
  records: number;
  /** The window, in ms. @defaultValue 1000 */
  perMs: number;
}

/** The window when `perMs` is not given. */
export const DEFAULT_RATE_LIMIT_PER_MS = 1000;

/** A stage's `rateLimit` as written (undefined: unlimited), checked; a ConfigError names the field. */
export function checkRateLimit(where: string, v: unknown): RateLimit | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(where, 'expected an object like { "records": 50, "perMs": 1000 }');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'records' && k !== 'perMs') throw new ConfigError(`${where}.${k}`, 'unknown key (known: records, perMs)');
  if (o.records === undefined) throw new ConfigError(`${where}.records`, 'required: how many records per perMs');
  return { records: configInt(`${where}.records`, o.records), perMs: configInt(`${where}.perMs`, o.perMs ?? DEFAULT_RATE_LIMIT_PER_MS) };
}
