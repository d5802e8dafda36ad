/** Loading the product title data set (see <repo>/../shared/data/products/README.md). */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NOT_UTF8, parseJsonLine, textLines } from '../lib/core/json-line.js';

export interface ProductRow {
  id: string;
  title: string;
  category: string;
  brand?: string;
  mpn?: string;
  source_category: string;
  source: string;
}

export interface Dataset {
  train: ProductRow[];
  dev: ProductRow[];
  /** SHA-256 of each file's bytes. */
  hashes: { train: string; dev: string };
  dir: string;
}

export class DataError extends Error {
  override name = 'DataError';
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Default data directory: `shared/` lies beside the clone, locally and in CI. */
export const DEFAULT_DATA_DIR = resolve(REPO_ROOT, '..', 'shared', 'data', 'products');

/**
 * The rows of one file. Its bytes are decoded strictly, line by line (lib/core/json-line.ts, as
 * `pipeline eval` reads its files): a line that is not UTF-8 (a Latin-1 or Windows-1252 export) is a
 * DataError naming file:line, not a title with U+FFFD in it; so is a line that is not JSON.
 */
function readRows(path: string): { rows: ProductRow[]; sha256: string } {
  if (!existsSync(path)) throw new DataError(`data file not found: ${path}`);
  const bytes = readFileSync(path);
  const rows: ProductRow[] = [];
  for (const { lineNo, text } of textLines(bytes)) {
    if (text === undefined) throw new DataError(`${path}:${lineNo}: ${NOT_UTF8}`);
    if (text.trim() === '') continue;
    let row: Partial<ProductRow>;
    try {
      row = parseJsonLine(text) as Partial<ProductRow>;
    } catch (err) {
      throw new DataError(`${path}:${lineNo}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    if (typeof row?.title !== 'string' || typeof row.category !== 'string') {
      throw new DataError(`${path}:${lineNo}: row lacks title or category`);
    }
    rows.push(row as ProductRow);
  }
  return { rows, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export function loadDataset(dir: string = DEFAULT_DATA_DIR): Dataset {
  const train = readRows(join(dir, 'train.jsonl'));
  const dev = readRows(join(dir, 'dev.jsonl'));
  return { train: train.rows, dev: dev.rows, hashes: { train: train.sha256, dev: dev.sha256 }, dir };
}
