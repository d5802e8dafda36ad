import { ConfigError } from '../../lib/core/errors.js';
import { bestLists, dotInt8, nearestCentroid, trainCentroids } from './ivf.js';
import { KeyTable } from './key-table.js';
import { rowBuffer, RowPages, type RowBuffer } from './row-pages.js';

/** When and how a block switches from brute force to an inverted-file index (ivf.ts), and where it keeps its rows. */
export interface IndexOptions {
  /** A block scans every vector until it holds this many; then it builds its IVF index once. @defaultValue 4096 */
  exactBelow: number;
  /** IVF centroids (lists), trained once by spherical k-means when the block reaches `exactBelow`. @defaultValue 128 */
  lists: number;
  /** Lists scanned per lookup: the ones whose centroids are most similar to the query. @defaultValue 12 */
  probes: number;
  /** Directory of the blocks' spill files (spill-file.ts). @defaultValue the OS temp directory (os.tmpdir()) */
  dir?: string;
}

export const INDEX_DEFAULTS: IndexOptions = { exactBelow: 4096, lists: 128, probes: 12 };

const NUMERIC = ['exactBelow', 'lists', 'probes'] as const;

/** `settings.index` of a match stage: positive integers and a directory, unknown keys refused; ConfigError names the setting. */
export function parseIndexOptions(where: string, raw: unknown): IndexOptions {
  if (raw === undefined) return { ...INDEX_DEFAULTS };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(where, 'expected an object with exactBelow, lists, probes, dir');
  const out: IndexOptions = { ...INDEX_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'dir') {
      if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}.dir`, `expected a directory path, got ${JSON.stringify(v)}`);
      out.dir = v;
      continue;
    }
    if (!(NUMERIC as readonly string[]).includes(k)) throw new ConfigError(`${where}.${k}`, `unknown setting (known: ${[...NUMERIC, 'dir'].join(', ')})`);
    if (!Number.isInteger(v) || (v as number) < 1) throw new ConfigError(`${where}.${k}`, `expected a positive integer, got ${JSON.stringify(v)}`);
    out[k as (typeof NUMERIC)[number]] = v as number;
  }
  return out;
}

/** k-means rounds and training sample (rows per centroid) of the one-time IVF build. */
const KMEANS_ITERATIONS = 6;
const KMEANS_SAMPLE_PER_LIST = 24;

/** The best stored vector for a query: its key, its score, and how far that score may be from the exact one. */
export interface Nearest {
  key: string;
  /** Cosine similarity computed on the int8 copy. */
  score: number;
  /** Bound on |score - exact float32 score| (`VectorBlock.errorBound`). */
  bound: number;
}

/** Largest int8 code: a vector's largest component maps to ±127. */
const INT8_MAX = 127;

/**
 * Nearest-neighbour search over L2-normalised vectors, one block per category (the match stage
 * keeps one per category: "blocking", as entity-matching systems do, so a lookup scans only
 * products of the same category). Vectors are held as int8 codes with one float scale each
 * (component ≈ code × scale): a quarter of float32. A score computed on the codes differs from
 * the float32 one by at most `scale / 2 × ‖query‖₁` (each component is off by at most half a
 * step); callers that decide on a threshold re-score the candidates within that bound exactly
 * (VectorStore.settle).
 *
 * Up to `exactBelow` vectors a lookup is a scan of all; from there on an IVF index (ivf.ts) picks
 * the candidates, so a lookup costs `lists + n × probes / lists` dot products instead of `n`:
 * with the defaults a tenth of a scan. Measured on real titles (the 14,608 training titles as the
 * block, the dev titles as queries): every dev title whose exact nearest neighbour scores 0.92 or
 * more found one (745 of 745), and 98 % found the exact nearest. Re-adding a key replaces its vector.
 *
 * **Rows live in a spill file** (row-pages.ts), not in the heap: a row is the codes, the scale and
 * the slot (`align4(dim) + 8` bytes), the rows of one IVF list together, and a lookup reads the
 * probed lists back from the page cache a page at a time. The process keeps, per product, where
 * its row is (4 bytes) and its key's entry in the KeyTable (whose bytes are spilled too): about 25
 * bytes a product instead of 140, so a match worker's memory does not grow with the catalogue's
 * vectors. A row is current only while `position[slot]` points at it: a key re-added under another
 * list (or a write that failed half-way) leaves a stale row behind that every scan skips.
 */
export class VectorBlock {
  private rows: RowPages;
  /** slot → its current row (RowPages position); -1 where none yet. */
  private position: Int32Array<ArrayBuffer>;
  /** Largest scale of any vector held: bounds the error of every score in the block. */
  private maxScale = 0;
  private readonly keys: KeyTable;
  /** Keys removed (`remove`) and not added again: their slots stay in `keys`, with no current row. */
  private removed = 0;
  private ivfCentroids?: Float32Array;
  private readonly o: IndexOptions;
  /** Bytes of codes in a row (dim rounded up to 4, so the scale and slot that follow are aligned); the scale's int32 index. */
  private readonly codeBytes: number;
  private readonly scaleAt: number;
  /** The row being written. */
  private readonly row: RowBuffer;

  constructor(
    readonly dim: number,
    capacity = 1024,
    options: Partial<IndexOptions> = {},
    /** Start indexed with these centroids ([k, dim], e.g. shared by the workers of a category) instead of building them at `exactBelow`. */
    centroids?: Float32Array,
  ) {
    this.o = { ...INDEX_DEFAULTS, ...options };
    this.codeBytes = Math.ceil(dim / 4) * 4;
    this.scaleAt = this.codeBytes >> 2;
    this.row = rowBuffer(this.codeBytes + 8);
    this.position = new Int32Array(Math.max(1, capacity)).fill(-1);
    this.keys = new KeyTable(this.o.dir);
    this.rows = new RowPages(this.row.buf.length, 1, this.o.dir);
    if (centroids) this.useCentroids(centroids);
  }

  get size(): number {
    return this.keys.size - this.removed;
  }

  /** Whether lookups use the IVF index (the block reached `exactBelow`, or was given centroids). */
  get indexed(): boolean {
    return this.ivfCentroids !== undefined;
  }

  /** The IVF centroids ([k, dim]) once indexed. */
  get centroids(): Float32Array | undefined {
    return this.ivfCentroids;
  }

  /**
   * Adds (or replaces) `key`'s vector. Returns the IVF list it was filed under, -1 while the
   * block is scanned in full. `list`: the list stored with the vector, used instead of comparing
   * it with every centroid; only valid for the centroids this block uses (the caller checks).
   */
  add(key: string, vec: Float32Array, list?: number): number {
    if (vec.length !== this.dim) throw new Error(`vector has ${vec.length} dimensions, index has ${this.dim}`);
    const existing = this.keys.slotOf(key);
    const slot = existing ?? this.keys.size;
    const c = this.ivfCentroids;
    const k = c ? c.length / this.dim : 1;
    const l = !c ? 0 : list !== undefined && list >= 0 && list < k ? list : nearestCentroid(c, k, this.dim, vec, 0);
    const scale = this.encodeRow(vec, slot);
    const was = existing === undefined ? -1 : this.position[existing]!;
    let at = was;
    if (was >= 0 && this.rows.listOf(was) === l)
      this.rows.put(was, this.row.buf); // same list: rewritten in place
    else at = this.rows.append(l, this.row.buf);
    // The key is interned after its row is written: a failed write leaves no key without a row.
    if (existing === undefined) this.keys.add(key);
    this.setPosition(slot, at);
    if (existing !== undefined && was < 0) this.removed--; // a removed key back
    if (scale > this.maxScale) this.maxScale = scale;
    if (c) return l;
    if (this.size >= this.o.exactBelow) this.buildIndex();
    return -1;
  }

  /**
   * Drops `key`'s vector (its product moved to another category): its row is no longer current,
   * so no scan, lookup or re-filing (`useCentroids`) sees it again; its slot is kept for the key
   * coming back. Returns whether the key had a vector here.
   */
  remove(key: string): boolean {
    const slot = this.keys.slotOf(key);
    if (slot === undefined || this.position[slot]! < 0) return false;
    this.position[slot] = -1;
    this.removed++;
    return true;
  }

  /** `add` for each entry (a cold start's sync: up to a million), their rows written in runs (RowPages.bulk). */
  addAll(entries: Iterable<readonly [key: string, vec: Float32Array, list?: number]>): void {
    const it = entries[Symbol.iterator]();
    // Building the index part-way replaces `rows`: the rest goes on in bulk on the new ones.
    for (let more = true; more;) {
      const pages = this.rows;
      more = false;
      pages.bulk(() => {
        for (let e = it.next(); !e.done; e = it.next()) {
          this.add(e.value[0], e.value[1], e.value[2]);
          if (this.rows !== pages) {
            more = true;
            return;
          }
        }
      });
    }
  }

  /** Index with `centroids` from now on: every vector is filed again under them (into new spill files). */
  useCentroids(centroids: Float32Array): void {
    if (centroids.length === 0 || centroids.length % this.dim !== 0)
      throw new Error(`centroids of ${centroids.length} floats do not fit dimension ${this.dim}`);
    const k = centroids.length / this.dim;
    const next = new RowPages(this.row.buf.length, k, this.o.dir);
    const vec = new Float32Array(this.dim);
    const moved: number[] = [];
    this.eachCurrent([...Array(this.rows.lists).keys()], -1, (slot, base, page) => {
      const scale = page.f32[(base >> 2) + this.scaleAt]!;
      for (let d = 0; d < this.dim; d++) vec[d] = page.i8[base + d]! * scale;
      page.buf.copy(this.row.buf, 0, base, base + this.row.buf.length);
      moved.push(slot, next.append(nearestCentroid(centroids, k, this.dim, vec, 0), this.row.buf));
    });
    for (let i = 0; i < moved.length; i += 2) this.position[moved[i]!] = moved[i + 1]!;
    this.rows.close();
    this.rows = next;
    this.ivfCentroids = centroids;
  }

  /** The most an int8 score against `vec` can be off from the float32 one, for any vector held. */
  errorBound(vec: Float32Array): number {
    return (this.maxScale / 2) * l1(vec);
  }

  /** The most similar stored vector other than `exclude`, by cosine (= dot product of unit vectors). */
  nearest(vec: Float32Array, exclude?: string): Nearest | undefined {
    let best = -Infinity;
    let bestAt = -1;
    let bestScale = 0;
    this.visit(vec, exclude, (slot, s, scale) => {
      if (s > best) [best, bestAt, bestScale] = [s, slot, scale];
    });
    return bestAt < 0 ? undefined : { key: this.keys.keyAt(bestAt), score: best, bound: (bestScale / 2) * l1(vec) };
  }

  /** Keys of the stored vectors (other than `exclude`) whose int8 score reaches `floor`, best first, at most `max`. */
  within(vec: Float32Array, floor: number, max: number, exclude?: string): string[] {
    const found: [number, number][] = [];
    this.visit(vec, exclude, (slot, s) => {
      if (s >= floor) found.push([s, slot]);
    });
    return found
      .sort((a, b) => b[0] - a[0])
      .slice(0, max)
      .map(([, slot]) => this.keys.keyAt(slot));
  }

  /** Bytes of process memory the block holds (its spill files not counted). */
  get bytesHeld(): number {
    return this.position.byteLength + this.keys.bytesHeld + this.row.buf.length + this.rows.page.buf.length;
  }

  /** Closes the spill files; the block is not usable after. */
  close(): void {
    this.rows.close();
    this.keys.close();
  }

  private setPosition(slot: number, at: number): void {
    if (slot >= this.position.length) {
      const grown = new Int32Array(Math.max(slot + 1, this.position.length + (this.position.length >> 1))).fill(-1);
      grown.set(this.position);
      this.position = grown;
    }
    this.position[slot] = at;
  }

  /** `vec` as int8 codes, its scale and `slot` into the row buffer; returns the scale. */
  private encodeRow(vec: Float32Array, slot: number): number {
    const { dim, row } = this;
    let max = 0;
    for (let d = 0; d < dim; d++) {
      const a = Math.abs(vec[d]!);
      if (a > max) max = a;
    }
    const scale = max / INT8_MAX;
    const inverse = scale > 0 ? 1 / scale : 0;
    for (let d = 0; d < dim; d++) row.i8[d] = Math.round(vec[d]! * inverse);
    row.f32[this.scaleAt] = scale;
    row.i32[this.scaleAt + 1] = slot;
    return scale;
  }

  /** Calls `each(slot, base, page)` for every current row of `lists` but `skip`'s slot. */
  private eachCurrent(lists: ArrayLike<number>, skip: number, each: (slot: number, base: number, page: RowBuffer) => void): void {
    const { page } = this.rows;
    const { position } = this;
    const slotAt = this.scaleAt + 1;
    this.rows.scan(lists, (at, base) => {
      const slot = page.i32[(base >> 2) + slotAt]!;
      if (slot !== skip && position[slot] === at) each(slot, base, page);
    });
  }

  private buildIndex(): void {
    const n = this.size;
    const k = Math.max(1, Math.min(this.o.lists, Math.floor(n / 4)));
    const rows = new Float32Array(n * this.dim);
    let i = 0;
    this.eachCurrent([0], -1, (_slot, base, page) => {
      const scale = page.f32[(base >> 2) + this.scaleAt]!;
      for (let d = 0; d < this.dim; d++) rows[i * this.dim + d] = page.i8[base + d]! * scale;
      i++;
    });
    this.useCentroids(trainCentroids(rows, this.dim, i, k, KMEANS_ITERATIONS, k * KMEANS_SAMPLE_PER_LIST));
  }

  /** Score every candidate (all vectors, or the IVF's probed lists) but `exclude`. */
  private visit(vec: Float32Array, exclude: string | undefined, each: (slot: number, score: number, scale: number) => void): void {
    const { dim, scaleAt } = this;
    const skip = exclude === undefined ? -1 : (this.keys.slotOf(exclude) ?? -1);
    const lists = this.ivfCentroids ? bestLists(this.ivfCentroids, dim, vec, this.o.probes) : [0];
    this.eachCurrent(lists, skip, (slot, base, page) => {
      const scale = page.f32[(base >> 2) + scaleAt]!;
      each(slot, dotInt8(page.i8, base, vec, dim) * scale, scale);
    });
  }
}

/** Sum of absolute values. */
function l1(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += Math.abs(x);
  return s;
}
