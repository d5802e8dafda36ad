/**
 * Builds every model into models/ (or --out): trains in TypeScript, writes the
 * Hugging Face layout (config, tokenizer, onnx/model.onnx) and models/BUILD.json.
 *
 *   npm run models [-- --only <name>[,<name>]] [--out <dir>] [--data <dir>] [--seed <n>]
 *                     [--subset <rows>] [--epochs <n>] [--labels <file>[,<file>]]...
 *                     [--hold-out-brands <share>]
 *
 * --subset and --epochs shrink the run (tests use them; each at least 1); the data directory
 * defaults to $PRODUCTS_DATA or <repo>/../shared/data/products. --labels (or
 * $PRODUCTS_LABELS, a comma list) adds reviewers' labels from `pipeline labels
 * export` to the train part (training/review-labels.ts); BUILD.json names each file.
 * --hold-out-brands leaves the rows of that share of brands out of training and writes them
 * to <out>/held-out-brands.jsonl: how the models do on brands they never saw.
 * BUILD.json's top level describes the last run; each model's `build` the run that built it
 * (--only keeps the other models' entries as they were).
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DATA_DIR, loadDataset, type ProductRow } from './data.js';
import { writeModelDir } from './hf-layout.js';
import { GROUPS } from './labels.js';
import { Prng } from './prng.js';
import { labelsReport, mergeLabels } from './review-labels.js';
import { buildVocab } from './tokenizer.js';
import { CLASSIFIER_DEFAULTS, isHoldout, trainClassifier } from './train-classifier.js';
import { EMBEDDER_DEFAULTS, trainEmbedder } from './train-embedder.js';
import { TAGGER_DEFAULTS, trainTaggers } from './train-tagger.js';
import type { TrainedModel } from './trained-model.js';
import { BRANDS_FILE } from '../stages/domain/identifier-rules.js';
import { fold } from '../stages/domain/brands.js';

export const MODEL_NAMES = ['product-category', ...GROUPS.map((g) => g.name), 'product-embed'] as const;

/** Rows left out by --hold-out-brands, written beside the models. */
export const HELD_OUT_BRANDS_FILE = 'held-out-brands.jsonl';

export class BuildError extends Error {
  override name = 'BuildError';
}

/** What `npm run models -- --help` prints. */
export const USAGE = `usage: npm run models [-- --only <name>[,<name>]] [--out <dir>] [--data <dir>] [--seed <n>]
                      [--subset <rows>] [--epochs <n>] [--labels <file>[,<file>]]... [--hold-out-brands <share>]
models: ${MODEL_NAMES.join(', ')}
  --out dir              where the models and BUILD.json go (default models)
  --data dir             train.jsonl and dev.jsonl (default $PRODUCTS_DATA or ../shared/data/products)
  --seed n               the seed (default 20240611: the shipped models)
  --subset rows          only the first rows of train (dev a fifth as many), at least 1
  --epochs n             epochs of every model, at least 1
  --labels files         reviewers' labels (pipeline labels export) joined to train (or $PRODUCTS_LABELS)
  --hold-out-brands x    leave a share in [0, 1) of brands out of training`;

interface BuildArgs {
  only: string[];
  out: string;
  data: string;
  seed: number;
  subset: number | null;
  epochs: number | null;
  labels: string[];
  /** Share of brands (by a hash of the folded brand) whose rows are left out of training; 0 = none. */
  holdOutBrands: number;
}

