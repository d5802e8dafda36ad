import { createReadStream } from 'node:fs';
import { PipelineError } from '../../lib/core/errors.js';
import { NOT_UTF8, decodeLine, notJsonlText, parseJsonLine } from '../../lib/core/json-line.js';
import { readLines } from '../../lib/producer/jsonl.js';
import { insertGtin } from '../augment-gtin.js';
import { Prng } from '../prng.js';

export interface LabelledRow {
  id: string;
  /** Line of the file the row is on (1-based), to name it in notes (set by loadLabelled). */
  line?: number;
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
  /** Stop after this many rows (the rest of the file is not read). */
  limit?: number;
  /** Share of rows that get a valid GTIN inserted. @defaultValue 0.15 */
  gtinShare: number;
  /** Share of rows that get an invalid GTIN inserted. @defaultValue 0.05 */
  badGtinShare: number;
  seed: number;
  /**
   * Why the pipeline's producer would refuse the record a row is sent as (`{ id, title }`: an empty
   * title, over `limits.maxRecordBytes`), or undefined. Such rows are left out (listed in `skipped`),
   * so neither the pipeline nor a baseline is scored on them. @defaultValue none refused
   */
  refuse?: (record: { id: string; title: string }) => string | undefined;
  /**
   * A line that is not a labelled row (not JSON, not an object, no title and category strings, a
   * brand / mpn / source_category of another type) is left out and listed in `skipped` rather than
   * an error: `pipeline eval --input` scores the rest of a file another system wrote. A file that
   * is not UTF-8 or is gzip-compressed is an error all the same. @defaultValue false (an error naming file:line)
   */
  leaveOutBadRows?: boolean;
}

export interface Labelled {
  rows: LabelledRow[];
  /** Rows left out: their line, why, and by whom (`producer`: `refuse`; `reader`: not a labelled row, with leaveOutBadRows). */
  skipped: { line: number; why: string; by: 'producer' | 'reader' }[];
  /** Rows whose id an earlier row has: each is still its own record, as `<id>#<line>`. */
  duplicates: { line: number; id: string; firstLine: number }[];
}

export class DatasetError extends PipelineError {}

/** Said when no row could be read and the file starts with "[": a .json export, one array (on one line or pretty-printed over many). */
const JSON_ARRAY = `: the file looks like one JSON array, not JSONL (one object per line): convert it first, e.g. jq -c '.[]' FILE > FILE.jsonl`;

