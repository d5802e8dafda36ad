/** Loading the product title data set (see <repo>/../shared/data/products/README.md). */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsonLine } from '../lib/core/json-line.js';

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
  /** SHA-256 of each file as read. */
  hashes: { train: string; dev: string };
  dir: string;
}

export class DataError extends Error {
  override name = 'DataError';
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Default data directory: `shared/` lies beside the clone, locally and in CI. */
export const DEFAULT_DATA_DIR = resolve(REPO_ROOT, '..', 'shared', 'data', 'products');

function readRows(path: string): { rows: ProductRow[]; sha256: string } {
  if (!existsSync(path)) throw new DataError(`data file not found: ${path}`);
  const text = readFileSync(path, 'utf8');
  const rows: ProductRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const row = parseJsonLine(line) as Partial<ProductRow>;
    if (typeof row.title !== 'string' || typeof row.category !== 'string') {
      throw new DataError(`${path}:${i + 1}: row lacks title or category`);
    }
    rows.push(row as ProductRow);
  });
  return { rows, sha256: createHash('sha256').update(text).digest('hex') };
}

export function loadDataset(dir: string = DEFAULT_DATA_DIR): Dataset {
  const train = readRows(join(dir, 'train.jsonl'));
  const dev = readRows(join(dir, 'dev.jsonl'));
  return { train: train.rows, dev: dev.rows, hashes: { train: train.sha256, dev: dev.sha256 }, dir };
}