function parse(argv: string[]): BuildArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string', multiple: true },
      out: { type: 'string', default: 'models' },
      data: { type: 'string', default: process.env.PRODUCTS_DATA ?? DEFAULT_DATA_DIR },
      seed: { type: 'string', default: '20240611' },
      subset: { type: 'string' },
      epochs: { type: 'string' },
      labels: { type: 'string', multiple: true },
      'hold-out-brands': { type: 'string' },
    },
  });
  const only = (values.only ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  for (const name of only) {
    if (!(MODEL_NAMES as readonly string[]).includes(name)) throw new BuildError(`unknown model ${name}; one of ${MODEL_NAMES.join(', ')}`);
  }
  const int = (v: string | undefined, flag: string, min = 0): number | null => {
    if (v === undefined) return null;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new BuildError(`--${flag} must be an integer of at least ${min}, got ${v}`);
    return n;
  };
  const share = (v: string | undefined): number => {
    const n = Number(v ?? 0);
    if (!(n >= 0 && n < 1)) throw new BuildError(`--hold-out-brands must be a share in [0, 1), got ${v}`);
    return n;
  };
  const labels = (values.labels ?? [process.env.PRODUCTS_LABELS ?? '']).flatMap((v) => v.split(',')).filter((v) => v.trim() !== '');
  return {
    only: only.length > 0 ? only : [...MODEL_NAMES],
    out: resolve(values.out ?? 'models'),
    data: resolve(values.data ?? DEFAULT_DATA_DIR),
    seed: int(values.seed, 'seed') ?? 0,
    subset: int(values.subset, 'subset', 1),
    epochs: int(values.epochs, 'epochs', 1),
    labels,
    holdOutBrands: share(values['hold-out-brands']),
  };
}

/** The settings and data of one build run: BUILD.json's top level (the last run) and each model's `build`. */
interface RunRecord {
  seed: number;
  data: { train_sha256: string; dev_sha256: string; train_rows: number; dev_rows: number };
  options: { subset: number | null; epochs: number | null; hold_out_brands: number };
  labels: unknown[];
  vocab_size: number;
}

interface ModelRecord {
  seconds: number;
  bytes: number;
  description: string;
  metrics: Record<string, number>;
  /** The run that built this model (an --only run into the folder leaves the others' as they were). */
  build: RunRecord;
}