/** What a row that is not a labelled one has, for its error: its fields and their types (another file's "Title", "label"). */
function fieldsOf(r: unknown): string {
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    return `the line is ${r === null ? 'null' : Array.isArray(r) ? 'an array' : `a ${typeof r}`}, not an object`;
  const keys = Object.entries(r as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)} (${v === null ? 'null' : typeof v})`);
  return keys.length === 0 ? 'the row has no fields' : `the row has ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', ...' : ''}`;
}

/**
 * An optional text field (brand, mpn, source_category): a string, or a number written without
 * quotes (an MPN 152132, a brand 3M's 3), as its digits; absent, null or blank: none. Another type
 * throws (it had been dropped without a word: a numeric MPN was never scored).
 */
function text(r: Record<string, unknown>, field: string): { value?: string } | { why: string } {
  const v = r[field];
  if (typeof v === 'number' && Number.isFinite(v)) return { value: String(v) };
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return {};
  if (typeof v === 'string') return { value: v };
  return { why: `${field} must be a string or a number where given, not ${Array.isArray(v) ? 'an array' : typeof v}` };
}

interface RowFields {
  id?: string;
  title: string;
  category: string;
  brand?: string;
  mpn?: string;
  sourceCategory?: string;
}

/** A line's labelled fields, or why it is not a labelled row. */
function parseRow(line: string): RowFields | { why: string } {
  let r: unknown;
  try {
    r = parseJsonLine(line);
  } catch (err) {
    return { why: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  const o = (typeof r === 'object' && r !== null && !Array.isArray(r) ? r : {}) as Record<string, unknown>;
  // A null or blank id is none (a table export writes null for an empty cell): the row is numbered
  // by its line as one without an id is; such rows had been left out, out of every score.
  const rawId = o.id === null || (typeof o.id === 'string' && o.id.trim() === '') ? undefined : o.id;
  if (
    o !== r ||
    typeof o.title !== 'string' ||
    typeof o.category !== 'string' ||
    (rawId !== undefined && typeof rawId !== 'string' && typeof rawId !== 'number')
  )
    return { why: `expected title and category strings (and a string or number id where given); ${fieldsOf(r)}` };
  const out: RowFields = { title: o.title, category: o.category, ...(rawId === undefined ? {} : { id: String(rawId) }) };
  for (const [field, key] of [
    ['brand', 'brand'],
    ['mpn', 'mpn'],
    ['source_category', 'sourceCategory'],
  ] as const) {
    const t = text(o, field);
    if ('why' in t) return t;
    if (t.value !== undefined) out[key] = t.value;
  }
  return out;
}

/**
 * Labelled JSONL (title, category; id, brand, mpn, source_category optional: absent, null or blank is none) with seeded GTIN
 * augmentation, as in training. Read line by line up to `limit` rows (a file of any size, the rest
 * unread); a file without one usable row is a DatasetError.
 */
export async function loadLabelled(path: string, opts: DatasetOptions): Promise<Labelled> {
  const rng = new Prng(opts.seed);
  const rows: LabelledRow[] = [];
  const skipped: Labelled['skipped'] = [];
  const seen = new Map<string, number>();
  const duplicates: Labelled['duplicates'] = [];
  const input = createReadStream(path);
  let firstText = ''; // the first line that is not blank, for the no-rows error
  try {
    // Bytes, decoded line by line: a file that is not UTF-8 (Latin-1, Windows-1252) is named, not read with U+FFFD in its titles.
    for await (const { lineNo, bytes } of readLines(input, Infinity)) {
      const i = lineNo - 1;
      const notText = lineNo === 1 ? notJsonlText(bytes!) : undefined;
      if (notText !== undefined) throw new DatasetError(`${path}: ${notText}`);
      const line = decodeLine(bytes!);
      if (line === undefined) throw new DatasetError(`${path}:${lineNo}: ${NOT_UTF8}`);
      if (!line.trim()) continue;
      if (firstText === '') firstText = line.trim();
      const r = parseRow(line);
      if ('why' in r) {
        if (!opts.leaveOutBadRows) throw new DatasetError(`${path}:${i + 1}: ${r.why}`);
        skipped.push({ line: i + 1, why: r.why, by: 'reader' });
        continue;
      }
      // Rows without an id are numbered by line; a repeated id gets the line number appended, so
      // every row is its own record.
      let id = r.id ?? `line-${i + 1}`;
      const first = seen.get(id);
      if (first !== undefined) {
        duplicates.push({ line: i + 1, id, firstLine: first });
        id = `${id}#${i + 1}`;
        while (seen.has(id)) id += '#'; // a later row's own id may be spelt like this one's new name
      }
      const refused = opts.refuse?.({ id, title: r.title });
      if (refused !== undefined) {
        skipped.push({ line: i + 1, why: refused, by: 'producer' });
        continue;
      }
      seen.set(id, i + 1);
      const row: LabelledRow = {
        id,
        line: i + 1,
        title: r.title,
        sourceTitle: r.title,
        category: r.category,
        brand: r.brand,
        mpn: r.mpn,
        ...(r.sourceCategory ? { sourceCategory: r.sourceCategory } : {}),
      };
      const u = rng.next();
      if (u < opts.gtinShare) {
        const a = insertGtin(row.title, rng, true);
        Object.assign(row, { title: a.title, gtin: a.code });
      } else if (u < opts.gtinShare + opts.badGtinShare) {
        const a = insertGtin(row.title, rng, false);
        Object.assign(row, { title: a.title, badGtin: a.code });
      }
      // The title as sent, with its GTIN: a row near the size limit may be over it now.
      const over = row.title === r.title ? undefined : opts.refuse?.({ id, title: row.title });
      if (over !== undefined) {
        skipped.push({ line: i + 1, why: over, by: 'producer' });
        continue;
      }
      rows.push(row);
      if (opts.limit && rows.length >= opts.limit) break;
    }
  } finally {
    input.destroy();
  }
  if (rows.length === 0) {
    throw new DatasetError(
      skipped.length > 0
        ? `${path}: no row that can be scored (${skipped.length} left out, the first at line ${skipped[0]!.line}: ${skipped[0]!.why})${firstText.startsWith('[') ? JSON_ARRAY : ''}`
        : `${path}: no labelled rows (an empty file?)`,
    );
  }
  return { rows, skipped, duplicates };
}
