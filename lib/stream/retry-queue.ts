import type { RawEntry } from './entries.js';

/** An entry waiting to be (re)processed by this consumer, with how often it was tried. */
export interface Queued {
  entry: RawEntry;
  /** Deliveries so far, counting the one about to happen (0 for an `alone` entry until take-claimed-1.lua counts it). */
  attempt: number;
  /** Not before this time (ms since epoch); 0 = now. */
  dueAt: number;
  /**
   * Run in a batch of its own: an entry reclaimed from a consumer that stopped while holding it
   * (a crash, maybe caused by one record of its batch). Alone, the innocent records of that batch
   * go through on their next delivery instead of crashing with the poison one until all of them
   * are dead-lettered at `maxDeliveries`.
   */
  alone?: boolean;
}

/**
 * The entries a consumer owns beside what it reads: failed messages waiting out their backoff and
 * entries reclaimed from other consumers. They stay pending in the group all along (this is only
 * the in-memory schedule), so if the process dies they are reclaimed by others.
 */
export class RetryQueue {
  private readonly items = new Map<string, Queued>();

  /** Queue `q` unless its entry is already queued; returns whether it was added. */
  add(q: Queued): boolean {
    if (this.items.has(q.entry.id)) return false;
    this.items.set(q.entry.id, q);
    return true;
  }

  /** Queue or replace. */
  set(q: Queued): void {
    this.items.set(q.entry.id, q);
  }

  /** Remove and return the entries whose time has come, at most `max`; an `alone` one only by itself. */
  takeDue(max: number, now = Date.now()): Queued[] {
    const due: Queued[] = [];
    for (const q of this.items.values()) {
      if (due.length >= max) break;
      if (q.dueAt > now) continue;
      if (q.alone && due.length > 0) continue; // it goes in a later call, first
      due.push(q);
      if (q.alone) break;
    }
    for (const q of due) this.items.delete(q.entry.id);
    return due;
  }

  /** How long a read may block without delaying a queued retry: at most `max`, at least 1 ms. */
  blockFor(max: number, now = Date.now()): number {
    let block = max;
    for (const q of this.items.values()) block = Math.min(block, Math.max(1, q.dueAt - now));
    return block;
  }

  ids(): string[] {
    return [...this.items.keys()];
  }

  get size(): number {
    return this.items.size;
  }
}
