import { fnv1a32Range } from '../../lib/redis/shard.js';

const EMPTY = -1;

/**
 * Interned keys, numbered 0, 1, 2… in the order added: their UTF-8 bytes end to end in one
 * buffer, an offset each, and an open-addressing hash table of slot numbers. A vector block holds
 * one key per product; as a `string[]` plus a `Map<string, number>` that was about 100 bytes a
 * product (the string, the map entry, the array slot), more than its int8 vector. Here a key
 * costs its bytes, 4 bytes of offset and 8-16 of table. Keys are never removed (a block only
 * replaces a key's vector).
 */
export class KeyTable {
  private bytes = Buffer.allocUnsafe(4096);
  private used = 0;
  /** `ends[i]`: where key i's bytes end; key i starts at `ends[i - 1]` (0 for the first). */
  private ends: Int32Array<ArrayBuffer> = new Int32Array(1024);
  private count = 0;
  /** Slot numbers by hash, EMPTY where free; its length a power of two, at most half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private scratch = Buffer.allocUnsafe(256);

  get size(): number {
    return this.count;
  }

  /** The slot of `key`, or undefined. */
  slotOf(key: string): number | undefined {
    const len = this.encode(key);
    const mask = this.table.length - 1;
    for (let at = fnv1a32Range(this.scratch, 0, len) & mask; ; at = (at + 1) & mask) {
      const slot = this.table[at]!;
      if (slot === EMPTY) return undefined;
      if (this.equals(slot, len)) return slot;
    }
  }

  /** The slot of `key`, added as the next slot if it is new. */
  intern(key: string): number {
    const found = this.slotOf(key); // leaves the key's bytes in scratch
    if (found !== undefined) return found;
    const len = Buffer.byteLength(key);
    if ((this.count + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    if (this.count === this.ends.length) this.ends = grown(this.ends, this.ends.length + (this.ends.length >> 1));
    if (this.used + len > this.bytes.length) {
      const bytes = Buffer.allocUnsafe(Math.max(this.used + len, this.bytes.length + (this.bytes.length >> 1)));
      this.bytes.copy(bytes, 0, 0, this.used);
      this.bytes = bytes;
    }
    this.scratch.copy(this.bytes, this.used, 0, len);
    this.used += len;
    const slot = this.count++;
    this.ends[slot] = this.used;
    this.place(slot, fnv1a32Range(this.bytes, this.used - len, this.used));
    return slot;
  }

  /** The key in `slot`. */
  keyAt(slot: number): string {
    if (slot < 0 || slot >= this.count) throw new RangeError(`no key in slot ${slot} (${this.count} keys)`);
    return this.bytes.toString('utf8', slot === 0 ? 0 : this.ends[slot - 1]!, this.ends[slot]!);
  }

  /** Bytes held (buffers and tables, capacity included). */
  get bytesHeld(): number {
    return this.bytes.length + this.ends.byteLength + this.table.byteLength + this.scratch.length;
  }

  /** `key`'s UTF-8 bytes into scratch (grown to fit); returns their length. */
  private encode(key: string): number {
    const most = key.length * 3;
    if (most > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(most, this.scratch.length * 2));
    return this.scratch.write(key, 0, 'utf8');
  }

  private equals(slot: number, len: number): boolean {
    const start = slot === 0 ? 0 : this.ends[slot - 1]!;
    if (this.ends[slot]! - start !== len) return false;
    for (let i = 0; i < len; i++) if (this.bytes[start + i] !== this.scratch[i]) return false;
    return true;
  }

  private place(slot: number, hash: number): void {
    const mask = this.table.length - 1;
    let at = hash & mask;
    while (this.table[at] !== EMPTY) at = (at + 1) & mask;
    this.table[at] = slot;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let slot = 0; slot < this.count; slot++) this.place(slot, fnv1a32Range(this.bytes, slot === 0 ? 0 : this.ends[slot - 1]!, this.ends[slot]!));
  }
}

function grown(a: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}
