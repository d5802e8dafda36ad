import { readFileSync } from 'node:fs';
import { insertGtin } from '../augment-gtin.js';
import { Prng } from '../prng.js';

export interface LabelledRow {
  id: string;
  title: string;
  /** The title as read, before GTIN augmentation (what the robustness slices start from). */
  sourceTitle: string;
  category: string;
  brand?: string;
  mpn?: string;
  /** Fine source category, when the file has one (scored as the subcategory). */
  sourceCategory?: string;
  /** A valid GTIN inserted into the title by augmentation. */
  gtin?: string;
  /** An invalid-check-digit code inserted into the title (must never be accepted). */
  badGtin?: string;
}

export interface DatasetOptions {
  limit?: number;
  /** Share of rows that get a valid GTIN inserted. @defaultValue 0.15 */
  gtinShare: number;
  /** Share of rows that get an invalid GTIN inserted. @defaultValue 0.05 */
  badGtinShare: number;
  seed: number;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Labelled JSONL (title, category; id, brand, mpn, source_category optional) with seeded GTIN
 * augmentation, as in training.
 */
export function loadLabelled(path: string, opts: DatasetOptions): LabelledRow[] {
  const rng = new Prng(opts.seed);
  const rows: LabelledRow[] = [];
  const seen = new Set<string>();
  for (const [i, line] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (!line.trim()) continue;
    let r: Partial<LabelledRow>;
    try {
      r = JSON.parse(line) as Partial<LabelledRow>;
    } catch (err) {
      throw new DatasetError(`${path}:${i + 1}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const rawId: unknown = r.id;
    if (typeof r.title !== 'string' || typeof r.category !== 'string' || (rawId !== undefined && typeof rawId !== 'string' && typeof rawId !== 'number')) {
      throw new DatasetError(`${path}:${i + 1}: expected title and category strings (and a string or number id where given)`);
    }
    // Rows without an id are numbered by line; a repeated id gets the line number appended, so
    // every row is its own record.
    let id = rawId === undefined ? `line-${i + 1}` : String(rawId);
    if (seen.has(id)) id = `${id}#${i + 1}`;
    seen.add(id);
    const sourceCategory = str((r as { source_category?: unknown }).source_category);
    const row: LabelledRow = {
      id,
      title: r.title,
      sourceTitle: r.title,
      category: r.category,
      brand: str(r.brand),
      mpn: str(r.mpn),
      ...(sourceCategory ? { sourceCategory } : {}),
    };
    const u = rng.next();
    if (u < opts.gtinShare) {
      const a = insertGtin(row.title, rng, true);
      Object.assign(row, { title: a.title, gtin: a.code });
    } else if (u < opts.gtinShare + opts.badGtinShare) {
      const a = insertGtin(row.title, rng, false);
      Object.assign(row, { title: a.title, badGtin: a.code });
    }
    rows.push(row);
    if (opts.limit && rows.length >= opts.limit) break;
  }
  return rows;
}
