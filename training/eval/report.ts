/** The text report of `pipeline eval`, from the computed scores (pure formatting). */
import type { ThresholdRow } from './calibration.js';
import type { CategoryScores, ExactMatch, GivenWithout } from './metrics.js';
import type { SliceScore } from './slice-runs.js';
import type { FineScores } from './fine.js';
import type { AttributeScores } from './attributes.js';
import { lineList, normalisedList, type CategoryCheck, type UnknownCategories } from './categories.js';
import { counted } from '../../lib/core/counted.js';

export interface EvalScores {
  input: string;
  seed: string;
  records: number;
  /** Input rows left out at load: the pipeline's producer refuses them (an empty title, over maxRecordBytes), or the line is not a labelled row (not JSON, no title). */
  skipped?: number;
  /** Those rows: their line and why the producer refuses them (absent in older `--json` files). */
  leftOut?: { line: number; why: string }[];
  /** Input rows whose id an earlier row has (each scored as its own record, named on stderr). */
  duplicateIds?: number;
  /** Records sent including slice variants. */
  sent: number;
  seconds: number;
  where: Record<string, number>;
  /** Records sent to review, those stored as well included (`where.review` counts the ones only there). */
  sentToReview?: number;
  /** Category scores over the rows whose category the classifier has (`n`); the others are in `unknownCategories`. */
  categories: CategoryScores;
  /** Rows whose category the classifier does not have: scored apart, in no category-dependent score. */
  unknownCategories?: UnknownCategories;
  /** Categories taken as the classifier's after folding case, surrounding white space, and spaces or hyphens for underscores (foldCategory). */
  normalisedCategories?: CategoryCheck['normalised'];
  baseline: { accuracy: number; alpha: number; train: string };
  slices: SliceScore[];
  calibration: { ece: number; bins: number; meanConfidence: number; routing: number[]; table: ThresholdRow[] };
  fine: FineScores | null;
  /** Why `fine` is null: the classifier has no subcategory labels, or no scored row has a source_category. */
  fineNotMeasured?: 'no-subcategory-labels' | 'no-source-category';
  /** Input rows with a brand / an mpn at all: 0 means the figures of that field were not measured (the input has none). */
  labelledIdentifiers?: { brand: number; mpn: number };
  identifierSlices: { name: string; brand: ExactMatch; mpn: ExactMatch; brandUnchanged: ExactMatch; mpnUnchanged: ExactMatch }[];
  brand: ExactMatch;
  mpn: ExactMatch;
  /** Model numbers given on the no-mpn slice's titles (which lost theirs); null without that slice. */
  mpnWithout: GivenWithout | null;
  /** Brands given on the no-brand slice's titles (which lost theirs); null without that slice. */
  brandWithout: GivenWithout | null;
  /** Model numbers given on the input's titles whose labelled model number is not in them. */
  mpnElsewhere: GivenWithout;
  gtin: { n: number; found: number; invalidN: number; invalidAccepted: number };
  /** Absent in reports of older scores (`--json` files written before). */
  attributes?: AttributeScores;
  extra?: string[];
}

const f3 = (x: number): string => x.toFixed(3);
/** A share, or '-' when there were no rows to take it over (an input without model numbers). */
const shareOrDash = (g: GivenWithout): string => (g.n > 0 ? f3(g.share) : '-');

/** Exact match of a field where its value is in the title; a dash when no row had one, and for precision when nothing was given. */
const exactLine = (field: string, m: ExactMatch): string =>
  m.n > 0
    ? `${field} (value in title, n=${m.n}): exact-match recall ${f3(m.recall)}, precision ${m.predicted > 0 ? f3(m.precision) : '- (none given)'}`
    : `${field} (value in title, n=0): -`;

/** An accuracy over `n` rows, or a dash over none (a threshold no row is above or below). */
const accOrDash = (acc: number, n: number): string => (n > 0 ? f3(acc) : '-');

/** Said in place of a field's figures when no input row has that field (another retailer's file without brands or model numbers). */
const notMeasured = (field: 'brand' | 'mpn'): string => `${field}: not measured (no input row has ${field === 'mpn' ? 'an' : 'a'} ${field})`;

/** The subcategory line: its scores, or why there are none. */
function fineLine(s: EvalScores): string {
  if (s.fine !== null)
    return `subcategory (n=${s.fine.n}, ${s.fine.learnt} with a learnt subcategory, the rest scored as <category>/*): top-1 ${f3(s.fine.top1)}, top-3 ${f3(s.fine.top3)}`;
  if (s.fineNotMeasured === 'no-source-category') return 'subcategory: not measured (no scored row has a source_category)';
  if (s.fineNotMeasured === 'no-subcategory-labels') return 'subcategory: not measured (the classifier has no <category>/<subcategory> labels)';
  return 'subcategory: not scored (the classifier has no <category>/<subcategory> labels, or the input no source_category)';
}

