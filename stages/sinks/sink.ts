import { ConfigError } from '../../lib/core/errors.js';
import { isModuleSpec } from '../../lib/worker/modules.js';

/** What a write did beyond storing: deliveries dropped because a newer version is stored. */
export interface WriteResult {
  stale: number;
  /**
   * Entry ids of products not written because their delivery is no longer pending in the group
   * that read it (`StoredProduct.pending`): acked by another consumer, or lost with a failed-over
   * master (their record comes again under another entry id). @defaultValue none
   */
  notPending?: readonly string[];
}

/** One product as the store writes it. */
export interface StoredProduct {
  key: string;
  /** Store-stream entry id that carried this version (for idempotency). */
  entryId: string;
  /**
   * The stream (config name) `entryId` is in: entry ids are per stream, so a delivery is known by
   * both (`stream`, `entryId`), the same on every re-delivery of the entry (a retry, a reclaim, a
   * batch whose ack was lost). A record's entries are all on its shard (by key), so within a key
   * the pair needs no shard. Set by the store stage. @defaultValue none (`entryId` alone)
   */
  stream?: string;
  /**
   * Orders the versions of a key: the record's input-stream entry id (`Envelope.origin`). A sink
   * keeps the newest and drops an older delivery (counted). Undefined: unordered, always written.
   */
  version?: string;
  /**
   * A version rebuilt from one the pipeline had (`pipeline reprocess`, a review decision:
   * `Envelope.rebuilt`): not counted in `copies` once the product is stored, unless it is the
   * stored version again of another lineage (lineageOf; the same lineage under another store entry
   * is not counted). @defaultValue false
   */
  rebuilt?: boolean;
  /**
   * The stream (config name) `entryId` is in and the consumer group that read it: a sink that can
   * check it in the same step as its write (the Redis sink) writes the product only while that
   * delivery is pending. @defaultValue none (always written)
   */
  pending?: { stream: string; group: string };
  /** The envelope's trace id, kept on every hop: with `version`, the record's lineage (lineageOf). */
  traceId: string;
  category: string;
  /** Indexed scalar fields (brand, mpn, gtin, ...). */
  fields: Record<string, string | number | boolean>;
  /** The whole record: input, every stage output, route, timings. */
  doc: Record<string, unknown>;
  storedAt: number;
}

/**
 * Where the store stage writes. `write` upserts the batch by key and resolves only when it is
 * durable in the sink; the stage acks the batch after that. Throwing fails the batch (retried).
 * Delivery is at least once: `write` may get products it has already written (the same
 * `stream` and `entryId`, after a crash before the ack, a retry or a reclaim), the same record under
 * another entry (an upstream stage ran again on its entry after a failover: the same `lineageOf`),
 * and older versions after newer ones; a sink upserts by key, newest `version` wins, and counts a
 * product's copies by distinct lineage, a delivery without one by distinct (`stream`, `entryId`)
 * (docs/extending.md).
 */
export interface Sink {
  readonly name: string;
  /**
   * Batches of different shards may be written at the same time (the store stage then says
   * `concurrentShards`: a worker reading several shards writes each shard's batch as it comes, one
   * per shard at most, and a master that does not answer holds its own shard's batches only). Say
   * it when two batches of different shards share nothing in the sink a write could wait on or
   * break (their products' keys differ: a key is on one shard): an upsert per key does; a file
   * appended to does not. Read after `init`. @defaultValue false (one batch at a time over the shards)
   */
  readonly concurrentShards?: boolean;
  /** Check the sink is usable (e.g. its schema is migrated) before the first read. @defaultValue none */
  init?(): Promise<void>;
  /** Resolves with how many products were older than the stored version and dropped. */
  write(products: readonly StoredProduct[]): Promise<WriteResult | void>;
  close(): Promise<void>;
}

/**
 * How many of a product's last applied entries the built-in sinks keep (Postgres `applied_entries`,
 * the Redis hash's `applied`) by default: a re-delivery of one of them is not counted in `copies`
 * again. As many of its last counted lineages (lineageOf; Postgres `applied_lineages`, the hash's
 * `lineages`): a delivery of one of them under another entry is not counted either. The store
 * stage's `settings.appliedEntriesKept` changes it (appliedEntriesKept).
 */
