import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger, stderrSink } from '../../lib/observe/logger.js';
import { checkWritable, DEFAULT_EVAL_INPUT, DEFAULT_EVAL_TRAIN, loadConfig, productsDataDir, typedIn, type GlobalOptions } from './common.js';
import { validateRecord } from '../../lib/producer/record.js';
import { BadRecordError } from '../../lib/core/errors.js';
import { expectedCalibrationError, routingThresholds, thresholdTable } from '../../training/eval/calibration.js';
import { DatasetError, loadLabelled } from '../../training/eval/dataset.js';
import { fold, scoreCategories, scoreExact, scoreGivenWithout } from '../../training/eval/metrics.js';
import { NAIVE_BAYES_DEFAULTS, NaiveBayes } from '../../training/eval/naive-bayes.js';
import { formatReport, type EvalScores } from '../../training/eval/report.js';
import { modelLabels, scoreFine } from '../../training/eval/fine.js';
import { scoreAttributes } from '../../training/eval/attributes.js';
import type { Outcome } from '../../training/eval/collect.js';
import { categoryNotes, checkCategories, classifierCategories, unknownCategories } from '../../training/eval/categories.js';
import { DEFAULT_MODEL_PATH } from '../../lib/models/loader.js';
import { parseSliceNames, planSlices, scoreSlice } from '../../training/eval/slice-runs.js';
import { withPipeline } from './job.js';
import { runInChunks } from './eval-run.js';
import { counted } from '../../lib/core/counted.js';

export interface EvalOptions extends GlobalOptions {
  /** Relative to the current directory (under `npm run eval`, the one it was typed in). @defaultValue dev.jsonl of the data set (productsDataDir: env PRODUCTS_DATA, else ../shared/data/products beside the package) */
  input?: string;
  /** Relative to the current directory. @defaultValue train.jsonl of the data set */
  train?: string;
  slices: string;
  thresholds: string;
  limit?: string;
  gtinShare: string;
  badGtinShare: string;
  seed: string;
  timeout: string;
  /** Records sent at a time: each chunk is scored and its products deleted before the next (bounds Redis memory). @defaultValue DEFAULT_EVAL_CHUNK (common.ts) */
  chunk: string;
  json?: string;
  dump?: string;
}

/** Bins of the expected calibration error. */
const ECE_BINS = 15;

export class EvalOptionError extends Error {
  override name = 'EvalOptionError';
}

/** Why the producer refuses the record a row is sent as (validateRecord's reason), or undefined. */
function refusal(record: { id: string; title: string }, maxRecordBytes: number): string | undefined {
  try {
    validateRecord({ ...record }, maxRecordBytes);
    return undefined;
  } catch (err) {
    if (err instanceof BadRecordError) return err.message;
    throw err;
  }
}

function parseThresholds(value: string): number[] {
  const out = value
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  for (const t of out) if (!(t >= 0 && t <= 1)) throw new EvalOptionError(`--thresholds: each must be a number in [0, 1], got ${value}`);
  return out;
}

/**
 * A given file, relative to `here` (where the command was typed); not given, the data set's `file`, which must be
 * there: a fresh clone has no ../shared beside it, and a bare ENOENT named neither the data set
 * nor the options.
 */
function dataFile(given: string | undefined, file: string, option: string, here: string): string {
  if (given !== undefined) {
    // A bare ENOENT / EISDIR had named neither the option nor, for a directory, the path.
    const path = resolve(here, given);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) throw new DatasetError(`${option} ${given}: no such file (${path})`);
    if (stat.isDirectory()) throw new DatasetError(`${option} ${given}: a directory, not a JSONL file (${path})`);
    return path;
  }
  const dir = productsDataDir();
  const path = join(dir, file);
  if (!existsSync(path))
    throw new DatasetError(
      `no ${file} in ${dir}: the labelled product data set (train.jsonl, dev.jsonl) is not part of the repository; eval reads it from env PRODUCTS_DATA${process.env.PRODUCTS_DATA ? ' (set here)' : ' (not set)'}, else ../shared/data/products beside the package: point PRODUCTS_DATA at the folder that has it, or give --input FILE and --train FILE`,
    );
  return path;
}

