/**
 * Product category classification with the product-category model (or any sequence
 * classification model). A model whose labels are `<category>/<subcategory>` (the shipped one:
 * fine source categories, `<category>/*` for the rest of a category) gives the category as the
 * sum of its subcategories' probabilities, plus the subcategory; plain labels are categories.
 */
import { CategoryWeightsError, categoryLogOffsets } from './category-weights.js';
import { floatData, loadModel, type LoadedModel, type ModelLoadOptions, type TokenRows } from './loader.js';

export interface ScoredLabel {
  label: string;
  score: number;
}

export interface Classification {
  label: string;
  /** Probability of `label`. */
  confidence: number;
  /** The most probable labels, best first (the first is `label`): what a reviewer sees. */
  top: { label: string; confidence: number }[];
  /**
   * Most probable subcategory of `label` (fine labels only; absent when the most probable is the
   * category's residual `<category>/*`, i.e. a subcategory too rare to have been learnt).
   */
  subcategory?: string;
  /** Probability of `subcategory`. */
  subcategoryConfidence?: number;
  /** The three most probable fine labels overall, as `<category>/<subcategory>`, with probabilities. */
  subcategories?: ScoredLabel[];
}

/** How many labels `Classification.top` lists. */
export const TOP_LABELS = 3;

export interface Classifier {
  /** One tokenizer call (for texts without a row in `tokens`, see token-rows.ts) and one model run for the whole batch. */
  classify(texts: string[], tokens?: TokenRows): Promise<Classification[]>;
  /** Models with the same id share token rows. */
  readonly tokenizerId: string;
  close(): Promise<void>;
  /** Categories (the part before '/' of fine labels). */
  readonly labels: readonly string[];
  /** The model's own labels, in order (`<category>/<subcategory>`, `<category>/*`, or plain categories). */
  readonly fineLabels: readonly string[];
  /** Per text, the probability of each category of `labels` (in that order), without category weights (`pipeline priors`). */
  distribution(texts: string[]): Promise<Float64Array[]>;
}

export interface ClassifierOptions extends ModelLoadOptions {
  /**
   * Multiplier of each category's probability (lib/models/prior-shift.ts: a feed's mix of
   * categories against the training data's, from `pipeline priors`); categories not named keep 1.
   */
  categoryWeights?: Readonly<Record<string, number>>;
}


/** Softmax over one row of logits: the `k` most probable indexes with their probabilities, best first. */
export function softmaxTop(logits: Float32Array, off: number, n: number, k: number): { index: number; probability: number }[] {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i]! - max);
  const all = Array.from({ length: n }, (_, i) => ({ index: i, probability: Math.exp(logits[off + i]! - max) / sum }));
  return all.sort((a, b) => b.probability - a.probability || a.index - b.index).slice(0, k);
}

export const RESIDUAL_SUBCATEGORY = '*';

export function softmaxArgmax(logits: Float32Array, off: number, n: number): { index: number; probability: number } {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[off + i]! > logits[off + best]!) best = i;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i]! - logits[off + best]!);
  return { index: best, probability: 1 / sum };
}

/** Indices of the k largest values, largest first (ties: lower index first); one pass, no sort. */
export function topK(p: Float64Array | Float32Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < p.length; i++) {
    let at = top.length;
    while (at > 0 && p[i]! > p[top[at - 1]!]!) at--;
    if (at < k) {
      top.splice(at, 0, i);
      if (top.length > k) top.pop();
    }
  }
  return top;
}

/** Category and subcategory of each label (`a/b` → a, b; `a` → a, undefined). */
export function splitLabels(labels: readonly string[]): { category: string; sub?: string }[] {
  return labels.map((l) => {
    const at = l.indexOf('/');
    return at < 0 ? { category: l } : { category: l.slice(0, at), sub: l.slice(at + 1) };
  });
}

/** Per label list: its categories in order of first appearance, and each label's category index and subcategory. */
interface LabelIndex {
  categories: string[];
  categoryOf: Int32Array;
  subs: (string | undefined)[];
  /** Some label is `<category>/<subcategory>`. */
  fine: boolean;
}

const labelIndexes = new WeakMap<readonly string[], LabelIndex>();

