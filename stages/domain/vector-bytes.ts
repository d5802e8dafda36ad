/**
 * How the match stage's vectors look in Redis: a product's vector is little-endian float32 bytes,
 * optionally followed by where it is filed (written once the category's centroids are shared, so
 * a worker that loads the vector files it without comparing it with every centroid): the id of
 * the centroids it was filed against (uint32, a hash of their bytes: a list from other centroids
 * is never used) and its IVF list (uint16). A category's shared centroids are a uint16 dimension
 * followed by the [k, dim] float32 rows.
 */

import { fnv1a32 } from '../../lib/redis/shard.js';

/** Float32Array bytes are the host's order; Redis holds little-endian, which every platform Node runs on in practice is. */
const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/** Little-endian float32 bytes, as stored in Redis. */
export function vectorToBuffer(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)); // one copy, not a call per float
  const b = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, i * 4);
  return b;
}

export function bufferToVector(b: Buffer): Float32Array {
  // Copied: a Buffer from ioredis may not be 4-byte aligned, so it cannot be viewed as floats in place.
  const out = new Float32Array(b.length / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b.subarray(0, out.length * 4));
  else for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

/** Where a stored vector was filed: its list under the centroids with this id. */
export interface Filed {
  centroids: number;
  list: number;
}

const FILED_BYTES = 6;

/** A stored vector and, when it carries it (6 bytes past the floats), where it was filed. */
export function storedVector(b: Buffer): { vec: Float32Array; filed?: Filed } {
  if (b.length % 4 !== 2 || b.length < FILED_BYTES) return { vec: bufferToVector(b) };
  const at = b.length - FILED_BYTES;
  return { vec: bufferToVector(b.subarray(0, at)), filed: { centroids: b.readUInt32LE(at), list: b.readUInt16LE(at + 4) } };
}

/** A vector's bytes followed by where it was filed. */
export function vectorFiled(v: Float32Array, filed: Filed): Buffer {
  const b = Buffer.allocUnsafe(v.length * 4 + FILED_BYTES);
  vectorToBuffer(v).copy(b);
  b.writeUInt32LE(filed.centroids, v.length * 4);
  b.writeUInt16LE(filed.list, v.length * 4 + 4);
  return b;
}

/** A centroid set's id: FNV-1a over its stored bytes. */
export function centroidsId(stored: Buffer): number {
  return fnv1a32(stored);
}

export function centroidsToBuffer(centroids: Float32Array, dim: number): Buffer {
  const b = Buffer.allocUnsafe(2 + centroids.length * 4);
  b.writeUInt16LE(dim, 0);
  vectorToBuffer(centroids).copy(b, 2);
  return b;
}

/** The stored centroids and their dimension, or null for bytes that are not a [k, dim] float32 matrix. */
export function bufferToCentroids(b: Buffer): { dim: number; centroids: Float32Array } | null {
  if (b.length < 2) return null;
  const dim = b.readUInt16LE(0);
  const floats = (b.length - 2) / 4;
  if (dim === 0 || !Number.isInteger(floats) || floats === 0 || floats % dim !== 0) return null;
  return { dim, centroids: bufferToVector(b.subarray(2)) };
}