/** Rows repeating an earlier row's id: each is its own record (scored once each), said so with the first few. */
function duplicatesNote(file: string, d: { line: number; id: string; firstLine: number }[]): string {
  const first = d.slice(0, 3).map((x) => `line ${x.line} repeats ${JSON.stringify(x.id)} of line ${x.firstLine}`);
  return `warning: ${file}: ${d.length === 1 ? '1 row repeats' : `${d.length} rows repeat`} the id of an earlier row (${first.join(', ')}${d.length > 3 ? ', ...' : ''}): each is scored as its own record, sent as <id>#<line>`;
}

/** Why a row was left out at load, as stderr and the report say it. */
const leftOutWhy = (s: { why: string; by: 'producer' | 'reader' }): string =>
  s.by === 'producer' ? `the pipeline's producer refuses it: ${s.why}` : `not a labelled row: ${s.why}`;

/** The classifier's labels (its model folder's id2label), or [] without a classify stage or one. */
function classifierLabels(config: ReturnType<typeof loadConfig>): string[] {
  const cls = config.stages.find((st) => st.kind === 'classify');
  const modelsDir = typeof cls?.settings.modelsDir === 'string' ? cls.settings.modelsDir : (process.env.MODELS_DIR ?? DEFAULT_MODEL_PATH);
  return cls?.model ? modelLabels(modelsDir, cls.model) : [];
}

/**
 * `pipeline eval`: runs a labelled set (default: the dev set) through the real pipeline (Redis,
 * every stage as a worker process) with titles only, together with the robustness slices' variant
 * titles, then scores what came out: category accuracy / macro-F1 / confusions, a naive Bayes
 * baseline trained on --train and each slice for pipeline and baseline, calibration (ECE) and the
 * review-threshold table, brand and MPN exact match where the value is in the title, GTINs found
 * and validated on augmented titles, invalid GTINs accepted, attributes against the training
 * labeller's spans and the schema flags (training/eval/attributes.ts), and throughput.
 */