/** Brand and mpn exact match, by slice, and given where the title lacks the value; "not measured" for a field no input row has. */
function identifierLines(s: EvalScores): string[] {
  const has = { brand: (s.labelledIdentifiers?.brand ?? 1) > 0, mpn: (s.labelledIdentifiers?.mpn ?? 1) > 0 };
  const slice = (m: ExactMatch, unchanged: ExactMatch): string => (m.n > 0 ? `${f3(m.recall)} (${f3(unchanged.recall)}, n=${m.n})` : '- (n=0)');
  return [
    has.brand ? exactLine('brand', s.brand) : notMeasured('brand'),
    has.mpn ? exactLine('mpn', s.mpn) : notMeasured('mpn'),
    ...(s.identifierSlices.length > 0 && (has.brand || has.mpn)
      ? ['brand / mpn exact-match recall by slice, rows with the value in the slice title (same rows with unchanged titles):']
      : []),
    ...(has.brand || has.mpn
      ? s.identifierSlices.map(
          (x) =>
            `  ${x.name.padEnd(14)} brand ${has.brand ? slice(x.brand, x.brandUnchanged) : 'not measured'}  mpn ${has.mpn ? slice(x.mpn, x.mpnUnchanged) : 'not measured'}`,
        )
      : []),
    ...(has.mpn
      ? [
          `mpn given on titles without their labelled one (n=${s.mpnElsewhere.n}): ${shareOrDash(s.mpnElsewhere)} (another code of the title, often the model name, or a word taken for one)`,
          ...(s.mpnWithout
            ? [`mpn given on titles that lost theirs (no-mpn slice, n=${s.mpnWithout.n}): ${shareOrDash(s.mpnWithout)} (another code or a word taken for one)`]
            : []),
        ]
      : []),
    ...(s.brandWithout && has.brand
      ? [
          `brand given on titles that lost theirs (no-brand slice, n=${s.brandWithout.n}): ${shareOrDash(s.brandWithout)} (a product line, a word or a code taken for one)`,
        ]
      : []),
  ];
}

/** The lines on categories the classifier does not have and on ones taken after folding case / white space (none when neither). */
function categoryLines(s: EvalScores): string[] {
  const u = s.unknownCategories;
  const n = s.normalisedCategories ?? [];
  return [
    ...(u && u.rows > 0
      ? [
          `categories the classifier does not have (${counted(u.rows, 'row')}, scored apart: in no category, baseline, slice, calibration or subcategory score; brand, mpn and gtin include them), each with what the pipeline predicted:`,
          ...u.categories.map(
            (x) =>
              `  ${JSON.stringify(x.category)} ${x.rows} (${lineList(x.lines ?? [])}) → ${Object.entries(x.predicted)
                .map(([p, k]) => `${p} ${k}`)
                .join(', ')}`,
          ),
        ]
      : []),
    ...(n.length > 0
      ? [`categories taken as the classifier's (case, surrounding spaces, and spaces or hyphens for underscores folded): ${normalisedList(n)}`]
      : []),
  ];
}

/** Attributes against the training labeller's spans (training/eval/attributes.ts), and the schema flags. */
function attributeLines(a: AttributeScores): string[] {
  const share = (k: number, n: number) => (n > 0 ? f3(k / n) : '-');
  return [
    "attributes (rows whose title has a span the extractors' training labeller finds for the labelled category's group; value and unit, text):",
    ...a.kinds.map((k) => `  ${k.name.padEnd(14)} n=${k.n}  value ${share(k.valueRight, k.n)}  text ${share(k.textRight, k.n)}`),
    `attribute given where the labeller finds none (n=${a.unlabelled.n}): ${share(a.unlabelled.given, a.unlabelled.n)}`,
    `attribute schema: ${counted(a.schema.checked, 'record')} checked, ${a.schema.flagged} flagged missing a required attribute (${share(a.schema.flagged, a.schema.checked)}), ${a.schema.flaggedWithSpan} of them with a labelled span in the title`,
  ];
}

/** How many rows left out the report names by line (stderr and `--json` name them all). */
const LEFT_OUT_SHOWN = 10;

/** The rows left out at load, by line and why: in the report too, not only on stderr. */
function leftOutLines(rows: readonly { line: number; why: string }[]): string[] {
  if (rows.length === 0) return [];
  return [
    `left out (in no score): ${rows
      .slice(0, LEFT_OUT_SHOWN)
      .map((r) => `line ${r.line} (${r.why})`)
      .join(', ')}${rows.length > LEFT_OUT_SHOWN ? `, ... (${rows.length - LEFT_OUT_SHOWN} more)` : ''}`,
  ];
}

/** The field a slice needs (its rows are those with a brand / an mpn): `: no input row has a brand` when none has it, else nothing. */
function sliceField(name: string, s: EvalScores): string {
  const field = name === 'no-mpn' ? 'mpn' : ['unseen-brand', 'no-brand', 'brand-last'].includes(name) ? 'brand' : undefined;
  return field && s.labelledIdentifiers?.[field] === 0 ? `: no input row has ${field === 'mpn' ? 'an' : 'a'} ${field}` : '';
}

