/** One product as the store writes it. */
export interface StoredProduct {
  key: string;
  /** Store-stream entry id that carried this version (for idempotency). */
  entryId: string;
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
  write(products: readonly StoredProduct[]): Promise<void>;
  close(): Promise<void>;
}
