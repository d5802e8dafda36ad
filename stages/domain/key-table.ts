import { fnv1a32Range } from '../../lib/redis/shard.js';
import { SpillFile } from './spill-file.js';

const EMPTY = -1;
/** Key bytes gathered before one write to the file. */
const PENDING_BYTES = 64 * 1024;

/**
 * Interned keys, numbered 0, 1, 2… in the order added. Their UTF-8 bytes are written end to end
 * to a spill file (spill-file.ts: the page cache holds them, not the process); the process keeps
 * per key where its bytes end and their hash (4 bytes each), and an open-addressing table of slot
 * numbers at most three quarters full (5-11 bytes a key). A lookup compares hashes in memory and
 * reads a key's bytes back only when they match. As a `string[]` plus a `Map<string, number>` a
 * key cost about 100 bytes of heap, more than its int8 vector. Keys are never removed (a block
 * only replaces a key's vector).
 */
export class KeyTable {
  private readonly file: SpillFile;
  /** Bytes of keys in all: the first `flushed` in the file, the rest in `pending`. */
  private used = 0;
  private flushed = 0;
  /** Keys added since the last flush: written in one call when full or when a key is read back (a cold start adds a million). */
  private pending = Buffer.allocUnsafe(PENDING_BYTES);
  /** `ends[i]`: where key i's bytes end; key i starts at `ends[i - 1]` (0 for the first). */
  private ends: Int32Array<ArrayBuffer> = new Int32Array(1024);
  /** FNV-1a of each key's bytes. */
  private hashes: Int32Array<ArrayBuffer> = new Int32Array(1024);
  private count = 0;
  /** Slot numbers by hash, EMPTY where free; its length a power of two. */
  private table = new Int32Array(2048).fill(EMPTY);
  /** The key being looked up, as UTF-8. */
  private scratch = Buffer.allocUnsafe(256);
  /** A stored key read back, to compare with the scratch. */
  private readBack = Buffer.allocUnsafe(256);

  constructor(dir?: string) {
    this.file = new SpillFile(dir);
  }

  get size(): number {
    return this.count;
  }

  /** The slot of `key`, or undefined. */
  slotOf(key: string): number | undefined {
    const len = this.encode(key);
    const hash = fnv1a32Range(this.scratch, 0, len) | 0;
    const mask = this.table.length - 1;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const slot = this.table[at]!;
      if (slot === EMPTY) return undefined;
      if (this.hashes[slot] === hash && this.equals(slot, len)) return slot;
    }
  }

  /** The slot of `key`, added as the next slot if it is new. */
  intern(key: string): number {
    return this.slotOf(key) ?? this.add(key);
  }

  /**
   * Adds `key`, which the caller has just looked for with `slotOf` and not found (it is not
   * searched for again), as the next slot.
   */
  add(key: string): number {
    const len = this.encode(key);
    // Written (or gathered) first: if the disk refuses, nothing in memory has changed.
    if (this.used - this.flushed + len > this.pending.length) this.flush();
    if (len > this.pending.length) {
      this.file.write(this.scratch, len, this.used);
      this.flushed += len;
    } else this.scratch.copy(this.pending, this.used - this.flushed, 0, len);
    if ((this.count + 1) * 4 > this.table.length * 3) this.rehash(this.table.length * 2);
    if (this.count === this.ends.length) {
      const size = this.ends.length + (this.ends.length >> 1);
      this.ends = grown(this.ends, size);
      this.hashes = grown(this.hashes, size);
    }
    this.used += len;
    const slot = this.count++;
    this.ends[slot] = this.used;
    this.hashes[slot] = fnv1a32Range(this.scratch, 0, len) | 0;
    this.place(slot, this.hashes[slot]!);
    return slot;
  }

  /** The key in `slot`. */
  keyAt(slot: number): string {
    if (slot < 0 || slot >= this.count) throw new RangeError(`no key in slot ${slot} (${this.count} keys)`);
    const len = this.readKey(slot);
    return this.readBack.toString('utf8', 0, len);
  }

  /** Bytes of process memory held (tables and buffers, capacity included; the keys' bytes are in the file). */
  get bytesHeld(): number {
    return this.ends.byteLength + this.hashes.byteLength + this.table.byteLength + this.scratch.length + this.readBack.length + this.pending.length;
  }

  /** Bytes of keys stored (in the spill file, or gathered to be written there). */
  get bytesSpilled(): number {
    return this.used;
  }

  close(): void {
    this.file.close();
  }

  /** `key`'s UTF-8 bytes into scratch (grown to fit); returns their length. */
  private encode(key: string): number {
    const most = key.length * 3;
    if (most > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(most, this.scratch.length * 2));
    return this.scratch.write(key, 0, 'utf8');
  }

  /** Writes the gathered keys to the file. */
  private flush(): void {
    if (this.used === this.flushed) return;
    this.file.write(this.pending, this.used - this.flushed, this.flushed);
    this.flushed = this.used;
  }

  /** Key `slot`'s bytes into readBack (grown to fit); returns their length. */
  private readKey(slot: number): number {
    const start = slot === 0 ? 0 : this.ends[slot - 1]!;
    const len = this.ends[slot]! - start;
    if (this.ends[slot]! > this.flushed) this.flush();
    if (len > this.readBack.length) this.readBack = Buffer.allocUnsafe(Math.max(len, this.readBack.length * 2));
    this.file.read(this.readBack, len, start);
    return len;
  }

  private equals(slot: number, len: number): boolean {
    const start = slot === 0 ? 0 : this.ends[slot - 1]!;
    if (this.ends[slot]! - start !== len) return false;
    this.readKey(slot);
    return this.readBack.compare(this.scratch, 0, len, 0, len) === 0;
  }

  private place(slot: number, hash: number): void {
    const mask = this.table.length - 1;
    let at = hash & mask;
    while (this.table[at] !== EMPTY) at = (at + 1) & mask;
    this.table[at] = slot;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let slot = 0; slot < this.count; slot++) this.place(slot, this.hashes[slot]!);
  }
}

function grown(a: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}