export async function evalCommand(opts: EvalOptions): Promise<void> {
  // The report is this command's product (`pipeline eval > report.txt`, its `accuracy:` line read by a script): the job's and supervisor's logs go to stderr.
  const logger = createLogger({ component: 'eval' }, undefined, stderrSink);
  const thresholds = parseThresholds(opts.thresholds);
  const sliceNames = parseSliceNames(opts.slices);
  // Each title is given a valid code below --gtin-share and an invalid one below the sum: over 1, the invalid share was not what was asked.
  if (Number(opts.gtinShare) + Number(opts.badGtinShare) > 1)
    throw new EvalOptionError(`--gtin-share (${opts.gtinShare}) and --bad-gtin-share (${opts.badGtinShare}) are shares of the same titles: together at most 1`);
  // Paths as typed: relative to the user's folder, also under `npm run eval`, which runs this in the package's.
  const here = typedIn('eval');
  const at = (p: string | undefined) => (p === undefined || p === '' ? undefined : resolve(here, p));
  const [jsonFile, dumpFile, configFile] = [at(opts.json), at(opts.dump), at(opts.config)];
  // Written after the whole run: one that cannot be written is said now, not after it.
  if (jsonFile) checkWritable(jsonFile, `--json ${opts.json}`);
  if (dumpFile) checkWritable(dumpFile, `--dump ${opts.dump}`);
  // Rows the producer would refuse, and lines that are not labelled rows, are left out before anything starts (scored on neither side), each named.
  const loaded = loadConfig({ config: configFile });
  const { maxRecordBytes } = loaded.limits;
  const labels = classifierLabels(loaded);
  const inputFile = dataFile(opts.input, DEFAULT_EVAL_INPUT, '--input', here);
  const trainFile = dataFile(opts.train, DEFAULT_EVAL_TRAIN, '--train', here);
  const { rows, skipped, duplicates } = await loadLabelled(inputFile, {
    limit: opts.limit ? Number(opts.limit) : undefined,
    gtinShare: Number(opts.gtinShare),
    badGtinShare: Number(opts.badGtinShare),
    seed: Number(opts.seed),
    refuse: (record) => refusal(record, maxRecordBytes),
    leaveOutBadRows: true,
  });
  for (const s of skipped) process.stderr.write(`${inputFile}:${s.line}: left out (${leftOutWhy(s)})\n`);
  if (duplicates.length > 0) process.stderr.write(`${duplicatesNote(opts.input ?? inputFile, duplicates)}\n`);
  const { rows: trainRows } = await loadLabelled(trainFile, { gtinShare: 0, badGtinShare: 0, seed: 0 });
  // Categories: the classifier's spelling where only case, spaces or hyphens for underscores differ (the baseline's too); ones it does not have are scored apart.
  const known = classifierCategories(labels);
  const check = known.length > 0 ? checkCategories(rows, new Set(known)) : { normalised: [], unknown: [] };
  if (known.length > 0) checkCategories(trainRows, new Set(known));
  for (const line of categoryNotes(opts.input ?? inputFile, check, known)) process.stderr.write(`${line}\n`);
  const apart = new Set(check.unknown.map((u) => u.category));
  const scoredRows = rows.filter((r) => !apart.has(r.category));
  if (scoredRows.length === 0)
    throw new DatasetError(`${inputFile}: no row has a category the classifier has (${known.join(', ')}): its category accuracy cannot be scored`);
  const baseline = NaiveBayes.train(trainRows, NAIVE_BAYES_DEFAULTS);
  const trainBrands = new Set(trainRows.map((r) => fold(r.brand)).filter((b) => b !== ''));
  const plan = planSlices(rows, trainBrands, sliceNames);
  const records = [...rows.map((r) => ({ id: r.id, title: r.title })), ...plan.extra];

  const pipeline = `eval-${randomBytes(3).toString('hex')}`;
  const report = await withPipeline({ configPath: configFile, pipeline, logger, dropKeys: true }, async (ctx) => {
    const run = await runInChunks(ctx, records, { chunk: Number(opts.chunk), timeoutMs: Number(opts.timeout), source: opts.input ?? inputFile, logger });
    // Records without an outcome are an error naming the worker log: it stays.
    if (records.some((r) => !run.outcomes.has(r.id))) ctx.keepLogs('records missing');
    return { ...run, logFile: ctx.logFile, routes: ctx.config.routes as unknown as Record<string, unknown> };
  });

  const { outcomes } = report;
  const get = (id: string) => outcomes.get(id)?.summary ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const category = (id: string) => str(get(id).category);
  const categories = scoreCategories(scoredRows.map((r) => ({ truth: r.category, predicted: category(r.id) })));
  const brand = scoreExact(rows.map((r) => ({ title: r.title, truth: r.brand, predicted: str(get(r.id).brand) })));
  const mpnRows = rows.map((r) => ({ title: r.title, truth: r.mpn, predicted: str(get(r.id).mpn) }));
  const mpn = scoreExact(mpnRows);
  const mpnElsewhere = scoreGivenWithout(mpnRows);
  const withGtin = rows.filter((r) => r.gtin);
  const gtinFound = withGtin.filter((r) => fold(str(get(r.id).gtin)) === r.gtin && get(r.id).gtinValid === true).length;
  const withBad = rows.filter((r) => r.badGtin);
  const badAccepted = withBad.filter((r) => get(r.id).gtinValid === true && fold(str(get(r.id).gtin)) === r.badGtin).length;
  const where: Record<string, number> = { stored: 0, review: 0, dlq: 0, missing: 0 };
  for (const r of rows) where[outcomes.get(r.id)?.where ?? 'missing']!++;
  const missingAll = records.filter((r) => !outcomes.has(r.id)).length;

  const baselineLabel = new Map<string, string>();
  const baselineOf = (title: string): string => {
    let l = baselineLabel.get(title);
    if (l === undefined) baselineLabel.set(title, (l = baseline.predict(title).label));
    return l;
  };
  const slices = plan.slices.map((s) =>
    scoreSlice(
      s.name,
      s.members.filter((m) => !apart.has(m.row.category)),
      category,
      baselineOf,
    ),
  );
  // Brand and MPN exact match on each slice's titles (rows whose value is in that title).
  const identifierSlices = plan.slices.map((s) => ({
    name: s.name,
    brand: scoreExact(s.members.map((m) => ({ title: m.title, truth: m.row.brand, predicted: str(get(m.recordId).brand) }))),
    mpn: scoreExact(s.members.map((m) => ({ title: m.title, truth: m.row.mpn, predicted: str(get(m.recordId).mpn) }))),
    // The same rows with their titles unchanged, for contrast.
    brandUnchanged: scoreExact(s.members.map((m) => ({ title: m.title, truth: m.row.brand, predicted: str(get(m.row.id).brand) }))),
    mpnUnchanged: scoreExact(s.members.map((m) => ({ title: m.title, truth: m.row.mpn, predicted: str(get(m.row.id).mpn) }))),
  }));
  const noMpn = plan.slices.find((s) => s.name === 'no-mpn');
  const mpnWithout = noMpn ? scoreGivenWithout(noMpn.members.map((m) => ({ title: m.title, truth: m.row.mpn, predicted: str(get(m.recordId).mpn) }))) : null;
  const noBrand = plan.slices.find((s) => s.name === 'no-brand');
  const brandWithout = noBrand
    ? scoreGivenWithout(noBrand.members.map((m) => ({ title: m.title, truth: m.row.brand, predicted: str(get(m.recordId).brand) })))
    : null;
  const scored = scoredRows.map((r) => {
    const c = get(r.id).confidence;
    return { confidence: typeof c === 'number' ? c : 0, correct: category(r.id) === r.category };
  });
  const routing = routingThresholds(report.routes, 'classify');
  const topLabels = (id: string): string[] | undefined => {
    const subs = outcomes.get(id)?.classify?.subcategories;
    return Array.isArray(subs) ? subs.map((x) => String((x as { label?: unknown }).label)) : undefined;
  };
  const fine = scoreFine(
    labels,
    scoredRows.map((r) => ({ category: r.category, sourceCategory: r.sourceCategory, top: topLabels(r.id) })),
  );
  const attributes = scoreAttributes(
    scoredRows.map((r) => ({
      title: r.title,
      category: r.category,
      predicted: outcomes.get(r.id)?.attributes,
      complete: outcomes.get(r.id)?.attributesComplete,
    })),
  );
  const scores: EvalScores = {
    input: opts.input ?? inputFile,
    seed: opts.seed,
    records: rows.length,
    skipped: skipped.length,
    leftOut: skipped.map((s) => ({ line: s.line, why: leftOutWhy(s) })),
    duplicateIds: duplicates.length,
    sent: records.length,
    seconds: report.seconds,
    where,
    sentToReview: rows.filter((r) => outcomes.get(r.id)?.review).length,
    categories,
    unknownCategories: unknownCategories(check, rows, category),
    normalisedCategories: check.normalised,
    baseline: {
      accuracy: scoredRows.filter((r) => baselineOf(r.title) === r.category).length / Math.max(1, scoredRows.length),
      alpha: NAIVE_BAYES_DEFAULTS.alpha,
      train: opts.train ?? trainFile,
    },
    slices,
    calibration: {
      ece: expectedCalibrationError(scored, ECE_BINS),
      bins: ECE_BINS,
      meanConfidence: scored.reduce((s, r) => s + r.confidence, 0) / Math.max(1, scored.length),
      routing,
      table: thresholdTable(
        scored,
        [...new Set([...thresholds, ...routing])].sort((a, b) => a - b),
      ),
    },
    fine,
    ...(fine === null ? { fineNotMeasured: labels.some((l) => l.includes('/')) ? ('no-source-category' as const) : ('no-subcategory-labels' as const) } : {}),
    // A field no row has (another retailer's file without brands or model numbers) is said not measured, not scored 0 of 0.
    labelledIdentifiers: { brand: rows.filter((r) => r.brand).length, mpn: rows.filter((r) => r.mpn).length },
    identifierSlices,
    brand,
    mpn,
    mpnWithout,
    brandWithout,
    mpnElsewhere,
    gtin: { n: withGtin.length, found: gtinFound, invalidN: withBad.length, invalidAccepted: badAccepted },
    attributes,
  };
  process.stdout.write(formatReport(scores).join('\n') + '\n');
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(scores, null, 2));
  if (dumpFile) {
    const out = rows.map((r) =>
      JSON.stringify({
        ...r,
        ...(apart.has(r.category) ? { scoredApart: true } : {}),
        where: outcomes.get(r.id)?.where ?? 'missing',
        predicted: { ...get(r.id), ...attributeFields(outcomes.get(r.id)) },
        baseline: baselineOf(r.title),
      }),
    );
    writeFileSync(dumpFile, out.join('\n') + '\n');
  }
  if (missingAll > 0) {
    process.stderr.write(
      `error: ${counted(missingAll, 'record')} ${missingAll === 1 ? 'is' : 'are'} neither stored, in review nor in the DLQ; worker logs: ${report.logFile}\n`,
    );
    process.exitCode = 1;
  }
}

/** A record's attributes and schema flag for the dump, when it has them. */
function attributeFields(o: Outcome | undefined): Record<string, unknown> {
  return {
    ...(o?.attributes ? { attributes: o.attributes } : {}),
    ...(o?.attributesComplete === undefined ? {} : { attributesComplete: o.attributesComplete }),
  };
}

export { DEFAULT_EVAL_INPUT, DEFAULT_EVAL_TRAIN } from './common.js';
