import type { Redis } from 'ioredis';
import { readGroupEntries, type RawEntry } from './entries.js';

export interface GroupReaderOptions {
  /** The dedicated blocking connection (a blocked XREADGROUP holds its socket). */
  connection: () => Redis;
  source: string;
  group: string;
  consumer: string;
  /** XREADGROUP COUNT. */
  batchSize: number;
  /** The claim fence value the consumer last saw (lib/lua/handoff-N.lua), recorded with each read as it is sent. @defaultValue always "" (unknown) */
  fence?: () => string;
  /** A count that changes whenever a read may have been lost (Connections.troubles), recorded as each read is sent. @defaultValue always 0 */
  connGeneration?: () => number;
}

/** What one read delivered, and the claim fence value seen before it was sent ("" = unknown). */
export interface GroupRead {
  entries: RawEntry[];
  fence: string;
  /** `connGeneration()` when the read was sent. */
  connGeneration: number;
}

const NOTHING: GroupRead = { entries: [], fence: '', connGeneration: 0 };

/**
 * One consumer's XREADGROUP, at most one in flight. A read is never cancelled: a caller woken
 * early (reclaimed entries arrived, shutdown) leaves the read in flight and the next `next()`
 * takes its reply, so entries delivered to this consumer are never dropped on the floor. `start()`
 * sends the next read ahead of time (read-ahead while a batch is processed).
 */
export class GroupReader {
  private inflight?: Promise<RawEntry[]>;
  /** The fence value when the read in flight was sent: entries it delivers came after it. */
  private inflightFence = '';
  private inflightConnGeneration = 0;
  /** What the read in flight delivered that no `next()` has taken yet (a batch read ahead). */
  private waiting: readonly RawEntry[] = [];
  private wake?: () => void;

  constructor(private readonly o: GroupReaderOptions) {}

  /** Send XREADGROUP (BLOCK `blockMs`, COUNT `count`) unless a read is already in flight. */
  start(blockMs: number, count = this.o.batchSize): Promise<RawEntry[]> {
    if (!this.inflight) {
      const { source, group, consumer } = this.o;
      this.inflightFence = this.o.fence?.() ?? '';
      this.inflightConnGeneration = this.o.connGeneration?.() ?? 0;
      this.inflight = this.o
        .connection()
        .callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', source, '>')
        .then(readGroupEntries)
        .then((entries) => (this.waiting = entries));
      this.inflight.catch(() => {}); // a read-ahead that fails is rethrown by the next() that takes it
    }
    return this.inflight;
  }

  /**
   * The entries of the read in flight (starting one that blocks at most `blockMs` for at most `count`
   * entries), or none when `wakeUp()` is called first. A failed read is thrown and forgotten: the
   * next call sends a new one.
   */
  async next(blockMs: number, count = this.o.batchSize): Promise<GroupRead> {
    const read = this.start(blockMs, count);
    const woken = new Promise<null>((res) => (this.wake = () => res(null)));
    let entries: RawEntry[] | null;
    try {
      entries = await Promise.race([read, woken]);
    } catch (err) {
      this.inflight = undefined;
      throw err;
    } finally {
      this.wake = undefined;
    }
    if (!entries) return NOTHING;
    this.inflight = undefined;
    this.waiting = [];
    return { entries, fence: this.inflightFence, connGeneration: this.inflightConnGeneration };
  }

  /**
   * Entries delivered to this consumer and not yet taken (a read ahead that arrived while a batch
   * is processed): the consumer keeps them claimed with its batch, since they are pending here.
   */
  deliveredIds(): string[] {
    return this.waiting.map((e) => e.id);
  }

  /** Whether a read is in flight (sent, its entries not taken yet). */
  get reading(): boolean {
    return this.inflight !== undefined;
  }

  /** End a `next()` that is waiting, without cancelling its read. */
  wakeUp(): void {
    this.wake?.();
  }

  /** At shutdown: what the read still in flight delivers (nothing when none is). */
  async drain(): Promise<GroupRead> {
    if (!this.inflight) return NOTHING;
    try {
      return { entries: await this.inflight, fence: this.inflightFence, connGeneration: this.inflightConnGeneration };
    } finally {
      this.inflight = undefined;
      this.waiting = [];
    }
  }
}
