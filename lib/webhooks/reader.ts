import type { Redis } from 'ioredis';
import { backoffMs } from '../core/backoff.js';
import { pairs } from '../core/reply-pairs.js';
import type { WebhookSettings } from '../config/webhooks.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { parseCompletion, type CompletionEvent } from '../stream/completion-event.js';
import { webhookGroup } from '../stream/webhook-groups.js';
import { abortableSleep } from '../core/sleep.js';
import { checkMissed } from './missed.js';
import { postOnce } from './post.js';
import { duringDrops } from '../redis/connection-drops.js';
import { Script } from '../redis/script.js';
import { webhookHeaders } from './sign.js';
import { leaveGroup } from '../worker/leave-group.js';
import { ReadErrors } from './read-errors.js';

export { webhookGroup } from '../stream/webhook-groups.js';

const groupScript = new Script('webhook-group-1');
const deleteIdleConsumer = new Script('delete-idle-consumer-1');
const deadLetterScript = new Script('webhook-dead-letter-2');

/** webhook-group-1.lua's answer: the group existed (0), or was made at the stream's end (1), at the reader's position (2), at its start (3). */
type GroupMade = 0 | 1 | 2 | 3;
const GROUP_MADE_AT = ['', 'end', 'position', 'start'] as const;

/** A stream entry as XREADGROUP / XAUTOCLAIM return it. */
type Entry = [id: string, fields: string[]];

export interface WebhookReaderDeps {
  hook: WebhookSettings;
  secret: string;
  /** `{p}:done`, or shard N's `{p:N}:done`. */
  stream: string;
  /** The webhook dead-letter stream on the same slot (`{p}:webhooks:dlq`, `{p:N}:webhooks:dlq`). */
  dlq: string;
  /** Sharded pipelines: the stream's shard (in the event id and body). */
  shard?: number;
  /** Shared command connection; `reader` is this reader's own blocking connection. */
  command: Redis;
  reader: Redis;
  consumer: string;
  /** The connections' Redis user (the URL's), named when the reader is refused a permission. */
  user: string;
  logger: Logger;
  metrics: Metrics;
  /** XADD MAXLEN ~ of the dead-letter stream (`limits.doneMaxLen`). */
  dlqMaxLen: number;
  /** Aborted on stop: sleeps end, requests are cut, entries in hand stay pending (reclaimed later). */
  stop: AbortSignal;
}

/**
 * One webhook on one completion stream: reads its group (`webhook:<name>`), POSTs each completion
 * (up to `concurrency` at once), and reads again only when the whole batch is done, so a receiver
 * that is down holds the reader in its backoff: nothing spins, the group's lag grows in Redis.
 * Every `checkIntervalMs` it claims entries idle past `claimMinIdleMs` (a crashed `pipeline
 * webhooks`) and checks whether the stream was trimmed past the group (lib/webhooks/missed.ts).
 */
export class WebhookReader {
  private nextCheck = 0;
  private cursor = '0-0';
  /** The last entry of this reader's last batch read and settled in full: where a vanished group is made again. */
  private position = '';
  /** Entries delivered, dead-lettered and reclaimed by this reader (for tests). */
  delivered = 0;
  deadLettered = 0;
  reclaimed = 0;

  constructor(private readonly d: WebhookReaderDeps) {}

  /** The XREADGROUP BLOCK: how long a stop may wait for this reader's loop. */
  get blockMs(): number {
    return this.d.hook.blockMs;
  }

  private get group(): string {
    return webhookGroup(this.d.hook.name);
  }

  private get tags() {
    return { webhook: this.d.hook.name };
  }

  /**
   * Make the group if it is missing (webhook-group-1.lua): at the stream's end (`$`: a new webhook
   * gets completions from its start on, not the stream's history), or, once this reader has a
   * position (the group vanished under it), there, so what came in while it was gone is sent.
   * Returns the script's answer: 0 it existed, 1 made at the end, 2 at the position, 3 at the start.
   */
  async ensureGroup(): Promise<GroupMade> {
    return groupScript.run<GroupMade>(this.d.command, [this.d.stream], [this.group, this.position]);
  }