function labelIndex(labels: readonly string[]): LabelIndex {
  let index = labelIndexes.get(labels);
  if (index !== undefined) return index;
  const parts = splitLabels(labels);
  const categories = [...new Set(parts.map((p) => p.category))];
  const at = new Map(categories.map((c, i) => [c, i]));
  index = {
    categories,
    categoryOf: Int32Array.from(parts, (p) => at.get(p.category)!),
    subs: parts.map((p) => p.sub),
    fine: parts.some((p) => p.sub !== undefined),
  };
  labelIndexes.set(labels, index);
  return index;
}

/**
 * Classification from one row of logits over `labels` (fine or plain). Per record: one softmax
 * and sums into an array per category (this runs for every record a classify stage sees).
 */
export function decodeClassification(logits: Float32Array, off: number, labels: readonly string[]): Classification {
  const n = labels.length;
  const index = labelIndex(labels);
  if (!index.fine) {
    const top = softmaxTop(logits, off, n, TOP_LABELS).map((t) => ({ label: labels[t.index] ?? String(t.index), confidence: t.probability }));
    return { label: top[0]!.label, confidence: top[0]!.confidence, top };
  }
  const { categories, categoryOf, subs } = index;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[off + i]! - max);
  const byCategory = new Float64Array(categories.length);
  for (let i = 0; i < n; i++) {
    p[i] = p[i]! / sum;
    const c = categoryOf[i]!;
    byCategory[c] = byCategory[c]! + p[i]!;
  }
  const ranked = topK(byCategory, TOP_LABELS);
  const best = ranked[0]!;
  let bestSub = -1;
  for (let i = 0; i < n; i++) if (categoryOf[i] === best && (bestSub < 0 || p[i]! > p[bestSub]!)) bestSub = i;
  const out: Classification = {
    label: categories[best]!,
    confidence: byCategory[best]!,
    top: ranked.map((c) => ({ label: categories[c]!, confidence: byCategory[c]! })),
    subcategories: topK(p, 3).map((i) => ({ label: labels[i]!, score: p[i]! })),
  };
  const sub = subs[bestSub];
  if (sub !== undefined && sub !== RESIDUAL_SUBCATEGORY) Object.assign(out, { subcategory: sub, subcategoryConfidence: p[bestSub]! });
  return out;
}

/** Per text, the probability of each category (in `labelIndex(labels).categories` order). */
export function categoryProbabilities(logits: Float32Array, off: number, labels: readonly string[]): Float64Array {
  const { categories, categoryOf } = labelIndex(labels);
  const n = labels.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i]!);
  const out = new Float64Array(categories.length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(logits[off + i]! - max);
    sum += e;
    out[categoryOf[i]!] = out[categoryOf[i]!]! + e;
  }
  for (let c = 0; c < out.length; c++) out[c] = out[c]! / sum;
  return out;
}

function classifier(m: LoadedModel, weights: Readonly<Record<string, number>> | undefined): Classifier {
  const labelsFor = (C: number) => (m.labels.length === C ? m.labels : Array.from({ length: C }, (_, i) => m.labels[i] ?? String(i)));
  const offsets = weights === undefined ? undefined : categoryLogOffsets(labelsFor(m.labels.length), weights);
  const run = async (texts: string[], tokens?: TokenRows) => {
    const logits = await m.run(m.tokenize(texts, tokens), 'logits');
    const C = logits.dims[1] ?? 0;
    return { data: floatData(logits), C, labels: labelsFor(C) };
  };
  return {
    labels: [...new Set(splitLabels(m.labels).map((p) => p.category))],
    fineLabels: m.labels,
    tokenizerId: m.tokenizerId,
    async classify(texts, tokens) {
      if (texts.length === 0) return [];
      const { data, C, labels } = await run(texts, tokens);
      if (offsets !== undefined && offsets.length !== C) throw new CategoryWeightsError(`the model gives ${C} logits for ${offsets.length} labels`);
      if (offsets !== undefined) for (let i = 0; i < data.length; i++) data[i] = data[i]! + offsets[i % C]!;
      return texts.map((_, b) => decodeClassification(data, b * C, labels));
    },
    async distribution(texts) {
      if (texts.length === 0) return [];
      const { data, C, labels } = await run(texts);
      return texts.map((_, b) => categoryProbabilities(data, b * C, labels));
    },
    close: () => m.close(),
  };
}

/** @param name model folder under `localModelPath` (or a hub id with `allowRemoteModels`) */
export async function loadClassifier(name = 'product-category', options: ClassifierOptions = {}): Promise<Classifier> {
  const { categoryWeights, ...load } = options;
  return classifier(await loadModel(name, 'sequence-classification', load), categoryWeights);
}
