import type { Redis } from 'ioredis';
import { BadIdError } from '../core/errors.js';
import { duringDrops } from '../redis/connection-drops.js';
import { presentIds } from '../stream/entries.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';

/** The generic "delete these ids that are there, say which" script of the stage DLQ, on the webhook DLQ. */
const purgeScript = new Script('dlq-purge-1');
const PAGE = 500;

/** One entry of `{p}:webhooks:dlq` as reader.ts writes it (deadLetter), with the product key from its body. */
export interface WebhookDeadLetter {
  /** The DLQ entry id (`<ms>-<seq>`) in its shard's stream. */
  id: string;
  webhook: string;
  /** The original completion's event id (`X-Pipeline-Event-Id`, `<shard>/<id>` sharded). */
  eventId: string;
  key?: string;
  reason: string;
  attempts: number;
  status?: number;
  error: string;
  /** The exact body POSTed the first time: sent again byte for byte. */
  body: string;
  /** When it was dead-lettered (ms, from the entry id). */
  at: number;
}

export interface WebhookDlqSelection {
  ids?: string[];
  all?: boolean;
  /** Only this webhook's entries (with ids too: another webhook's are left alone). */
  webhook?: string;
  /** At most this many, oldest first. */
  count?: number;
}

/** A whole `<ms>-<seq>` (a bare `<ms>` reads as a range in XRANGE), as lib/ops/dlq.ts's checkEntryId for the stage DLQ. */
function checkEntryId(id: string): void {
  if (!/^\d+-\d+$/.test(id))
    throw new BadIdError(`webhook dead-letter id ${JSON.stringify(id)}: expected <ms>-<seq>, as \`pipeline webhooks dlq list\` shows it`);
}

function parse(id: string, fields: string[]): WebhookDeadLetter {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  const body = m.get('body') ?? '';
  let key: string | undefined;
  try {
    const k = (JSON.parse(body) as { key?: unknown }).key;
    if (typeof k === 'string') key = k;
  } catch {
    // A body that is not JSON still lists (and is sent as it is).
  }
  const status = m.get('status');
  return {
    id,
    webhook: m.get('webhook') ?? '',
    eventId: m.get('event_id') ?? '',
    ...(key === undefined ? {} : { key }),
    reason: m.get('reason') ?? '',
    attempts: Number(m.get('attempts') ?? 0),
    ...(status === undefined ? {} : { status: Number(status) }),
    error: m.get('error') ?? '',
    body,
    at: Number(id.split('-')[0]),
  };
}

/**
 * The selected entries of one shard's webhook DLQ, oldest first: the named ids that are there, or
 * with `all` every entry up to the last one present now (entries dead-lettered meanwhile are left
 * for the next run), filtered by webhook, at most `count`.
 */
export async function selectWebhookDeadLetters(redis: Redis, keys: Keys, sel: WebhookDlqSelection): Promise<WebhookDeadLetter[]> {
  const limit = sel.count ?? Infinity;
  const keep = (e: WebhookDeadLetter) => sel.webhook === undefined || e.webhook === sel.webhook;
  if (sel.ids?.length) {
    sel.ids.forEach(checkEntryId);
    const out: WebhookDeadLetter[] = [];
    for (const id of new Set(sel.ids)) {
      const [hit] = await redis.xrange(keys.webhooksDlq, id, id);
      if (hit && keep(parse(hit[0], hit[1]))) out.push(parse(hit[0], hit[1]));
    }
    return out.slice(0, limit);
  }
  if (!sel.all) throw new Error('select entries with ids or all');
  const [last] = await redis.xrevrange(keys.webhooksDlq, '+', '-', 'COUNT', 1);
  if (!last) return [];
  const out: WebhookDeadLetter[] = [];
  for (let start = '-'; out.length < limit;) {
    const page = await redis.xrange(keys.webhooksDlq, start, last[0], 'COUNT', PAGE);
    for (const [id, fields] of page) {
      const e = parse(id, fields);
      if (keep(e) && out.length < limit) out.push(e);
    }
    if (page.length < PAGE) break;
    start = `(${page[page.length - 1]![0]}`;
  }
  return out;
}

/**
 * Delete these entries of one shard's webhook DLQ (entries read from it just now:
 * selectWebhookDeadLetters); returns the ids this call deleted (one gone already is not among them).
 * A page whose connection dropped during the call counts those gone after it as deleted.
 */
export async function deleteWebhookDeadLetters(redis: Redis, keys: Keys, ids: string[]): Promise<string[]> {
  const deleted: string[] = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    const page = ids.slice(i, i + PAGE);
    const { value, dropped } = await duringDrops(redis, () => purgeScript.run<string[]>(redis, [keys.webhooksDlq], page));
    const gone = new Set(value);
    // The connection dropped meanwhile: ioredis sent the call again by itself, and the re-send
    // answers nothing for what the first call had deleted. What is gone now, it deleted.
    const left = dropped ? await presentIds(redis, keys.webhooksDlq, page) : undefined;
    deleted.push(...page.filter((id) => gone.has(id) || (left !== undefined && !left.has(id))));
  }
  return deleted;
}
