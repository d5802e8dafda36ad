/** What a write did beyond storing: deliveries dropped because a newer version is stored. */
export interface WriteResult {
  stale: number;
}

/** One product as the store writes it. */
export interface StoredProduct {
  key: string;
  /** Store-stream entry id that carried this version (for idempotency). */
  entryId: string;
  /**
   * Orders the versions of a key: the record's input-stream entry id (`Envelope.origin`). A sink
   * keeps the newest and drops an older delivery (counted). Undefined: unordered, always written.
   */
  version?: string;
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
 */
export interface Sink {
  readonly name: string;
  /** Check the sink is usable (e.g. its schema is migrated) before the first read. @defaultValue none */
  init?(): Promise<void>;
  /** Resolves with how many products were older than the stored version and dropped. */
  write(products: readonly StoredProduct[]): Promise<WriteResult | void>;
  close(): Promise<void>;
}
