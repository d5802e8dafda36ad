/**
 * An inverted-file index (IVF, as in FAISS's IndexIVFFlat) over the unit vectors of one
 * VectorBlock: `lists` centroids from spherical k-means over the block's vectors when it is
 * built, every vector filed under its most similar centroid, and a lookup that scans only the
 * vectors filed under the `probes` centroids most similar to the query. A near-duplicate (cosine
 * 0.92 and up, the match threshold) sits next to its query, so it is almost always in the query's
 * own list or the next few; products far from the query may be missed, so the best score
 * reported for a non-duplicate is a lower bound. The block (vector-index.ts) keeps each list's
 * rows together and scores candidates on their int8 codes; only the choice of candidates is the
 * IVF's approximation.
 */

/** Dot product of `dim` floats of `a` at `ao` and `b` at `bo`, four running sums (overlapping additions). */
export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const tail = dim - (dim % 4);
  for (let d = 0; d < tail; d += 4) {
    s0 += a[ao + d]! * b[bo + d]!;
    s1 += a[ao + d + 1]! * b[bo + d + 1]!;
    s2 += a[ao + d + 2]! * b[bo + d + 2]!;
    s3 += a[ao + d + 3]! * b[bo + d + 3]!;
  }
  for (let d = tail; d < dim; d++) s0 += a[ao + d]! * b[bo + d]!;
  return s0 + s1 + s2 + s3;
}

/**
 * Dot product of `dim` int8 codes of `codes` at `at` with the float query `q` (four running sums).
 * The same loop as `dot`, kept apart on purpose: one function over both array types would make
 * the element loads of the hottest loop of the match stage polymorphic.
 */
export function dotInt8(codes: Int8Array, at: number, q: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const tail = dim - (dim % 4);
  for (let d = 0; d < tail; d += 4) {
    s0 += codes[at + d]! * q[d]!;
    s1 += codes[at + d + 1]! * q[d + 1]!;
    s2 += codes[at + d + 2]! * q[d + 2]!;
    s3 += codes[at + d + 3]! * q[d + 3]!;
  }
  for (let d = tail; d < dim; d++) s0 += codes[at + d]! * q[d]!;
  return s0 + s1 + s2 + s3;
}

/** Scale a row to unit length in place (a zero row stays zero). */
function normalise(v: Float32Array, off: number, dim: number): void {
  const n = Math.sqrt(dot(v, off, v, off, dim));
  if (n > 0) for (let d = 0; d < dim; d++) v[off + d]! /= n;
}

/**
 * Spherical k-means: `k` unit centroids of the first `n` rows of `data`, from `iterations`
 * rounds of assigning each sampled row to its most similar centroid and re-normalising the
 * means. Deterministic: the initial centroids are evenly spaced rows, the sample every
 * `ceil(n / sample)`-th row. An empty cluster keeps its previous centroid.
 */
export function trainCentroids(data: Float32Array, dim: number, n: number, k: number, iterations: number, sample: number): Float32Array {
  const centroids = new Float32Array(k * dim);
  for (let c = 0; c < k; c++) centroids.set(data.subarray(Math.floor((c * n) / k) * dim, Math.floor((c * n) / k) * dim + dim), c * dim);
  const step = Math.max(1, Math.ceil(n / sample));
  const sums = new Float32Array(k * dim);
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i += step) {
      const c = nearestCentroid(centroids, k, dim, data, i * dim);
      counts[c]!++;
      for (let d = 0; d < dim; d++) sums[c * dim + d]! += data[i * dim + d]!;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      centroids.set(sums.subarray(c * dim, c * dim + dim), c * dim);
      normalise(centroids, c * dim, dim);
    }
  }
  return centroids;
}

/** Index of the centroid most similar to the row of `v` at `off`. */
export function nearestCentroid(centroids: Float32Array, k: number, dim: number, v: Float32Array, off: number): number {
  let best = -Infinity;
  let at = 0;
  for (let c = 0; c < k; c++) {
    const s = dot(centroids, c * dim, v, off, dim);
    if (s > best) [best, at] = [s, c];
  }
  return at;
}

/**
 * The `probes` centroids (lists) most similar to the row of `q` at 0, best first; fewer when
 * there are fewer centroids.
 */
export function bestLists(centroids: Float32Array, dim: number, q: Float32Array, probes: number): Int32Array {
  const k = centroids.length / dim;
  const p = Math.min(probes, k);
  // The p best centroids by insertion into a small sorted array (p is a handful).
  const bestScore = new Float64Array(p).fill(-Infinity);
  const bestList = new Int32Array(p).fill(-1);
  for (let c = 0; c < k; c++) {
    const s = dot(centroids, c * dim, q, 0, dim);
    if (s <= bestScore[p - 1]!) continue;
    let i = p - 1;
    for (; i > 0 && bestScore[i - 1]! < s; i--) {
      bestScore[i] = bestScore[i - 1]!;
      bestList[i] = bestList[i - 1]!;
    }
    bestScore[i] = s;
    bestList[i] = c;
  }
  return bestList;
}