export const APPLIED_ENTRIES_KEPT = 16;
/** The most `settings.appliedEntriesKept` may be: each kept entry is about 40 bytes per product. */
export const APPLIED_ENTRIES_MAX = 1000;

/** The store stage's `settings.appliedEntriesKept`: an integer 1..APPLIED_ENTRIES_MAX, default APPLIED_ENTRIES_KEPT. `where` names the settings in errors. */
export function appliedEntriesKept(settings: Readonly<Record<string, unknown>>, where: string): number {
  const v = settings.appliedEntriesKept;
  if (v === undefined) return APPLIED_ENTRIES_KEPT;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > APPLIED_ENTRIES_MAX)
    throw new ConfigError(`${where}.appliedEntriesKept`, `expected an integer from 1 to ${APPLIED_ENTRIES_MAX}, got ${JSON.stringify(v)}`);
  return v;
}

/** The built-in sinks by `settings.sink` name (stages/store.ts SINKS has a factory for each: its type checks it). */
export const BUILTIN_SINKS = ['redis', 'postgres'] as const;
export type BuiltinSink = (typeof BUILTIN_SINKS)[number];

/** The store stage's `settings.sink` (default redis): a built-in name or `module:<path>`; `where` names the settings in errors. */
export function sinkName(settings: Readonly<Record<string, unknown>>, where: string): string {
  const name = String(settings.sink ?? 'redis');
  if (!(BUILTIN_SINKS as readonly string[]).includes(name) && !isModuleSpec(name))
    throw new ConfigError(`${where}.sink`, `unknown sink ${JSON.stringify(name)} (known: ${BUILTIN_SINKS.join(', ')}, or module:<path> for your own)`);
  return name;
}

/**
 * A record's lineage: "<trace id>/<version>", the production a delivery comes from. Both are set
 * once per production (the trace id by the producer or the API, the version by the first stage,
 * from the input-stream entry id) and kept on every hop and every re-delivery, so an upstream stage
 * that runs again on its entry (a hand-off or a store entry a failover lost) sends the record to
 * the store again under a new entry id but the same lineage: the built-in sinks count it in
 * `copies` once. A new production (the producer sending the record again, `pipeline produce` of
 * the file again) has a new input entry and trace id: a new lineage. Undefined without a version
 * (an envelope from before `origin`): such a delivery is known by its entry alone.
 */
export const lineageOf = (p: Pick<StoredProduct, 'traceId' | 'version'>): string | undefined =>
  p.version === undefined || p.version === '' ? undefined : `${p.traceId}/${p.version}`;

/** A delivery's identity: "<stream>/<entry id>" (entry ids are per stream), the bare id when the stream is unknown. */
export const entryIdentity = (p: Pick<StoredProduct, 'entryId' | 'stream' | 'pending'>): string => {
  const stream = p.stream ?? p.pending?.stream;
  return stream === undefined ? p.entryId : `${stream}/${p.entryId}`;
};

/** What a user's sink module returned must be a `Sink`: `name` a string, `write` and `close` (and `init` if given) functions. */
export function checkSink(value: unknown, where: string): Sink {
  const s = value as Partial<Record<keyof Sink, unknown>> | null;
  if (typeof s !== 'object' || s === null) throw new ConfigError(where, `the sink factory returned ${s === null ? 'null' : typeof s}, not a Sink`);
  const missing: string[] = [];
  if (typeof s.name !== 'string') missing.push('name (string)');
  if (typeof s.write !== 'function') missing.push('write(products) (function)');
  if (typeof s.close !== 'function') missing.push('close() (function)');
  if (s.init !== undefined && typeof s.init !== 'function') missing.push('init (function, if given)');
  if (s.concurrentShards !== undefined && typeof s.concurrentShards !== 'boolean') missing.push('concurrentShards (boolean, if given)');
  if (missing.length) throw new ConfigError(where, `not a Sink (stages/sinks/sink.ts): missing or wrong ${missing.join(', ')}`);
  return value as Sink;
}
