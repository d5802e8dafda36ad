import { readFileSync } from 'node:fs';
import { insertGtin } from '../augment-gtin.js';
import { Prng } from '../prng.js';

export interface LabelledRow {
  id: string;
  title: string;
  category: string;
  brand?: string;
  mpn?: string;
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

/** Labelled JSONL (id, title, category, brand?, mpn?) with seeded GTIN augmentation, as in training. */
export function loadLabelled(path: string, opts: DatasetOptions): LabelledRow[] {
  const rng = new Prng(opts.seed);
  const rows: LabelledRow[] = [];
  for (const [i, line] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as Partial<LabelledRow>;
    if (typeof r.id !== 'string' || typeof r.title !== 'string' || typeof r.category !== 'string') {
      throw new Error(`${path}:${i + 1}: expected id, title and category strings`);
    }
    const row: LabelledRow = { id: r.id, title: r.title, category: r.category, brand: r.brand, mpn: r.mpn };
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
