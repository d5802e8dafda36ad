/**
 * `pipeline priors`: a feed's mix of categories estimated from its unlabelled titles, as the
 * classify stage's `settings.categoryWeights` (lib/models/prior-shift.ts). Runs the classify stage's
 * model in-process over the feed's titles and over reference titles of the model's training
 * distribution; labels in the feed, if any, only score the weights (accuracy without and with).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ResolvedStage } from '../../lib/config/types.js';
import { ConfigError, FileError } from '../../lib/core/errors.js';
import { NOT_UTF8, parseJsonLine, textLines } from '../../lib/core/json-line.js';
import { estimatePriorShift, meanDistribution, reweight } from '../../lib/models/prior-shift.js';
import { cleanText } from '../../stages/domain/text.js';
import { modelsDirOf } from '../../stages/domain/model-labels.js';
import { loadConfig, productsDataDir, type GlobalOptions } from './common.js';
import { counted } from '../../lib/core/counted.js';

export interface PriorsOptions extends GlobalOptions {
  input: string;
  reference?: string;
  stage?: string;
  maxWeight: string;
  batch: string;
  json?: boolean;
}

/** Below this many feed titles the estimate is said to be noisy. */
export const PRIORS_FEW_TITLES = 1000;

interface Row {
  text: string;
  category?: string;
}

/**
 * JSONL rows with a string `title` (`description` appended as the preprocess stage does); a bad line
 * names its file and line. Read as every JSONL file the CLI reads (lib/core/json-line.ts): strictly
 * UTF-8, a byte order mark and CRLF line ends dropped.
 */
