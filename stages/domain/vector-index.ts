/**
 * Nearest-neighbour search over L2-normalised vectors by brute-force dot product, in one
 * contiguous Float32Array per block (the match stage keeps one block per category: "blocking",
 * as entity-matching systems do, so a lookup scans only products of the same category).
 * Re-adding a key replaces its vector.
 */
export class VectorBlock {
  private data: Float32Array;
  private readonly keys: string[] = [];
  private readonly slot = new Map<string, number>();

  constructor(
    readonly dim: number,
    capacity = 1024,
  ) {
    this.data = new Float32Array(dim * capacity);
  }

  get size(): number {
    return this.keys.length;
  }

  add(key: string, vec: Float32Array): void {
    if (vec.length !== this.dim) throw new Error(`vector has ${vec.length} dimensions, index has ${this.dim}`);
    let i = this.slot.get(key);
    if (i === undefined) {
      i = this.keys.length;
      if ((i + 1) * this.dim > this.data.length) {
        const grown = new Float32Array(this.data.length * 2);
        grown.set(this.data);
        this.data = grown;
      }
      this.keys.push(key);
      this.slot.set(key, i);
    }
    this.data.set(vec, i * this.dim);
  }

  /** The most similar stored vector other than `exclude`, by cosine (= dot product of unit vectors). */
  nearest(vec: Float32Array, exclude?: string): { key: string; score: number } | undefined {
    const { dim, data } = this;
    let best = -Infinity;
    let bestAt = -1;
    const skip = exclude === undefined ? -1 : (this.slot.get(exclude) ?? -1);
    // Four running sums: independent additions the CPU can overlap (a dependency chain of one
    // sum each element was 3 ms per lookup in a 30,000-product category).
    const tail = dim - (dim % 4);
    for (let i = 0, off = 0; i < this.keys.length; i++, off += dim) {
      if (i === skip) continue;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let d = 0; d < tail; d += 4) {
        s0 += data[off + d]! * vec[d]!;
        s1 += data[off + d + 1]! * vec[d + 1]!;
        s2 += data[off + d + 2]! * vec[d + 2]!;
        s3 += data[off + d + 3]! * vec[d + 3]!;
      }
      for (let d = tail; d < dim; d++) s0 += data[off + d]! * vec[d]!;
      const dot = s0 + s1 + s2 + s3;
      if (dot > best) {
        best = dot;
        bestAt = i;
      }
    }
    return bestAt < 0 ? undefined : { key: this.keys[bestAt]!, score: best };
  }
}

/** Little-endian float32 bytes, as stored in Redis. */
export function vectorToBuffer(v: Float32Array): Buffer {
  const b = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, i * 4);
  return b;
}

export function bufferToVector(b: Buffer): Float32Array {
  // Copy: a Buffer from ioredis may not be 4-byte aligned.
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}
