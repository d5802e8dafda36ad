import type { Redis } from 'ioredis';
import type { StreamConsumer } from './consumer.js';
import type { ConsumerDeps } from './consumer.js';
import { toEntries } from './entries.js';
import { Script } from './redis/script.js';
import { trimAcked } from './retention.js';

const deleteIdleConsumer = new Script('delete-idle-consumer-1');

type AutoclaimReply = [Buffer, [Buffer, Buffer[] | null][], Buffer[]?];

/**
 * The background side of a consumer, every `claimIntervalMs`: claims entries idle past
 * `claimMinIdleMs` from any consumer of the group (XAUTOCLAIM) and queues them on this consumer
 * with their delivery counts (XPENDING), so `maxDeliveries` is enforced across crashes; removes
 * consumers that are gone and own nothing; trims what every group has acked.
 */
export class Reclaimer {
  private timer?: NodeJS.Timeout;
  private cursor = '0-0';
  private stopped = false;
  private tick?: Promise<void>;
  reclaimed = 0;

  constructor(private readonly d: ConsumerDeps, private readonly consumer: StreamConsumer) {}

  private get redis(): Redis {
    return this.d.connections.command();
  }

  start(): void {
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.tick = this.runOnce().finally(schedule);
      }, this.d.stage.claimIntervalMs);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.tick;
  }

  /** One pass; errors are logged and counted, and the next pass tries again. */
  async runOnce(): Promise<void> {
    const tags = { stage: this.d.stage.name };
    for (const [step, fn] of [
      ['claim', () => this.claim()],
      ['cleanup', () => this.removeGoneConsumers()],
      ['trim', () => this.trim()],
    ] as const) {
      try {
        await fn();
      } catch (err) {
        this.d.metrics.increment('reclaim.errors', 1, { ...tags, step });
        this.d.logger.warn('reclaim.error', { step, err });
      }
    }
  }

  private async claim(): Promise<void> {
    const { stage, metrics, logger } = this.d;
    if (this.consumer.queued >= stage.batchSize) return; // busy: let the backlog drain first
    const source = this.consumer.source;
    const reply = (await this.redis.callBuffer(
      'XAUTOCLAIM', source, stage.name, this.d.consumer, stage.claimMinIdleMs, this.cursor, 'COUNT', stage.batchSize,
    )) as unknown as AutoclaimReply;
    this.cursor = reply[0].toString();
    const deleted = reply[2] ?? [];
    if (deleted.length > 0) {
      // Pending entries whose data was trimmed away: XAUTOCLAIM has dropped them from the PEL.
      metrics.increment('reclaim.deleted', deleted.length, { stage: stage.name });
      logger.error('reclaim.entries_deleted', { ids: deleted.map(String) });
    }
    const entries = toEntries(reply[1]);
    if (entries.length === 0) return;
    const pending = (await this.redis.xpending(
      source, stage.name, entries[0]!.id, entries[entries.length - 1]!.id, entries.length * 2, this.d.consumer,
    )) as [string, string, number, number][];
    const deliveries = new Map(pending.map(([id, , , n]) => [id, Number(n)]));
    this.reclaimed += entries.length;
    metrics.increment('messages.reclaimed', entries.length, { stage: stage.name });
    logger.info('reclaim.claimed', { count: entries.length, first: entries[0]!.id });
    this.consumer.enqueue(entries, deliveries);
  }

  private async removeGoneConsumers(): Promise<void> {
    const { stage } = this.d;
    const source = this.consumer.source;
    const consumers = (await this.redis.xinfo('CONSUMERS', source, stage.name)) as unknown[][];
    for (const c of consumers) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1]);
      const name = String(info.get('name'));
      if (name === this.d.consumer || Number(info.get('pending')) > 0 || Number(info.get('idle')) < stage.consumerIdleRemoveMs) continue;
      const removed = await deleteIdleConsumer.run<number>(this.redis, [source], [stage.name, name, stage.consumerIdleRemoveMs]);
      if (removed === 1) this.d.logger.info('reclaim.consumer_removed', { removed: name });
    }
  }

  private async trim(): Promise<void> {
    if (!this.d.config.streams.trimAcked) return;
    const n = await trimAcked(this.redis, this.consumer.source);
    if (n > 0) this.d.metrics.increment('stream.trimmed', n, { stage: this.d.stage.name });
  }
}
