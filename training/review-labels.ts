/**
 * Reviewers' labels (`pipeline labels export`, lib/console/labels.ts) joining the training rows.
 *
 * Models learn only from ../shared/data/products/ and from the console's review decisions, so a
 * build names every labels file it used (BUILD.json `labels`: path, SHA-256, counts).
 *
 *  - Labels join the TRAIN part only. A label whose id is in dev is skipped and counted: dev stays
 *    the untouched evaluation set.
 *  - A label replaces the train row with the same id, in place: the reviewer's title and category
 *    win, and brand / mpn when the label has them; a brand / mpn the reviewer cleared (null, or a
 *    blank string, in the label) is dropped from the row; the row keeps its retailer `source_category`
 *    (a label's holds the model's prediction, not a retailer category). A label of a product not
 *    in train is appended, with `source_category` `*` (it trains its category's residual fine label).
 *  - Only decisions that give a category are used (`confirm`, `correct`); another decision is
 *    skipped and counted. One product labelled twice (in one file or across files): the later
 *    `reviewedAt` wins, on a tie the later line.
 *  - A line that does not parse or lacks a field is a LabelsError naming file:line and why; it is
 *    counted and skipped, the rest of the file is used. So is a line that is not UTF-8 (a Latin-1 or
 *    Windows-1252 file: its bytes are decoded strictly, lib/core/json-line.ts, never read with U+FFFD
 *    in a title). A missing file throws.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { NOT_UTF8, parseJsonLine, textLines } from '../lib/core/json-line.js';
import type { Label } from '../lib/console/review.js';
import type { ProductRow } from './data.js';
import { RESIDUAL } from './fine-labels.js';
import { CATEGORIES } from './labels.js';

/** Review decisions that give a category (lib/console/review.ts `Label['decision']`). */
export const CATEGORY_DECISIONS: readonly Label['decision'][] = ['confirm', 'correct'];

/** One bad line of a labels file. */
export class LabelsError extends Error {
  override name = 'LabelsError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly why: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${why}` : `${file}: ${why}`);
  }
}

/** What one labels file gave (BUILD.json `labels[]`). */
export interface LabelsFileRecord {
  file: string;
  sha256: string;
  /** Non-blank lines. */
  rows: number;
  /** Labels that joined train: replaced + added. */
  used: number;
  replaced: number;
  added: number;
  /** Ids in dev: never trained on. */
  skipped_dev: number;
  /** Decisions that give no category. */
  skipped_decision: number;
  /** A later decision on the same product (this file or a later one) won. */
  superseded: number;
  bad: number;
}

export interface MergedLabels {
  train: ProductRow[];
  files: LabelsFileRecord[];
  errors: LabelsError[];
  /** Ids skipped because they are in dev, per file. */
  devIds: Map<string, string[]>;
}

/** The row fields a label may set or clear. */
const CLEARABLE = ['brand', 'mpn'] as const;
type Clearable = (typeof CLEARABLE)[number];

interface Parsed {
  row: ProductRow;
  /** Fields the reviewer cleared: dropped from the train row the label replaces. */
  cleared: Clearable[];
  reviewedAt: number;
  file: number;
}

const CATEGORY_SET = new Set<string>(CATEGORIES);

/** A label's field: its value; null when cleared (null or blank); undefined when absent. */
function optionalString(o: Record<string, unknown>, field: string): string | null | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw new Error(`${field} is ${typeof v}, not a string`);
  return v.trim() === '' ? null : v;
}

