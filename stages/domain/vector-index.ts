import { ConfigError } from '../../lib/core/errors.js';
import { dotInt8, InvertedLists, trainCentroids } from './ivf.js';
import { KeyTable } from './key-table.js';

/** When and how a block switches from brute force to an inverted-file index (ivf.ts). */
export interface IndexOptions {
  /** A block scans every vector until it holds this many; then it builds its IVF index once. @defaultValue 4096 */
  exactBelow: number;
  /** IVF centroids (lists), trained once by spherical k-means when the block reaches `exactBelow`. @defaultValue 128 */
  lists: number;
  /** Lists scanned per lookup: the ones whose centroids are most similar to the query. @defaultValue 12 */
  probes: number;
}

export const INDEX_DEFAULTS: IndexOptions = { exactBelow: 4096, lists: 128, probes: 12 };

/** `settings.index` of a match stage: positive integers, unknown keys refused; ConfigError names the setting. */
export function parseIndexOptions(where: string, raw: unknown): IndexOptions {
  if (raw === undefined) return { ...INDEX_DEFAULTS };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(where, 'expected an object with exactBelow, lists, probes');
  const out = { ...INDEX_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in INDEX_DEFAULTS)) throw new ConfigError(`${where}.${k}`, `unknown setting (known: ${Object.keys(INDEX_DEFAULTS).join(', ')})`);
    if (!Number.isInteger(v) || (v as number) < 1) throw new ConfigError(`${where}.${k}`, `expected a positive integer, got ${JSON.stringify(v)}`);
    out[k as keyof IndexOptions] = v as number;
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

/** Rows per chunk of codes (192 KB at 96 dimensions). */
const CHUNK_SHIFT = 11;
const CHUNK_ROWS = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_ROWS - 1;

/** Largest int8 code: a vector's largest component maps to ±127. */
const INT8_MAX = 127;

/**
 * Nearest-neighbour search over L2-normalised vectors, one block per category (the match stage
 * keeps one per category: "blocking", as entity-matching systems do, so a lookup scans only
 * products of the same category). Vectors are held as int8 codes with one float scale each
 * (component ≈ code × scale): 100 bytes a vector instead of 384, so a million products take a
 * quarter of the memory. A score computed on the codes differs from the float32 one by at most
 * `scale / 2 × ‖query‖₁` (each component is off by at most half a step); callers that decide on
 * a threshold re-score the candidates within that bound exactly (VectorStore.settle).
 * Up to `exactBelow` vectors a lookup is a scan of all; from there on an IVF index (ivf.ts) picks
 * the candidates, so a lookup costs `lists + n × probes / lists` dot products instead of `n`:
 * with the defaults a tenth of a scan. Measured on real titles (the 14,608 training titles as the
 * block, the dev titles as queries): every dev title whose exact nearest neighbour scores 0.92 or
 * more found one (745 of 745), and 98 % found the exact nearest. Re-adding a key replaces its vector.
 */
export class VectorBlock {
  /**
   * Row i's codes are in `chunks[i >> CHUNK_SHIFT]` at `(i & CHUNK_MASK) * dim`. Chunks of fixed
   * size, not one array grown by copying: a copy holds the old and the new array at once, and at
   * a million products that peak (160 MB for 96 MB of codes) was the process's peak RSS.
   */
  private chunks: Int8Array[];
  /** Rows the chunks hold. */
  private rows: number;
  private scales: Float32Array;
  /** Largest scale of any vector held: bounds the error of every score in the block. */
  private maxScale = 0;
  private readonly keys = new KeyTable();
  private ivf?: InvertedLists;
  private readonly o: IndexOptions;

