/** What `pipeline export` writes and `pipeline reprocess` reads, from either sink (stages/sinks/export.ts). */

/** Which stored products to export. */
export interface ExportFilter {
  /** Only this category. @defaultValue every category */
  category?: string;
  /** Only products stored at or after this time (ms since epoch). @defaultValue no limit */
  since?: number;
}

/** One exported line: the same shape whichever sink it comes from. */
export interface ExportedProduct {
  key: string;
  category: string;
  brand: string | null;
  mpn: string | null;
  gtin: string | null;
  gtinValid: boolean | null;
  duplicateOf: string | null;
  /** Distinct store-stream entries that wrote the key (1 = stored once). */
  copies: number;
  entryId: string;
  traceId: string;
  producedAt: string | null;
  storedAt: string;
  /** The stored version: the record's input-stream entry id (`origin`, "ms-seq") by which newest wins; null when stored without one. */
  version: string | null;
  /** The whole record: input, every stage output, route, models, timings. */
  doc: Record<string, unknown>;
  /** Set when the stored hash could not be read (a doc that does not parse, no storedAt): why; `doc` is then {}. Such lines are named, not exported or reprocessed. */
  unreadable?: string;
}