/** `{ "brands": { <folded brand>: <training titles> } }`, sorted by brand (reproducible bytes). */
export function brandsJson(rows: readonly { brand?: string }[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const b = fold(r.brand ?? '');
    if (b !== '') counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${JSON.stringify({ brands: Object.fromEntries(sorted) })}\n`;
}

/** The model entries of an existing BUILD.json; one written before models had their own `build` gets its top level (the run that wrote it). */
function previousModels(buildPath: string): Record<string, ModelRecord> {
  if (!existsSync(buildPath)) return {};
  const old = JSON.parse(readFileSync(buildPath, 'utf8')) as Partial<RunRecord> & { models?: Record<string, Partial<ModelRecord>> };
  const { seed, data, options, labels, vocab_size } = old;
  const top = { seed, data, options, labels, vocab_size } as RunRecord;
  return Object.fromEntries(Object.entries(old.models ?? {}).map(([name, m]) => [name, { ...m, build: m.build ?? top } as ModelRecord]));
}

function dirBytes(dir: string, files: string[]): number {
  return files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

export async function build(argv: string[]): Promise<Record<string, ModelRecord>> {
  const args = parse(argv);
  const ds = loadDataset(args.data);
  // --subset keeps the first rows of each file; dev gets a proportional share. Labels join train after the cut.
  const shared = args.subset === null ? ds.train : ds.train.slice(0, args.subset);
  const labels = mergeLabels(shared, ds.dev, args.labels);
  for (const w of labelsReport(labels)) console.warn(w);
  // --hold-out-brands: a check of how the models do on brands they never saw (the held-out rows are
  // written beside the models for `pipeline eval --input`); shipped models use every row.
  const heldOut = (r: ProductRow): boolean => {
    const brand = fold(r.brand ?? '');
    return args.holdOutBrands > 0 && brand !== '' && isHoldout(brand, args.holdOutBrands);
  };
  const train = labels.train.filter((r) => !heldOut(r));
  const dev = args.subset === null ? ds.dev : ds.dev.slice(0, Math.ceil(args.subset / 5));
  const epochs = <T extends { epochs: number }>(o: T): T => (args.epochs === null ? o : { ...o, epochs: args.epochs });
  const root = new Prng(args.seed);
  // One independent generator per model, so --only gives the same bytes as a full build.
  const rngs = new Map(MODEL_NAMES.map((name, i) => [name, root.fork(i + 1)]));
  const rng = (name: string): Prng => rngs.get(name) ?? new Prng(args.seed);
  const vocab = buildVocab(
    train.map((r) => r.title),
    { minCount: 3, maxWords: 20000 },
  );

  const trained = new Map<string, { model: TrainedModel; seconds: number }>();
  const timed = (names: string[], run: () => Map<string, TrainedModel>): void => {
    const t0 = performance.now();
    const models = run();
    const seconds = (performance.now() - t0) / 1000;
    // Jointly trained models share the wall time evenly.
    for (const name of names) trained.set(name, { model: models.get(name)!, seconds: seconds / names.length });
  };
  if (args.only.includes('product-category')) {
    timed(
      ['product-category'],
      () => new Map([['product-category', trainClassifier(train, dev, vocab, rng('product-category'), epochs(CLASSIFIER_DEFAULTS))]]),
    );
  }
  const groups = GROUPS.filter((g) => args.only.includes(g.name));
  if (groups.length > 0) {
    const taggerEpochs = args.epochs === null ? TAGGER_DEFAULTS : { ...TAGGER_DEFAULTS, epochs: args.epochs, groupEpochs: Math.min(args.epochs, 1) };
    timed(
      groups.map((g) => g.name),
      () => trainTaggers(groups, GROUPS, train, dev, vocab, rng('extract-electronics'), taggerEpochs),
    );
  }
  if (args.only.includes('product-embed')) {
    timed(['product-embed'], () => new Map([['product-embed', trainEmbedder(train, dev, vocab, rng('product-embed'), epochs(EMBEDDER_DEFAULTS))]]));
  }

  const run: RunRecord = {
    seed: args.seed,
    data: { train_sha256: ds.hashes.train, dev_sha256: ds.hashes.dev, train_rows: train.length, dev_rows: dev.length },
    options: { subset: args.subset, epochs: args.epochs, hold_out_brands: args.holdOutBrands },
    // Reviewers' labels trained on (--labels), each file with its SHA-256 and counts; [] = none.
    labels: labels.files,
    vocab_size: vocab.tokens.length,
  };
  const records: Record<string, ModelRecord> = {};
  for (const name of MODEL_NAMES) {
    const t = trained.get(name);
    if (t === undefined) continue;
    const dir = join(args.out, name);
    rmSync(dir, { recursive: true, force: true });
    const files = writeModelDir(dir, t.model.config, t.model.graph);
    // Extractors ship the training brands for the extract stage's brand rules (identifier-rules.ts).
    if (name.startsWith('extract-')) {
      writeFileSync(join(dir, BRANDS_FILE), brandsJson(train));
      files.push(BRANDS_FILE);
    }
    records[name] = {
      seconds: Math.round(t.seconds * 10) / 10,
      bytes: dirBytes(dir, files),
      description: t.model.config.description,
      metrics: t.model.metrics,
      build: run,
    };
  }

  // BUILD.json keeps entries of models not rebuilt this time (--only), each with the run that built it.
  const buildPath = join(args.out, 'BUILD.json');
  const report = {
    ...run,
    total_seconds: Math.round(Object.values(records).reduce((s, r) => s + r.seconds, 0) * 10) / 10,
    models: { ...previousModels(buildPath), ...records },
  };
  writeFileSync(buildPath, `${JSON.stringify(report, null, 2)}\n`);
  if (args.holdOutBrands > 0) {
    const rows = labels.train.filter(heldOut);
    writeFileSync(join(args.out, HELD_OUT_BRANDS_FILE), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    console.log(`${rows.length} rows of brands left out of training in ${join(args.out, HELD_OUT_BRANDS_FILE)}`);
  }
  return records;
}

function printReport(records: Record<string, ModelRecord>): void {
  for (const [name, r] of Object.entries(records)) {
    const metrics = Object.entries(r.metrics)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    console.log(`${name.padEnd(20)} ${String(r.seconds).padStart(6)} s ${(r.bytes / 1024).toFixed(0).padStart(5)} KiB  ${metrics}`);
  }
  const total = Object.values(records).reduce((s, r) => s + r.seconds, 0);
  console.log(`total training ${total.toFixed(1)} s`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  build(argv).then(printReport, (err: unknown) => {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exit(1);
  });
}
