import type { Redis } from 'ioredis';
import type { WebhookSettings } from '../config/webhooks.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';
import { deleteWebhookDeadLetters, type WebhookDeadLetter } from './dlq.js';
import { postOnce } from './post.js';
import { webhookHeaders } from './sign.js';

export interface RedeliverDeps {
  redis: Redis;
  /** The shard whose `{p}:webhooks:dlq` the entries are in. */
  keys: Keys;
  /** The webhooks of the current config: an entry is sent to its webhook's URL as configured now. */
  hooks: readonly WebhookSettings[];
  /** Webhook name → its secret; called only for webhooks that have entries to send. */
  secret: (hook: WebhookSettings) => string;
  logger: Logger;
  metrics: Metrics;
}

export interface RedeliverResult {
  delivered: WebhookDeadLetter[];
  /** Left in the DLQ, with why: the receiver's answer, or the webhook gone from the config. */
  failed: { entry: WebhookDeadLetter; why: string }[];
}

/**
 * One POST per entry to its webhook's URL (the current config's), the original body and event id
 * with a fresh timestamp and signature, so a receiver that de-duplicates by event id handles it
 * once. A 2xx deletes the entry (and counts `webhooks.delivered`); anything else leaves it, with
 * why. Up to the webhook's `concurrency` requests at once, each bounded by its `timeoutMs`; no
 * retries: the command reports and the operator runs it again.
 */
export async function redeliverWebhookDeadLetters(d: RedeliverDeps, entries: readonly WebhookDeadLetter[]): Promise<RedeliverResult> {
  const out: RedeliverResult = { delivered: [], failed: [] };
  const byHook = new Map<string, WebhookDeadLetter[]>();
  for (const e of entries) byHook.set(e.webhook, [...(byHook.get(e.webhook) ?? []), e]);
  await Promise.all(
    [...byHook].map(async ([name, list]) => {
      const hook = d.hooks.find((h) => h.name === name);
      if (!hook) {
        for (const entry of list) out.failed.push({ entry, why: `webhook ${JSON.stringify(name)} is not in the config (any more): left in the DLQ` });
        return;
      }
      const secret = d.secret(hook);
      const queue = [...list];
      const worker = async () => {
        for (let e = queue.shift(); e; e = queue.shift()) await one(d, hook, secret, e, out);
      };
      await Promise.all(Array.from({ length: Math.min(hook.concurrency, queue.length) }, worker));
    }),
  );
  return out;
}

async function one(d: RedeliverDeps, hook: WebhookSettings, secret: string, e: WebhookDeadLetter, out: RedeliverResult): Promise<void> {
  const res = await postOnce(hook.url, e.body, webhookHeaders(secret, e.eventId, e.body), hook.timeoutMs);
  const log = { webhook: hook.name, event_id: e.eventId, key: e.key ?? null, dlq_id: e.id };
  if (res.kind !== 'delivered') {
    out.failed.push({ entry: e, why: res.error });
    d.logger.warn('webhook.redeliver_failed', { ...log, status: res.status ?? null, error: res.error });
    return;
  }
  await deleteWebhookDeadLetters(d.redis, d.keys, [e.id]);
  out.delivered.push(e);
  d.metrics.increment('webhooks.delivered', 1, { webhook: hook.name });
  d.logger.info('webhook.redelivered', { ...log, status: res.status });
}
