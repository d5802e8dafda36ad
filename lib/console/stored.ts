import { eachProduct, type ProductReader, type ProductsReader } from '../api/server.js';

/** A stored product as the console shows it, from any sink. */
export interface StoredView {
  /** The stored fields beside the document (category, brand, mpn, ..., storedAt), as text. */
  fields: Record<string, string>;
  /** The stored document (input, outputs, route, producedAt, hops), when it parses. */
  doc?: Record<string, unknown>;
}

/**
 * Reads a stored product for the console: the Redis hash when the sink is `redis` (its indexed
 * fields, reviewedBy and confidence among them), else the server's product reader (the one
 * `GET /v1/products/:id` answers from: a Postgres row as `pipeline export` writes it). The console
 * had read only the Redis hash, so a product stored in Postgres showed as "unknown".
 * `many` reads several, in the order given (null: not stored): one read through the server's
 * `readProducts` (one SQL query with the Postgres sink, where a list had made one per product).
 */
export interface StoredLookup {
  (id: string): Promise<StoredView | null>;
  many(ids: readonly string[]): Promise<(StoredView | null)[]>;
}

export function storedLookup(
  sink: string,
  readHash: (id: string) => Promise<Record<string, string>>,
  readProduct: ProductReader,
  readProducts: ProductsReader = eachProduct(readProduct),
): StoredLookup {
  if (sink === 'redis') {
    const one = async (id: string) => {
      const { doc, ...fields } = await readHash(id);
      if (!Object.keys(fields).length && doc === undefined) return null;
      return { fields, doc: parse(doc) };
    };
    // Each hash read at once: the command connection sends them in one pipeline.
    return Object.assign(one, { many: (ids: readonly string[]) => Promise.all(ids.map(one)) });
  }
  return Object.assign(async (id: string) => fromRecord(await readProduct(id)), {
    many: async (ids: readonly string[]) => {
      const found = await readProducts(ids);
      return ids.map((id) => fromRecord(found.get(id) ?? null));
    },
  });
}

/** A product as the server's product reader gives it (an export line) → the console's view. */
function fromRecord(rec: Record<string, unknown> | null): StoredView | null {
  if (!rec) return null;
  const { doc, ...rest } = rec;
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== null && v !== undefined) fields[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  const d = doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : undefined;
  // Beside the sink's columns, what the Redis hash indexes and the console lists: the reviewer and the last confidence.
  const outputs = (d?.outputs ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (typeof outputs.review?.reviewedBy === 'string') fields.reviewedBy ??= outputs.review.reviewedBy;
  const route = Array.isArray(d?.route) ? (d.route as string[]) : Object.keys(outputs);
  for (const stage of route) if (typeof outputs[stage]?.confidence === 'number') fields.confidence = String(outputs[stage]!.confidence);
  if (fields.storedAt && !/^\d+$/.test(fields.storedAt)) fields.storedAt = String(Date.parse(fields.storedAt));
  return { fields, doc: d };
}

function parse(doc: string | undefined): Record<string, unknown> | undefined {
  try {
    const d = JSON.parse(doc ?? '{}') as unknown;
    return d && typeof d === 'object' ? (d as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // a document that does not parse: the fields still show
  }
}
