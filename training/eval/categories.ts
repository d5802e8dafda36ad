/**
 * An eval input's categories against the classifier's. A row whose category the classifier does
 * not have ("toys", another retailer's "Printers & Ink") can never be predicted right: counted in
 * the category scores it lowers them for what is a difference of taxonomies, not a mistake. Such
 * rows are scored apart (named with their counts and what the pipeline put them in) and left out of
 * every category-dependent score; brand, MPN and GTIN scores keep them. A category that differs
 * from one of the classifier's only in case, surrounding white space, or spaces / hyphens written
 * for its underscores ("Audio ", "AUDIO", "Cameras Photo", "cameras-photo") is taken as that one,
 * and said so. No other spelling is mapped: "Printers & Ink" is not guessed to be printers_ink.
 */
import { counted } from '../../lib/core/counted.js';

/** The coarse categories of a classifier's labels (`<category>` of `<category>/<subcategory>`), sorted. */
export function classifierCategories(labels: readonly string[]): string[] {
  return [...new Set(labels.map((l) => l.split('/')[0]!).filter((c) => c !== ''))].sort();
}

export interface CategoryCheck {
  /** Categories taken as the classifier's after case / white space folding: as written, as taken, rows. */
  normalised: { from: string; to: string; rows: number }[];
  /** Categories the classifier does not have (as written, trimmed), with their rows and those rows' lines (where known); most rows first. */
  unknown: { category: string; rows: number; lines: number[] }[];
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/**
 * A category as compared with the classifier's: lower case, trimmed, each run of white space,
 * hyphens and underscores one underscore. Another retailer's file spells cameras_photo
 * "Cameras Photo" as often as "CAMERAS_PHOTO"; scored apart, its rows had left the accuracy's
 * denominator. Any other character ("&", "/") still makes a category of its own.
 */
export const foldCategory = (c: string): string =>
  c
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, '_');

/**
 * Sets each row's `category` to the classifier's spelling when it differs only as `foldCategory`
 * folds (and trims the rest), and names the categories the classifier does not have.
 */
export function checkCategories(rows: { category: string; line?: number }[], known: ReadonlySet<string>): CategoryCheck {
  const byFolded = new Map([...known].map((k) => [foldCategory(k), k]));
  const normalised = new Map<string, { to: string; rows: number }>();
  const unknown = new Map<string, number>();
  const lines = new Map<string, number[]>();
  for (const r of rows) {
    if (known.has(r.category)) continue;
    const to = byFolded.get(foldCategory(r.category));
    if (to === undefined) {
      r.category = r.category.trim();
      bump(unknown, r.category);
      if (r.line !== undefined) lines.set(r.category, [...(lines.get(r.category) ?? []), r.line]);
      continue;
    }
    const n = normalised.get(r.category) ?? { to, rows: 0 };
    n.rows++;
    normalised.set(r.category, n);
    r.category = to;
  }
  return {
    normalised: [...normalised].map(([from, n]) => ({ from, ...n })).sort((a, b) => b.rows - a.rows || a.from.localeCompare(b.from)),
    unknown: [...unknown]
      .map(([category, n]) => ({ category, rows: n, lines: lines.get(category) ?? [] }))
      .sort((a, b) => b.rows - a.rows || a.category.localeCompare(b.category)),
  };
}

/** Rows of categories the classifier does not have, as `--json` has them: per category, its rows' lines and what the pipeline predicted. */
export interface UnknownCategories {
  rows: number;
  categories: { category: string; rows: number; lines: number[]; predicted: Record<string, number> }[];
}

export function unknownCategories(
  check: CategoryCheck,
  rows: readonly { id: string; category: string }[],
  predicted: (id: string) => string | undefined,
): UnknownCategories {
  const out = check.unknown.map((u) => ({ category: u.category, rows: u.rows, lines: u.lines, predicted: new Map<string, number>() }));
  const of = new Map(out.map((o) => [o.category, o.predicted]));
  for (const r of rows) {
    const m = of.get(r.category);
    if (m) bump(m, predicted(r.id) ?? '(none)');
  }
  return {
    rows: out.reduce((s, o) => s + o.rows, 0),
    categories: out.map((o) => ({
      ...o,
      predicted: Object.fromEntries([...o.predicted].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    })),
  };
}

/** `"AUDIO" → audio 3, "Audio " → audio 1`: categories as written (JSON-quoted), as taken, rows. */
export const normalisedList = (xs: CategoryCheck['normalised']): string => xs.map((x) => `${JSON.stringify(x.from)} → ${x.to} ${x.rows}`).join(', ');

/** How many lines show in a note naming rows (the rest counted); `--json` has them all. */
const LINES_SHOWN = 10;

/** `lines 3, 9, 12, ... (40 more)`: the lines of the rows a note names. */
export const lineList = (lines: readonly number[]): string =>
  lines.length === 0
    ? 'lines not known'
    : `line${lines.length > 1 ? 's' : ''} ${lines.slice(0, LINES_SHOWN).join(', ')}${lines.length > LINES_SHOWN ? `, ... (${lines.length - LINES_SHOWN} more)` : ''}`;

/** `"toys" 3, "Printers & Ink" 2`: categories as written (JSON-quoted: white space and case show) with counts. */
export const countList = (xs: readonly { name: string; rows: number }[]): string => xs.map((x) => `${JSON.stringify(x.name)} ${x.rows}`).join(', ');

/** What eval says on stderr before it starts, about the input's categories (`file`: as named). */
export function categoryNotes(file: string, check: CategoryCheck, known: readonly string[]): string[] {
  if (known.length === 0)
    return [`note: the classifier's categories are unknown (its config.json has no id2label): ${file}'s categories are scored as written`];
  const rows = check.unknown.reduce((s, u) => s + u.rows, 0);
  return [
    ...(rows > 0
      ? [
          `warning: ${file}: ${counted(rows, 'row')} ${rows === 1 ? 'has' : 'have'} a category the classifier does not have (${countList(check.unknown.map((u) => ({ name: u.category, rows: u.rows })))}): scored apart, in no category score (the classifier's: ${known.join(', ')})`,
          ...check.unknown.map((u) => `  ${JSON.stringify(u.category)}: ${lineList(u.lines)}`),
        ]
      : []),
    ...(check.normalised.length > 0
      ? [
          `note: ${file}: categories taken as the classifier's (case, surrounding spaces, and spaces or hyphens for underscores folded): ${normalisedList(check.normalised)}`,
        ]
      : []),
  ];
}
