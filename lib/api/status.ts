import type { Redis } from 'ioredis';
import type { ResolvedStage } from '../config/types.js';
import type { Keys } from '../redis/keys.js';
import { readStatus } from '../stream/status-value.js';
import { compareIds } from '../stream/stream-id.js';

/** What `GET /v1/products/{id}` answers (before the stored product is added). */
export type IdStatus =
  | { status: 'unknown' }
  | { status: 'queued'; stage: string }
  | { status: 'processing'; stage: string | null; after?: string }
  | { status: 'stored'; stage: string; at: number }
  | { status: 'review'; stage: string; reason: string; at: number }
  | { status: 'dead_lettered'; stage: string; reason: string; error?: string; at: number }
  | { status: 'revoked'; stage: string; by: string; reason?: string; at: number };

/**
 * One id's status, cheaply:
 * - the id's status `{p}:status:<id>` (one GET; lib/stream/status-value.ts): written `queued` by the API with the
 *   input entry id, and `stored` / `review` / `dead_lettered` / `revoked` by the completion writers
 *   (lib/stream/done.ts). No hash and no stored product: `unknown` (404).
 * - queued: is the input entry still undelivered to the first stage (id above the group's
 *   last-delivered-id: one XINFO GROUPS), pending there (one XPENDING over that one id:
 *   `processing` at the first stage), or past it (`processing`, later stage not tracked)?
 * `storedFallback` answers for ids stored before statuses existed (or whose status expired).
 */
export async function lookupStatus(redis: Redis, keys: Keys, first: ResolvedStage, id: string, storedFallback: () => Promise<boolean>): Promise<IdStatus> {
  const h = await readStatus(redis, keys.status(id));
  const at = Number(h.t ?? 0);
  switch (h.s) {
    case 'stored':
      return { status: 'stored', stage: h.g ?? '', at };
    case 'review':
      return { status: 'review', stage: h.g ?? '', reason: h.r ?? 'review', at };
    case 'dead_lettered':
      return { status: 'dead_lettered', stage: h.g ?? '', reason: h.r ?? 'unknown', ...(h.x ? { error: h.x } : {}), at };
    case 'revoked':
      return { status: 'revoked', stage: h.g ?? '', by: h.b ?? 'unknown', ...(h.r ? { reason: h.r } : {}), at };
    case 'queued':
      return inFlight(redis, keys, first, String(h.q ?? ''));
  }
  return (await storedFallback()) ? { status: 'stored', stage: '', at: 0 } : { status: 'unknown' };
}

async function inFlight(redis: Redis, keys: Keys, first: ResolvedStage, entryId: string): Promise<IdStatus> {
  const stream = keys.stream(first.input);
  const [groups, pending] = await Promise.all([
    (redis.xinfo('GROUPS', stream) as Promise<unknown[][]>).catch(() => [] as unknown[][]),
    entryId ? (redis.xpending(stream, first.name, entryId, entryId, 1) as Promise<unknown[]>).catch(() => []) : Promise.resolve([]),
  ]);
  if (pending.length > 0) return { status: 'processing', stage: first.name };
  let lastDelivered = '0-0';
  for (const g of groups) {
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
    if (m.get('name') === first.name) lastDelivered = String(m.get('last-delivered-id') ?? '0-0');
  }
  if (!entryId || compareIds(entryId, lastDelivered) > 0) return { status: 'queued', stage: first.name };
  return { status: 'processing', stage: null, after: first.name };
}
