import type { FinalStatus } from './done.js';

/** One entry of `{p}:done` (lib/stream/done.ts; `{p:N}:done` of shard N), as the API sees it. */
export interface CompletionEvent {
  /** The stream entry id (in its shard's stream): where a resumed stream goes on from (lib/api/sse-position.ts). */
  id: string;
  /** Sharded pipelines: the shard whose `{p:N}:done` the entry is in (absent when unsharded). */
  shard?: number;
  key: string;
  status: FinalStatus;
  stage: string;
  reason?: string;
  error?: string;
  /** revoked: who revoked it (`pipeline revoke`). */
  by?: string;
  /** ms since epoch. */
  at: number;
}

/**
 * A `{p}:done` entry's flat field list → event (undefined for an entry without a key or status);
 * `shard`: the shard whose stream it is from (sharded pipelines only).
 */
export function parseCompletion(id: string, fields: readonly string[], shard?: number): CompletionEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  if (!f.k || !f.s) return undefined;
  return {
    id,
    ...(shard === undefined ? {} : { shard }),
    key: f.k,
    status: f.s as FinalStatus,
    stage: f.g ?? '',
    ...(f.r ? { reason: f.r } : {}),
    ...(f.x ? { error: f.x } : {}),
    ...(f.b ? { by: f.b } : {}),
    at: Number(f.t ?? 0),
  };
}