  async run(): Promise<void> {
    const { hook, stop, logger, stream, consumer } = this.d;
    const errors = new ReadErrors({
      webhook: hook.name,
      stream,
      consumer,
      user: this.d.user,
      command: this.d.command,
      logger,
      metrics: this.d.metrics,
      backoffBaseMs: hook.backoffBaseMs,
      backoffMaxMs: hook.backoffMaxMs,
      stallTimeoutMs: hook.stallTimeoutMs,
    });
    for (let failing = false; !stop.aborted;) {
      try {
        // After an error the group may be gone (NOGROUP: deleted, or Redis lost its data): made again at this reader's position.
        if (failing || this.nextCheck === 0) {
          const made = await this.ensureGroup();
          if (made !== 0 && failing)
            logger.warn('webhook.group_recreated', {
              webhook: hook.name,
              stream,
              consumer,
              group: this.group,
              from: GROUP_MADE_AT[made],
              position: this.position || null,
            });
        }
        if (Date.now() >= this.nextCheck) {
          this.nextCheck = Date.now() + hook.checkIntervalMs;
          await this.check();
        }
        const reply = (await this.d.reader.xreadgroup(
          'GROUP',
          this.group,
          this.d.consumer,
          'COUNT',
          hook.concurrency,
          'BLOCK',
          hook.blockMs,
          'STREAMS',
          this.d.stream,
          '>',
        )) as [string, Entry[]][] | null;
        const entries = reply?.[0]?.[1] ?? [];
        await settleAll(entries.map((e) => this.handle(e)));
        // Only a batch settled in full moves it: one that failed is read again if the group is made again.
        if (entries.length > 0) this.position = entries[entries.length - 1]![0];
        // Cleared after the whole turn: a refused ack after a good read is the same row of errors, said once.
        errors.clear();
        failing = false;
      } catch (err) {
        if (stop.aborted) break;
        failing = true;
        await abortableSleep(await errors.after(err), stop);
      }
    }
  }

  /** Trimmed past the group? Then the entries idle past claimMinIdleMs, page by page, each page delivered before the next. */
  private async check(): Promise<void> {
    const { hook, command, stream, consumer, stop } = this.d;
    await checkMissed(command, stream, this.group, this.d);
    do {
      const [next, claimed, deleted] = (await command.xautoclaim(
        stream,
        this.group,
        consumer,
        hook.claimMinIdleMs,
        this.cursor,
        'COUNT',
        hook.concurrency,
      )) as [string, Entry[], string[]?];
      this.cursor = next;
      if (deleted && deleted.length > 0) {
        // Pending entries trimmed away before they were delivered: lost to this webhook.
        this.d.metrics.increment('webhooks.missed', deleted.length, this.tags);
        this.d.logger.error('webhook.missed', { webhook: hook.name, stream, missed: deleted.length, pending: true, event_ids: deleted.slice(0, 20) });
      }
      const live = claimed.filter((e): e is Entry => Array.isArray(e) && e[1] !== null);
      if (live.length > 0) {
        this.reclaimed += live.length;
        this.d.logger.info('webhook.reclaimed', { webhook: hook.name, stream, entries: live.length });
        await settleAll(live.map((e) => this.handle(e)));
      }
    } while (this.cursor !== '0-0' && !stop.aborted);
    await this.removeGoneConsumers();
  }

  /**
   * Consumers of processes that are gone (names are per process) would pile up in the group: one
   * idle past claimMinIdleMs that owns nothing (its entries were just claimed) is removed, checked
   * and deleted in one step (delete-idle-consumer-1.lua, as the stage workers do). A live reader
   * is never that idle: each XREADGROUP resets its idle time, and one in a long retry owns the entry.
   */
  private async removeGoneConsumers(): Promise<void> {
    const { command, stream, consumer, hook } = this.d;
    const list = (await command.xinfo('CONSUMERS', stream, this.group)) as unknown[][];
    for (const m of list.map(pairs)) {
      const name = String(m.get('name'));
      if (name !== consumer && Number(m.get('pending')) === 0 && Number(m.get('idle')) >= hook.claimMinIdleMs)
        await deleteIdleConsumer.run(command, [stream], [this.group, name, hook.claimMinIdleMs]);
    }
  }

  /**
   * On a graceful stop: this process's consumer leaves the group, unless it still owns entries (they
   * stay claimable). Never throws, and waits at most `blockMs` (lib/worker/leave-group.ts, as the
   * stage workers leave theirs): the command connection queues commands while Redis is down, and a
   * stop that waited for the answer did not end until Redis was back.
   */
  async leave(): Promise<void> {
    await leaveGroup(this.d, this.d.command, this.d.stream, this.group, this.d.hook.blockMs);
  }

