import { ConfigError } from '../core/errors.js';
import { parseWaitReplicas } from '../core/wait-replicas.js';
import { API_DEFAULTS, type ApiLimits } from './api-limits.js';
import { CONSOLE_DEFAULTS, type ConsoleOptions } from './console-options.js';

/**
 * The config's settings sections (`redis`, `streams`, `limits`, `metrics`, `logs`,
 * `supervisor`, `api`, `console`): every key known
 * and of its type, so a typo (`maxLagg`, `enabeld`) or a string where a flag belongs
 * (`"stream": "false"`, which is truthy) is an error at start, not a setting silently ignored or
 * turned on.
 */

/** The largest integer a config may hold: Node's longest timer (a longer delay fires at once). */
export const MAX_CONFIG_INT = 2 ** 31 - 1;

/** An integer in [min, MAX_CONFIG_INT], or a ConfigError naming `where`. */
export function configInt(where: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_CONFIG_INT)
    throw new ConfigError(where, `expected an integer from ${min} to ${MAX_CONFIG_INT}, got ${JSON.stringify(v)}`);
  return v;
}

type Kind = 'boolean' | 'string' | 'int' | 'int0' | 'port' | 'strings' | 'tags' | 'waitReplicas';

/** The HTTP API's limits that may be 0 (a reading read afresh each time, no lookup reserve); the others are at least 1. */
const API_ZERO_OK: ReadonlySet<string> = new Set(['backpressureCacheMs', 'backpressureStagesMs', 'enrichLookupMs']);

/** The HTTP API's limits of another kind than an integer. */
const API_KINDS: Partial<Record<keyof ApiLimits, Kind>> = { submitWaitReplicas: 'waitReplicas' };

export const SECTION_KEYS = {
  redis: { url: 'string' },
  streams: { trimAcked: 'boolean', terminal: 'strings', terminalMaxAgeMs: 'int0', dlqMaxAgeMs: 'int0' },
  limits: { maxRecordBytes: 'int', maxLag: 'int', doneMaxLen: 'int', statusTtlMs: 'int', revokeTtlMs: 'int' },
  metrics: {
    enabled: 'boolean',
    host: 'string',
    port: 'port',
    prefix: 'string',
    gaugeIntervalMs: 'int',
    sampleTimeoutMs: 'int',
    tags: 'tags',
    maxBufferBytes: 'int0', // 0: no batching, a datagram per metric
    flushIntervalMs: 'int',
  },
  logs: { stream: 'boolean', maxLen: 'int', flushIntervalMs: 'int', maxBuffered: 'int' },
  supervisor: { restartBaseMs: 'int', restartMaxMs: 'int', stableAfterMs: 'int', crashLoopAfter: 'int', handOverTimeoutMs: 'int' },
  api: Object.fromEntries(Object.keys(API_DEFAULTS).map((k) => [k, API_KINDS[k as keyof ApiLimits] ?? (API_ZERO_OK.has(k) ? 'int0' : 'int')])) as Record<
    keyof ApiLimits,
    Kind
  >,
  console: Object.fromEntries(Object.entries(CONSOLE_DEFAULTS).map(([k, v]) => [k, typeof v === 'boolean' ? 'boolean' : 'int'])) as Record<
    keyof ConsoleOptions,
    Kind
  >,
} as const satisfies Record<string, Record<string, Kind>>;

function checkValue(where: string, kind: Kind, v: unknown): void {
  const fail = (expected: string) => {
    throw new ConfigError(where, `expected ${expected}, got ${JSON.stringify(v)}`);
  };
  switch (kind) {
    case 'boolean':
      if (typeof v !== 'boolean') fail('true or false');
      return;
    case 'string':
      if (typeof v !== 'string' || v === '') fail('a non-empty string');
      return;
    case 'int':
      configInt(where, v, 1);
      return;
    case 'int0':
      configInt(where, v, 0);
      return;
    case 'port':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail('a port number, 1-65535');
      return;
    case 'strings':
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail('an array of names');
      return;
    case 'tags':
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every((s) => typeof s === 'string')) fail('an object of string values');
      return;
    case 'waitReplicas':
      if (typeof v === 'string' && v !== 'auto') fail('"auto" or an integer from 0');
      parseWaitReplicas(where, v);
      return;
  }
}

/**
 * `given`: the section as the config file has it (its keys must be known); `merged`: with defaults
 * and environment overrides (its values must have their types).
 */
export function checkSection(name: keyof typeof SECTION_KEYS, given: Record<string, unknown>, merged: object): void {
  const kinds: Record<string, Kind> = SECTION_KEYS[name];
  for (const k of Object.keys(given)) {
    if (k === '$comment') continue;
    if (!(k in kinds)) throw new ConfigError(`${name}.${k}`, `unknown key (known: ${Object.keys(kinds).join(', ')})`);
  }
  for (const [k, kind] of Object.entries(kinds)) checkValue(`${name}.${k}`, kind, (merged as Record<string, unknown>)[k]);
}
