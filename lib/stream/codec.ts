import { Packr } from 'msgpackr';
import { randomBytes } from 'node:crypto';
import { DecodeError } from '../core/errors.js';

/** One stage's visit: who handled the message and when (ms since epoch). */
export interface Hop {
  stage: string;
  consumer: string;
  /** When the entry was read from the stage's stream. */
  readAt: number;
  /** When the stage's output was handed off. */
  doneAt: number;
  /** Size of the batch it ran in. */
  batch: number;
}

/** The input record as produced: an id and free text, plus whatever else the producer carried. */
export interface ProductRecord {
  id: string;
  title: string;
  description?: string;
  brand?: string;
  mpn?: string;
  gtin?: string;
  [field: string]: unknown;
}

/**
 * What travels on every stream: the record, each stage's output so far (keyed by stage name),
 * and per-hop timings. Stages add to it; they never rewrite what came before.
 */
export interface Envelope {
  v: 1;
  /** Idempotency key (the product id). */
  key: string;
  traceId: string;
  /** When the producer wrote it (ms since epoch). */
  producedAt: number;
  input: ProductRecord;
  outputs: Record<string, unknown>;
  hops: Hop[];
  /**
   * The entry id the record got in the pipeline's input stream, set by the first stage. Redis
   * assigns it in order, so it orders the versions of a key (a product produced twice): the sinks
   * keep the newest by it, never by a worker's clock. Absent on envelopes from before it existed.
   */
  origin?: string;
  /**
   * Set when the envelope was rebuilt from a version of the product the pipeline already had, not
   * produced: by `pipeline reprocess` from the stored one, by a console review decision from
   * the queued one, or by the match stage's re-check (a duplicate found once a shard caught up,
   * stages/domain/match-recheck.ts) from the matched one. The store does not count such a version in `copies` (not a duplicate).
   */
  rebuilt?: 'reprocess' | 'review' | 'match';
  /**
   * The entry id a version rebuilt by `pipeline reprocess` or a review decision re-entered the
   * pipeline with, set by the first stage that read it: when it was made, in the Redis server's
   * time, which a revoke's marker is compared with (lib/stream/revokes.ts), its origin being the
   * version's it was built from.
   */
  rebuiltAt?: string;
  /**
   * The title's token ids from the first model stage that tokenised it, for later model stages
   * with the same tokenizer (stages/domain/carried-tokens.ts). Not stored with the product.
   */
  tokens?: CarriedTokens;
}

/** Token ids carried in the envelope: which tokenizer made them from which text. */
export interface CarriedTokens {
  /** `tokenizerId` of the models that may use them (lib/models/token-rows.ts). */
  tokenizer: string;
  /** FNV-1a hash of the text that was tokenised; a stage whose text differs tokenises again. */
  text: number;
  ids: number[];
}

/** A decoded stream entry. */
export interface Message {
  /** Stream entry id. */
  id: string;
  /** Stream name (without prefix) it was read from. */
  stream: string;
  envelope: Envelope;
}

// Plain maps, no record extension: entries stay decodable by any msgpack reader and across versions.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

/** Stream entry field names. */
export const FIELD_KEY = 'k';
export const FIELD_ENVELOPE = 'e';

// Trace ids come from a pool of random bytes refilled 512 ids at a time: one randomBytes() call per
// record was a third of the API server's CPU when ingesting (a system call each).
const TRACE_ID_BYTES = 8;
const TRACE_POOL_IDS = 512;
let tracePool = Buffer.alloc(0);
let traceAt = 0;

export function newTraceId(): string {
  if (traceAt >= tracePool.length) {
    tracePool = randomBytes(TRACE_ID_BYTES * TRACE_POOL_IDS);
    traceAt = 0;
  }
  traceAt += TRACE_ID_BYTES;
  return tracePool.toString('hex', traceAt - TRACE_ID_BYTES, traceAt);
}

export function newEnvelope(record: ProductRecord, now = Date.now()): Envelope {
  return { v: 1, key: record.id, traceId: newTraceId(), producedAt: now, input: record, outputs: {}, hops: [] };
}

export function encodeEnvelope(env: Envelope): Buffer {
  return packr.pack(env);
}

export function decodeEnvelope(buf: Buffer): Envelope {
  let env: unknown;
  try {
    env = packr.unpack(buf);
  } catch (err) {
    throw new DecodeError(`envelope is not valid msgpack: ${(err as Error).message}`);
  }
  const e = env as Partial<Envelope> | null;
  if (!e || typeof e !== 'object') throw new DecodeError('envelope is not a map');
  if (e.v !== 1) throw new DecodeError(`unsupported envelope version ${JSON.stringify(e.v)}`);
  if (typeof e.key !== 'string' || !e.key) throw new DecodeError('envelope has no key');
  if (!e.input || typeof e.input !== 'object' || typeof e.input.title !== 'string') throw new DecodeError('envelope has no input record');
  if (!e.outputs || typeof e.outputs !== 'object') throw new DecodeError('envelope has no outputs map');
  if (!Array.isArray(e.hops)) throw new DecodeError('envelope has no hops list');
  return e as Envelope;
}

/** Raw stream entry fields (as ioredis returns them with Buffer replies) → key and envelope bytes. */
export function entryFields(fields: Buffer[]): { key: string | undefined; payload: Buffer | undefined } {
  let key: string | undefined;
  let payload: Buffer | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    if (name === FIELD_KEY) key = fields[i + 1]!.toString();
    else if (name === FIELD_ENVELOPE) payload = fields[i + 1];
  }
  return { key, payload };
}
