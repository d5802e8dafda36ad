import { createHmac } from 'node:crypto';

/**
 * The headers of one webhook POST. The signature covers the timestamp and the exact body bytes
 * (`"<timestamp>.<body>"`), so a receiver that checks it and refuses old timestamps refuses a
 * replayed or altered request (docs/webhooks.md#verifying-a-delivery has the receiver's side).
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** `eventId`: the done entry id, `<shard>/<id>` on a sharded pipeline (the receiver's idempotency key). */
export function webhookHeaders(secret: string, eventId: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  return {
    'content-type': 'application/json',
    'user-agent': 'streamline-enrich-webhooks',
    'x-pipeline-event-id': eventId,
    'x-pipeline-timestamp': timestamp,
    'x-pipeline-signature': signature(secret, timestamp, body),
  };
}