/** One line as a label row; null for a decision that gives no category. Throws Error(why). */
function parseLine(line: string): Omit<Parsed, 'file'> | null {
  let o: unknown;
  try {
    o = parseJsonLine(line);
  } catch (err) {
    throw new Error(`not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not a JSON object');
  const l = o as Record<string, unknown>;
  for (const f of ['id', 'title', 'category', 'decision'] as const) {
    if (typeof l[f] !== 'string' || (l[f] as string).trim() === '')
      throw new Error(`${f} missing or not a non-empty string (not a \`pipeline labels export\` row?)`);
  }
  if (!(CATEGORY_DECISIONS as readonly string[]).includes(l.decision as string)) return null;
  const category = l.category as string;
  if (!CATEGORY_SET.has(category)) throw new Error(`category ${JSON.stringify(category)} is not one the models learn (${CATEGORIES.join(', ')})`);
  const brand = optionalString(l, 'brand');
  const mpn = optionalString(l, 'mpn');
  const cleared = CLEARABLE.filter((f) => ({ brand, mpn })[f] === null);
  const at = l.reviewedAt === undefined ? 0 : Date.parse(String(l.reviewedAt));
  if (Number.isNaN(at)) throw new Error(`reviewedAt ${JSON.stringify(l.reviewedAt)} is not a date`);
  const row: ProductRow = {
    id: l.id as string,
    title: l.title as string,
    category,
    ...(typeof brand === 'string' ? { brand } : {}),
    ...(typeof mpn === 'string' ? { mpn } : {}),
    source_category: RESIDUAL,
    source: typeof l.source === 'string' && l.source !== '' ? l.source : 'console-review',
  };
  return { row, cleared, reviewedAt: at };
}

/**
 * `train` with the labels of `paths` merged in (see the file comment). With no paths, `train`
 * itself comes back untouched (same array: a build without labels is byte for byte as before).
 */
export function mergeLabels(train: readonly ProductRow[], dev: readonly Pick<ProductRow, 'id'>[], paths: readonly string[]): MergedLabels {
  if (paths.length === 0) return { train: train as ProductRow[], files: [], errors: [], devIds: new Map() };
  const devIds = new Set(dev.map((r) => r.id));
  const files: LabelsFileRecord[] = [];
  const errors: LabelsError[] = [];
  const skippedDev = new Map<string, string[]>();
  const latest = new Map<string, Parsed>();
  paths.forEach((path, fileIndex) => {
    if (!existsSync(path)) throw new LabelsError(path, 0, 'labels file not found');
    const bytes = readFileSync(path);
    const rec: LabelsFileRecord = {
      file: path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      rows: 0,
      used: 0,
      replaced: 0,
      added: 0,
      skipped_dev: 0,
      skipped_decision: 0,
      superseded: 0,
      bad: 0,
    };
    files.push(rec);
    for (const { lineNo, text } of textLines(bytes)) {
      if (text?.trim() === '') continue;
      rec.rows++;
      let parsed: ReturnType<typeof parseLine>;
      try {
        if (text === undefined) throw new Error(NOT_UTF8);
        parsed = parseLine(text);
      } catch (err) {
        rec.bad++;
        errors.push(new LabelsError(path, lineNo, err instanceof Error ? err.message : String(err)));
        continue;
      }
      if (parsed === null) {
        rec.skipped_decision++;
        continue;
      }
      if (devIds.has(parsed.row.id)) {
        rec.skipped_dev++;
        skippedDev.set(path, [...(skippedDev.get(path) ?? []), parsed.row.id]);
        continue;
      }
      const prior = latest.get(parsed.row.id);
      if (prior !== undefined && prior.reviewedAt > parsed.reviewedAt) {
        rec.superseded++;
        continue;
      }
      if (prior !== undefined) files[prior.file]!.superseded++;
      latest.delete(parsed.row.id); // re-insert: new products are appended in the winning label's order
      latest.set(parsed.row.id, { ...parsed, file: fileIndex });
    }
  });

  const merged = train.map((r) => {
    const l = latest.get(r.id);
    if (l === undefined) return r;
    files[l.file]!.replaced++;
    latest.delete(r.id);
    const { brand, mpn } = l.row;
    const kept: ProductRow = { ...r };
    for (const f of l.cleared) delete kept[f];
    return {
      ...kept,
      title: l.row.title,
      category: l.row.category,
      ...(brand !== undefined ? { brand } : {}),
      ...(mpn !== undefined ? { mpn } : {}),
      source: l.row.source,
    };
  });
  // New products after the train rows, in the order their winning label was read.
  for (const l of latest.values()) {
    files[l.file]!.added++;
    merged.push(l.row);
  }
  for (const f of files) f.used = f.replaced + f.added;
  return { train: merged, files, errors, devIds: skippedDev };
}

/** Lines for stderr, per file: what it gave, each bad line (the first `max`), the dev ids skipped. */
export function labelsReport(m: MergedLabels, max = 20): string[] {
  const out: string[] = [];
  for (const f of m.files) {
    out.push(
      `labels ${f.file}: ${f.used} of ${f.rows} used (${f.replaced} replaced a train row, ${f.added} added); skipped: ${f.skipped_dev} in dev, ${f.skipped_decision} without a category, ${f.superseded} superseded, ${f.bad} bad`,
    );
    const errs = m.errors.filter((e) => e.file === f.file);
    out.push(...errs.slice(0, max).map((e) => `${e.name}: ${e.message}`));
    if (errs.length > max) out.push(`${f.file}: ${errs.length - max} more bad lines`);
    const dev = m.devIds.get(f.file) ?? [];
    if (dev.length > 0) {
      const some = dev.slice(0, 5).join(', ') + (dev.length > 5 ? ', ...' : '');
      out.push(`${f.file}: ${dev.length} labels skipped: their ids are in dev, which stays the evaluation set (${some})`);
    }
  }
  return out;
}