/** Predictions of a category no scored row has (the input has 12 of the classifier's 15): named, as no per-category line shows them. */
function outsideLines(c: CategoryScores): string[] {
  const o = Object.entries(c.predictedOutside ?? {});
  if (o.length === 0) return [];
  const rows = o.reduce((s, [, k]) => s + k, 0);
  return [
    `  predicted as a category no scored row has: ${o.map(([l, k]) => `${l} ${k}`).join(', ')} (${rows} rows, all wrong; macro-F1 averages the ${Object.keys(c.perLabel).length} categories above)`,
  ];
}

/**
 * The pipeline against the baseline on the same `n` rows, with the difference in rows right: two
 * accuracies one row apart print alike (0.871 and 0.871 of 1,245), and a bare "BELOW" between them
 * read as a mistake in the table.
 */
export function versus(pipeline: number, baseline: number, n: number): string {
  const d = Math.round((pipeline - baseline) * n);
  return d > 0 ? `above +${d}` : d < 0 ? `BELOW ${d}` : 'level';
}

export function formatReport(s: EvalScores): string[] {
  const c = s.categories;
  const apart = s.unknownCategories?.rows ?? 0;
  return [
    `eval: ${counted(s.records, 'record')} from ${s.input} (seed ${s.seed})${s.skipped ? `, ${counted(s.skipped, 'row')} left out (in no score, named ${s.leftOut ? 'below' : 'on stderr'})` : ''}${s.duplicateIds ? `, ${counted(s.duplicateIds, 'row')} repeating an earlier row's id (each scored as its own record)` : ''}, ${s.sent} sent with slice variants, ${s.seconds.toFixed(1)} s, ${(s.sent / s.seconds).toFixed(1)} records/s end to end`,
    ...leftOutLines(s.leftOut ?? []),
    `outcomes: stored ${s.where.stored}, review ${s.where.review}, dlq ${s.where.dlq}, missing ${s.where.missing}${s.sentToReview === undefined ? '' : `; sent to review ${s.sentToReview} (stored ones included)`}`,
    `category: accuracy ${f3(c.accuracy)}, macro-F1 ${f3(c.macroF1)}${apart > 0 ? ` (n=${c.n}; ${counted(apart, 'row')} with a category the classifier does not have ${apart === 1 ? 'is' : 'are'} scored apart, below)` : ''}`,
    ...categoryLines(s),
    'per category (precision / recall / F1 / support):',
    ...Object.entries(c.perLabel).map(([l, p]) => `  ${l.padEnd(22)} ${f3(p.precision)} / ${f3(p.recall)} / ${f3(p.f1)} / ${p.support}`),
    ...outsideLines(c),
    'top confusions (truth → predicted: count):',
    ...c.confusions.map((x) => `  ${x.truth} → ${x.predicted}: ${x.count}`),
    `baseline: naive Bayes on word unigrams + bigrams (alpha ${s.baseline.alpha}) trained on ${s.baseline.train}: accuracy ${f3(s.baseline.accuracy)}`,
    'slices (rows, pipeline, baseline, pipeline vs baseline with the difference in rows right, pipeline on the same rows unchanged):',
    `  ${'all'.padEnd(14)} ${String(c.n).padStart(5)}  ${f3(c.accuracy)}  ${f3(s.baseline.accuracy)}  ${versus(c.accuracy, s.baseline.accuracy, c.n).padEnd(10)}  ${f3(c.accuracy)}`,
    ...s.slices.map((x) =>
      x.n === 0
        ? `  ${x.name.padEnd(14)} ${String(x.n).padStart(5)}  - (no rows${sliceField(x.name, s)})`
        : `  ${x.name.padEnd(14)} ${String(x.n).padStart(5)}  ${f3(x.accuracy)}  ${f3(x.baseline)}  ${versus(x.accuracy, x.baseline, x.n).padEnd(10)}  ${f3(x.unchanged)}`,
    ),
    `calibration: expected calibration error ${f3(s.calibration.ece)} (${s.calibration.bins} bins), mean confidence ${f3(s.calibration.meanConfidence)}; routing table threshold(s): ${s.calibration.routing.length ? s.calibration.routing.join(', ') : 'none'}`,
    'review threshold (confidence < t goes to review): t, share to review, accuracy at or above t, accuracy below t',
    ...s.calibration.table.map(
      (t) =>
        `  ${t.threshold.toFixed(2)}${s.calibration.routing.includes(t.threshold) ? '*' : ' '} ${f3(t.reviewShare)}  ${accOrDash(t.accuracyAbove, t.above)} (${t.above})  ${accOrDash(t.accuracyBelow, t.below)} (${t.below})`,
    ),
    fineLine(s),
    ...(s.extra ?? []),
    ...identifierLines(s),
    `gtin (augmented valid, n=${s.gtin.n}): found and validated ${s.gtin.n > 0 ? f3(s.gtin.found / s.gtin.n) : '- (no title given one)'}`,
    `gtin (augmented invalid, n=${s.gtin.invalidN}): invalid codes accepted ${s.gtin.invalidAccepted}`,
    ...(s.attributes ? attributeLines(s.attributes) : []),
    `throughput: ${(s.sent / s.seconds).toFixed(1)} records/s`,
    `accuracy: ${f3(c.accuracy)}`,
  ];
}