export function readTitles(file: string, keep: (row: Record<string, unknown>) => boolean = () => true): Row[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new FileError(`${file}: cannot read (${(err as Error).message})`);
  }
  const rows: Row[] = [];
  for (const { lineNo, text } of textLines(bytes)) {
    if (text === undefined) throw new FileError(`${file}:${lineNo}: ${NOT_UTF8}`);
    if (text.replace(/^\uFEFF/, '').trim() === '') continue;
    let value: unknown;
    try {
      value = parseJsonLine(text);
    } catch (err) {
      throw new FileError(`${file}:${lineNo}: not JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FileError(`${file}:${lineNo}: not a JSON object`);
    const r = value as Record<string, unknown>;
    if (typeof r.title !== 'string' || cleanText(r.title) === '') throw new FileError(`${file}:${lineNo}: no "title" (a non-empty string)`);
    if (!keep(r)) continue;
    const description = typeof r.description === 'string' ? cleanText(r.description) : '';
    const body = description ? `${cleanText(r.title)} ${description}` : cleanText(r.title);
    rows.push(typeof r.category === 'string' ? { text: body, category: r.category } : { text: body });
  }
  if (rows.length === 0) throw new FileError(`${file}: no rows`);
  return rows;
}

function classifyStage(stages: readonly ResolvedStage[], name: string | undefined): ResolvedStage {
  const found = name === undefined ? stages.find((s) => s.kind === 'classify') : stages.find((s) => s.name === name);
  if (!found) throw new ConfigError('--stage', name === undefined ? 'the config has no stage of kind classify' : `no stage ${name}`);
  // Another kind's model (an extractor's token labels) would be read as categories: nonsense weights, or a riddle of row sizes.
  if (found.kind !== 'classify') {
    const classify = stages.filter((s) => s.kind === 'classify').map((s) => s.name);
    throw new ConfigError('--stage', `stage ${found.name} is of kind ${found.kind}, not classify (stages of kind classify: ${classify.join(', ') || 'none'})`);
  }
  if (!found.model) throw new ConfigError(`stages.${found.name}.model`, 'a classify stage with a model is needed');
  return found;
}

const fixed = (x: number, d = 3) => x.toFixed(d);

export async function priorsCommand(o: PriorsOptions): Promise<void> {
  const stage = classifyStage(loadConfig(o).stages, o.stage);
  const feed = readTitles(resolve(o.input));
  // Default reference: train.jsonl's held-out tenth, titles the shipped classifier's components did not train on.
  const { CLASSIFIER_DEFAULTS, isHoldout } = await import('../../training/train-classifier.js');
  const referenceFile = o.reference === undefined ? join(productsDataDir(), 'train.jsonl') : resolve(o.reference);
  if (o.reference === undefined && !existsSync(referenceFile))
    throw new FileError(
      `no train.jsonl in ${productsDataDir()} for the reference titles: point env PRODUCTS_DATA at the labelled product data set, or give --reference FILE (titles of the model's training distribution)`,
    );
  const reference = readTitles(referenceFile, (r) => o.reference !== undefined || isHoldout(String(r.id), CLASSIFIER_DEFAULTS.holdoutShare));
  const { loadClassifier } = await import('../../lib/models/classifier.js');
  const allowRemoteModels = stage.settings.allowRemoteModels === true || process.env.ALLOW_REMOTE_MODELS === '1';
  const model = await loadClassifier(stage.model, { localModelPath: modelsDirOf(stage), allowRemoteModels, threads: stage.threads });
  const batch = Number(o.batch);
  const distributions = async (rows: Row[]) => {
    const out: Float64Array[] = [];
    for (let i = 0; i < rows.length; i += batch) out.push(...(await model.distribution(rows.slice(i, i + batch).map((r) => r.text))));
    return out;
  };
  let feedP: Float64Array[], refP: Float64Array[];
  try {
    refP = await distributions(reference);
    feedP = await distributions(feed);
  } finally {
    await model.close();
  }
  const refShares = meanDistribution(refP);
  const shift = estimatePriorShift(feedP, refShares, { maxWeight: Number(o.maxWeight) });
  const categories = model.labels;
  const categoryWeights = Object.fromEntries(categories.map((c, i) => [c, Number(shift.weights[i]!.toFixed(4))]));
  const labelled = feed.map((r, i) => ({ at: categories.indexOf(r.category ?? ''), p: feedP[i]! })).filter((r) => r.at >= 0);
  const argmax = (p: ArrayLike<number>) => Array.from(p).reduce((best, v, c, all) => (v > all[best]! ? c : best), 0);
  const accuracy =
    labelled.length === 0
      ? undefined
      : {
          rows: labelled.length,
          without: labelled.filter((r) => argmax(r.p) === r.at).length / labelled.length,
          with: labelled.filter((r) => argmax(reweight(r.p, shift.weights)) === r.at).length / labelled.length,
        };
  const summary = {
    stage: stage.name,
    model: stage.model,
    titles: feed.length,
    referenceTitles: reference.length,
    iterations: shift.iterations,
    converged: shift.converged,
    categories: categories.map((c, i) => ({ category: c, reference: refShares[i]!, feed: shift.shares[i]!, weight: shift.weights[i]! })),
    categoryWeights,
    ...(accuracy && { accuracy }),
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const out: string[] = [
    `${counted(feed.length, 'title')} of ${o.input} against ${counted(reference.length, 'reference title')} (${o.reference ?? `${referenceFile}, held-out tenth`}); ` +
      `model ${stage.model} of stage ${stage.name}; EM ${shift.converged ? 'converged' : 'stopped'} after ${counted(shift.iterations, 'iteration')}`,
    `${'category'.padEnd(24)}${'reference'.padStart(10)}${'feed'.padStart(8)}${'weight'.padStart(8)}`,
    ...summary.categories.map((c) => `${c.category.padEnd(24)}${fixed(c.reference).padStart(10)}${fixed(c.feed).padStart(8)}${fixed(c.weight).padStart(8)}`),
  ];
  if (feed.length < PRIORS_FEW_TITLES)
    out.push(`note: ${counted(feed.length, 'title')}; below ${PRIORS_FEW_TITLES} the estimate is noisy (check it on labelled rows)`);
  if (accuracy)
    out.push(
      `accuracy on the input's labels (${counted(accuracy.rows, 'row')}; labels not used to estimate): ${fixed(accuracy.without)} without weights, ${fixed(accuracy.with)} with`,
    );
  out.push(`settings for stages.${stage.name}:`, JSON.stringify({ categoryWeights }));
  process.stdout.write(out.join('\n') + '\n');
}
