/** The config's `webhooks` entries (checked by lib/config/webhooks.ts; docs/webhooks.md). */

/** The completion statuses a webhook may ask for (lib/stream/done.ts FinalStatus). */
export const WEBHOOK_EVENTS = ['stored', 'review', 'dead_lettered', 'revoked'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A webhook's timers and sizes (docs/webhooks.md#options): each one an option with its default. */
export interface WebhookOptions {
  /** One POST gets this long for an answer; past it the attempt failed (retried). @defaultValue 10000 */
  timeoutMs: number;
  /** Attempts per completion (the first included); after the last failed one it is dead-lettered to `{p}:webhooks:dlq`. @defaultValue 8 */
  maxAttempts: number;
  /** The delay after the first failed attempt; doubles per attempt up to `backoffMaxMs`, jittered (a `Retry-After` answer wins, within `backoffMaxMs`); a Redis command the reader had refused (OOM, NOPERM) waits the same way. @defaultValue 1000 */
  backoffBaseMs: number;
  /** The longest delay between two attempts. @defaultValue 60000 */
  backoffMaxMs: number;
  /** Completions in flight per reader (one reader per shard in each `pipeline webhooks` process): the XREADGROUP COUNT. @defaultValue 4 */
  concurrency: number;
  /** The XREADGROUP BLOCK of a reader (also bounds how fast a stop ends it). @defaultValue 2000 */
  blockMs: number;
  /** Entries pending this long in the group (a `pipeline webhooks` that crashed) are claimed by another (XAUTOCLAIM); above `backoffMaxMs + timeoutMs`, since an entry in retry is touched before each attempt. @defaultValue 120000 */
  claimMinIdleMs: number;
  /** How often a reader claims idle entries and checks whether `{p}:done` was trimmed past its group (counted as `webhooks.missed`). @defaultValue 10000 */
  checkIntervalMs: number;
  /** A Redis outage the reader waits out (full, unable to persist, failing over) is said at warn when it starts; once its errors in a row have lasted this long, once more at error (`persistedPastMs`), as a worker's read loop turns error past its `stallTimeoutMs`. @defaultValue 30000 */
  stallTimeoutMs: number;
}

export interface WebhookSettings extends WebhookOptions {
  /** Names the consumer group (`webhook:<name>`), the logs and the metrics' `webhook` tag. */
  name: string;
  /** http:// or https:// URL the completions are POSTed to. */
  url: string;
  /** The completion statuses sent; others are acked unsent. @defaultValue every one (stored, review, dead_lettered) */
  events: WebhookEvent[];
  /** The environment variable holding the HMAC-SHA256 secret (never the secret itself: configs are committed). */
  secretEnv: string;
}

export const WEBHOOK_DEFAULTS: WebhookOptions = {
  timeoutMs: 10_000,
  maxAttempts: 8,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  concurrency: 4,
  blockMs: 2_000,
  claimMinIdleMs: 120_000,
  checkIntervalMs: 10_000,
  stallTimeoutMs: 30_000,
};