  /** One completion: POSTed until delivered, refused, or out of attempts; acked (and dead-lettered) unless stopping. */
  private async handle([id, fields]: Entry): Promise<void> {
    const { hook, command, stream, shard, logger, metrics, stop } = this.d;
    const event = parseCompletion(id, fields, shard);
    const eventId = shard === undefined ? id : `${shard}/${id}`;
    if (!event || !hook.events.includes(event.status)) {
      if (!event) logger.warn('webhook.bad_entry', { webhook: hook.name, event_id: eventId });
      await command.xack(stream, this.group, id);
      return;
    }
    const body = JSON.stringify(event);
    let trimmed = false;
    for (let attempt = 1; ; attempt++) {
      // Touched before each retry (idle 0), so no other process claims a delivery still in hand.
      if (attempt > 1 && !trimmed && (await command.xclaim(stream, this.group, this.d.consumer, 0, id, 'JUSTID')).length === 0) {
        // No longer pending. Acked by another process (it claimed the entry while this one stalled):
        // done. Or trimmed from the capped stream, which XCLAIM answers by dropping it from the
        // group: nobody can claim it any more, and only the body in hand is left, so it is sent on.
        if ((await command.xrange(stream, id, id)).length > 0) return;
        trimmed = true;
        logger.warn('webhook.trimmed_in_retry', { webhook: hook.name, event_id: eventId, key: event.key, attempt });
      }
      const out = await postOnce(hook.url, body, webhookHeaders(this.d.secret, eventId, body), hook.timeoutMs, stop);
      if (stop.aborted) return this.stoppedWith(trimmed && out.kind !== 'delivered', eventId);
      const log = { webhook: hook.name, event_id: eventId, key: event.key, attempt };
      if (out.kind === 'delivered') {
        await command.xack(stream, this.group, id);
        this.delivered++;
        metrics.increment('webhooks.delivered', 1, this.tags);
        metrics.timing('webhooks.latency_ms', Math.max(0, Date.now() - event.at), this.tags);
        logger.info('webhook.delivered', { ...log, status: out.status });
        return;
      }
      if (out.kind === 'refused' || attempt >= hook.maxAttempts) {
        const reason = out.kind === 'refused' ? 'refused' : 'attempts';
        await this.deadLetter(id, eventId, event, { reason, attempts: attempt, status: out.status, error: out.error, trimmed });
        return;
      }
      const waitMs = out.retryAfterMs !== undefined ? Math.min(out.retryAfterMs, hook.backoffMaxMs) : backoffMs(attempt, hook.backoffBaseMs, hook.backoffMaxMs);
      metrics.increment('webhooks.retries', 1, this.tags);
      logger.warn('webhook.retry', { ...log, status: out.status ?? null, error: out.error, wait_ms: waitMs });
      await abortableSleep(waitMs, stop);
      if (stop.aborted) return this.stoppedWith(trimmed, eventId);
    }
  }

  /**
   * Stopping with a delivery unfinished: it stays pending for another process to claim, unless it was
   * trimmed while in retry (then it is nowhere but here): counted and logged as missed, not dropped silently.
   */
  private stoppedWith(trimmed: boolean, eventId: string): void {
    if (!trimmed) return;
    this.d.metrics.increment('webhooks.missed', 1, this.tags);
    this.d.logger.error('webhook.missed', { webhook: this.d.hook.name, stream: this.d.stream, missed: 1, stopping: true, event_ids: [eventId] });
  }

  /**
   * To the webhook dead-letter stream with the last answer, and acked, in one step
   * (webhook-dead-letter-2.lua): only while it is pending (another process that claimed and
   * delivered it acked it), or trimmed while in retry (nowhere but here).
   */
  private async deadLetter(
    id: string,
    eventId: string,
    event: CompletionEvent,
    last: { reason: 'refused' | 'attempts'; attempts: number; status: number | undefined; error: string; trimmed: boolean },
  ): Promise<void> {
    const { hook, command, stream, dlq, dlqMaxLen, logger, metrics } = this.d;
    const { reason, attempts, status, error } = last;
    const fields = ['webhook', hook.name, 'event_id', eventId, 'reason', reason, 'attempts', String(attempts), 'error', error.slice(0, 500)];
    if (status !== undefined) fields.push('status', String(status));
    fields.push('body', JSON.stringify(event));
    const { value: added, dropped } = await duringDrops(command, () =>
      deadLetterScript.run<string | null>(command, [stream, dlq], [this.group, id, dlqMaxLen, last.trimmed ? '1' : '', ...fields]),
    );
    // Not pending: acked by another process, done. Unless the connection dropped during the call:
    // ioredis sent it again by itself, and the re-send found the entry the first call dead-lettered.
    if (added === null && !dropped) return;
    this.deadLettered++;
    metrics.increment('webhooks.dead_lettered', 1, { ...this.tags, reason });
    logger.error('webhook.dead_lettered', { webhook: hook.name, event_id: eventId, key: event.key, reason, attempts, status: status ?? null, error });
  }
}

/** Wait for every delivery of a batch (none is left running past its batch), then throw the first failure. */
async function settleAll(list: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(list)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