  constructor(
    readonly dim: number,
    capacity = 1024,
    options: Partial<IndexOptions> = {},
    /** Start indexed with these centroids ([k, dim], e.g. shared by the workers of a category) instead of building them at `exactBelow`. */
    centroids?: Float32Array,
  ) {
    this.rows = Math.min(CHUNK_ROWS, Math.max(1, capacity));
    this.chunks = [new Int8Array(dim * this.rows)];
    this.scales = new Float32Array(this.rows);
    this.o = { ...INDEX_DEFAULTS, ...options };
    if (centroids) this.useCentroids(centroids);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Whether lookups use the IVF index (the block reached `exactBelow`, or was given centroids). */
  get indexed(): boolean {
    return this.ivf !== undefined;
  }

  /** The IVF centroids ([k, dim]) once indexed. */
  get centroids(): Float32Array | undefined {
    return this.ivf?.centroidRows;
  }

  /**
   * Adds (or replaces) `key`'s vector. Returns the IVF list it was filed under, -1 while the
   * block is scanned in full. `list`: the list stored with the vector, used instead of comparing
   * it with every centroid; only valid for the centroids this block uses (the caller checks).
   */
  add(key: string, vec: Float32Array, list?: number): number {
    if (vec.length !== this.dim) throw new Error(`vector has ${vec.length} dimensions, index has ${this.dim}`);
    const i = this.keys.intern(key);
    if (i === this.rows) this.grow();
    this.quantise(i, vec);
    if (this.ivf) return this.ivf.file(i, vec, list);
    if (this.keys.size >= this.o.exactBelow) this.buildIndex();
    return -1;
  }

  /** Room for more rows: the first chunk grows by half up to CHUNK_ROWS, then a chunk is added. */
  private grow(): void {
    if (this.rows < CHUNK_ROWS) {
      const first = new Int8Array(Math.min(CHUNK_ROWS, this.rows + Math.max(1024, this.rows >> 1)) * this.dim);
      first.set(this.chunks[0]!);
      this.chunks[0] = first;
      this.rows = first.length / this.dim;
    } else {
      this.chunks.push(new Int8Array(CHUNK_ROWS * this.dim));
      this.rows += CHUNK_ROWS;
    }
    // Scales are a 24th of the codes: one array, grown by half (doubling left up to half unused).
    if (this.scales.length < this.rows) {
      const scales = new Float32Array(Math.max(this.rows, this.scales.length + (this.scales.length >> 1)));
      scales.set(this.scales);
      this.scales = scales;
    }
  }

  private quantise(i: number, vec: Float32Array): void {
    const { dim } = this;
    const codes = this.chunks[i >> CHUNK_SHIFT]!;
    let max = 0;
    for (let d = 0; d < dim; d++) {
      const a = Math.abs(vec[d]!);
      if (a > max) max = a;
    }
    const scale = max / INT8_MAX;
    this.scales[i] = scale;
    if (scale > this.maxScale) this.maxScale = scale;
    const inverse = scale > 0 ? 1 / scale : 0;
    const at = (i & CHUNK_MASK) * dim;
    for (let d = 0; d < dim; d++) codes[at + d] = Math.round(vec[d]! * inverse);
  }

  /** Row `i` as floats (code × scale) into `out` at `off`. */
  private dequantise(i: number, out: Float32Array, off: number): void {
    const scale = this.scales[i]!;
    const codes = this.chunks[i >> CHUNK_SHIFT]!;
    const at = (i & CHUNK_MASK) * this.dim;
    for (let d = 0; d < this.dim; d++) out[off + d] = codes[at + d]! * scale;
  }

  /** Index with `centroids` from now on: every vector is filed again under them. */
  useCentroids(centroids: Float32Array): void {
    if (centroids.length === 0 || centroids.length % this.dim !== 0)
      throw new Error(`centroids of ${centroids.length} floats do not fit dimension ${this.dim}`);
    this.ivf = new InvertedLists(centroids, this.dim);
    const row = new Float32Array(this.dim);
    for (let i = 0; i < this.keys.size; i++) {
      this.dequantise(i, row, 0);
      this.ivf.file(i, row);
    }
  }

  private buildIndex(): void {
    const n = this.keys.size;
    const k = Math.max(1, Math.min(this.o.lists, Math.floor(n / 4)));
    const rows = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i++) this.dequantise(i, rows, i * this.dim);
    this.useCentroids(trainCentroids(rows, this.dim, n, k, KMEANS_ITERATIONS, k * KMEANS_SAMPLE_PER_LIST));
  }

  /** The most an int8 score against `vec` can be off from the float32 one, for any vector held. */
  errorBound(vec: Float32Array): number {
    return (this.maxScale / 2) * l1(vec);
  }

  /** The most similar stored vector other than `exclude`, by cosine (= dot product of unit vectors). */
  nearest(vec: Float32Array, exclude?: string): Nearest | undefined {
    let best = -Infinity;
    let bestAt = -1;
    this.visit(vec, exclude, (i, s) => {
      if (s > best) [best, bestAt] = [s, i];
    });
    return bestAt < 0 ? undefined : { key: this.keys.keyAt(bestAt), score: best, bound: (this.scales[bestAt]! / 2) * l1(vec) };
  }

  /** Keys of the stored vectors (other than `exclude`) whose int8 score reaches `floor`, best first, at most `max`. */
  within(vec: Float32Array, floor: number, max: number, exclude?: string): string[] {
    const found: [number, number][] = [];
    this.visit(vec, exclude, (i, s) => {
      if (s >= floor) found.push([s, i]);
    });
    return found
      .sort((a, b) => b[0] - a[0])
      .slice(0, max)
      .map(([, i]) => this.keys.keyAt(i));
  }

  /** Score every candidate (all vectors, or the IVF's probed lists) but `exclude`. */
  private visit(vec: Float32Array, exclude: string | undefined, each: (slot: number, score: number) => void): void {
    const { dim, chunks, scales } = this;
    const skip = exclude === undefined ? -1 : (this.keys.slotOf(exclude) ?? -1);
    const one = (i: number) => {
      if (i !== skip) each(i, dotInt8(chunks[i >> CHUNK_SHIFT]!, (i & CHUNK_MASK) * dim, vec, dim) * scales[i]!);
    };
    if (this.ivf) this.ivf.scan(vec, this.o.probes, one);
    else for (let i = 0; i < this.keys.size; i++) one(i);
  }
}

/** Sum of absolute values. */
function l1(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += Math.abs(x);
  return s;
}
