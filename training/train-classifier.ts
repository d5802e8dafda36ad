/**
 * product-category: an ensemble of multinomial naive Bayes (generative, transfers well) and three
 * MLPs (unigram, unigram + hashed bigram, fine source category), all over shape-mapped WordPieces
 * and trained on perturbed titles. The mixing weights are fitted by log-likelihood on a held-out
 * tenth of train, which also calibrates the confidence (optionally the components are then
 * retrained on all of train under those weights: refitOnAll); the shipped graph outputs fine labels
 * whose probabilities sum to the calibrated coarse ones (see graph-classifier.ts).
 */
import type { ProductRow } from './data.js';
import { fitEnsemble } from './ensemble.js';
import { classifierScores, type ShippedEnsemble } from './ensemble-predict.js';
import { FEATURE_DEFAULTS, BIGRAM_MULTIPLIER, shapeMap, type FeatureOptions } from './features.js';
import { fineLabels, type FineLabels } from './fine-labels.js';
import { ensembleClassifierGraph, type MlpBranch } from './graph-classifier.js';
import { CATEGORIES } from './labels.js';
import { trainMlp, type MlpNet, type MlpOptions } from './classifier-mlp.js';
import { trainNb, type NbOptions } from './classifier-nb.js';
import { PERTURB_DEFAULTS } from './perturb.js';
import type { Prng } from './prng.js';
import { dequantizeRows, quantizeRows } from './quantize.js';
import { classifierMetrics } from './classifier-metrics.js';
import type { Vocab } from './tokenizer.js';
import type { TrainedModel } from './trained-model.js';

export interface ClassifierOptions {
  /** Share of train held out (by a hash of the id) to fit the mixing weights / temperature. @defaultValue 0.1 */
  holdoutShare: number;
  /** Fine source categories with at least this many training rows get their own label. @defaultValue 20 */
  fineMinRows: number;
  features: FeatureOptions;
  nb: NbOptions;
  mlp: Omit<MlpOptions, 'bigramBuckets'>;
  /** Hash buckets of the bigram MLP's bigram embeddings. @defaultValue 65536 */
  mlpBigramBuckets: number;
  /** MLP epochs (the one knob --epochs sets). @defaultValue 10 */
  epochs: number;
  /**
   * After fitting the mixing weights on the held-out part, retrain the components on all of train
   * and ship those under the same weights. Measured (dev, seed 20240611): 0.867 accuracy against
   * 0.864 without, but level with the baseline on the unseen-brand slice (0.698) where the
   * held-out-calibrated models are above it (0.717), and the weights no longer belong to the
   * shipped components; so off. @defaultValue false
   */
  refitOnAll: boolean;
}

export const CLASSIFIER_DEFAULTS: ClassifierOptions = {
  holdoutShare: 0.1,
  fineMinRows: 20,
  features: FEATURE_DEFAULTS,
  nb: { alpha: 0.3, perturbedCopies: 1, perturb: PERTURB_DEFAULTS },
  mlp: { dim: 64, hidden: 96, epochs: 10, batch: 32, lr: 3e-3, wordDropout: 0.2, labelSmoothing: 0.1, perturb: PERTURB_DEFAULTS },
  mlpBigramBuckets: 65536,
  epochs: 10,
  refitOnAll: false,
};

/** FNV-1a of the id: a row is held out when it falls in the first `share` of the hash range. */
export function isHoldout(id: string, share: number): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32 < share;
}

/** The shipped (int8) form of a trained MLP, as a graph branch. */
function branch(name: string, net: MlpNet, bigramBuckets: number, coarseOf: Int32Array | null): MlpBranch {
  const table = quantizeRows(net.emb, net.dim);
  return {
    name,
    dim: net.dim,
    hidden: net.hidden,
    classes: net.classes,
    table,
    bigramBuckets,
    w1: net.w1,
    b1: net.b1,
    w2: net.w2,
    b2: net.b2,
    coarseOf,
    weight: 1,
  };
}

interface Components {
  shipped: ShippedEnsemble;
  fine: FineLabels;
}

/** Trains the four components on `rows` and quantises them as they ship (weights still 1). */
function trainComponents(rows: readonly ProductRow[], vocab: Vocab, rng: Prng, o: ClassifierOptions, map: Int32Array): Components {
  const C = CATEGORIES.length;
  const coarse = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]));
  const coarseOfRow = (r: ProductRow): number => coarse.get(r.category) ?? -1;
  const fine = fineLabels(rows, CATEGORIES, o.fineMinRows);
  const mlp = { ...o.mlp, epochs: o.epochs };
  const nb = trainNb(rows, coarseOfRow, C, vocab, map, o.features.bigramBuckets, rng.fork(1), o.nb);
  const unigram = trainMlp(rows, coarseOfRow, C, vocab, map, rng.fork(2), { ...mlp, bigramBuckets: 0 });
  const bigram = trainMlp(rows, coarseOfRow, C, vocab, map, rng.fork(3), { ...mlp, bigramBuckets: o.mlpBigramBuckets });
  const fineNet = trainMlp(rows, fine.of, fine.labels.length, vocab, map, rng.fork(4), { ...mlp, bigramBuckets: 0 });
  const uq = quantizeRows(nb.unigram, C);
  const bq = quantizeRows(nb.bigram, C);
  const shipped: ShippedEnsemble = {
    vocab: vocab.tokens.length,
    classes: C,
    shapeMap: map,
    multiplier: BIGRAM_MULTIPLIER,
    nb: { unigram: uq, bigram: bq, prior: nb.prior, buckets: nb.buckets, weight: 1 },
    mlps: [branch('mlp_unigram', unigram, 0, null), branch('mlp_bigram', bigram, o.mlpBigramBuckets, null), branch('mlp_fine', fineNet, 0, fine.coarseOf)],
    coarseOf: fine.coarseOf,
    dequantized: { nbUnigram: dequantizeRows(uq, C), nbBigram: dequantizeRows(bq, C) },
  };
  return { shipped, fine };
}

function setWeights(m: ShippedEnsemble, w: readonly number[]): void {
  m.nb.weight = w[0]!;
  m.mlps.forEach((b, i) => (b.weight = w[i + 1]!));
}

export function trainClassifier(train: readonly ProductRow[], dev: readonly ProductRow[], vocab: Vocab, rng: Prng, o: ClassifierOptions): TrainedModel {
  const coarse = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]));
  const coarseOfRow = (r: ProductRow): number => coarse.get(r.category) ?? -1;
  const fit = train.filter((r) => !isHoldout(r.id, o.holdoutShare));
  const held = train.filter((r) => isHoldout(r.id, o.holdoutShare) && coarseOfRow(r) >= 0);
  const map = shapeMap(vocab, o.features.abstractDigits);

  // 1. Components on the fit part; mixing weights (= calibration) on the held-out part, with
  //    the int8 weights that ship.
  const first = trainComponents(fit, vocab, rng, o, map);
  const components = held.map((r) => classifierScores(first.shipped, vocab, r.title));
  const scores = [0, 1, 2, 3].map((k) => components.map((c) => c[k]!));
  const fitted = fitEnsemble(scores, held.map(coarseOfRow), [0.03, 0.5, 0.5, 0.5]);
  setWeights(first.shipped, fitted.weights);
  const heldMetrics = classifierMetrics(first.shipped, vocab, first.fine, held, 'holdout');

  // 2. With refitOnAll, the same components retrained on all of train under those weights.
  const final = o.refitOnAll ? trainComponents(train, vocab, rng, o, map) : first;
  setWeights(final.shipped, fitted.weights);
  const devMetrics = classifierMetrics(final.shipped, vocab, final.fine, dev, 'dev');
  const w = fitted.weights.map(round4);
  return {
    graph: ensembleClassifierGraph(final.shipped),
    config: {
      architecture: 'BertForSequenceClassification',
      hiddenSize: o.mlp.dim,
      vocab,
      labels: final.fine.labels,
      description:
        `ensemble over shape-mapped WordPieces: naive Bayes (unigrams + ${o.features.bigramBuckets} hashed bigrams, weight ${w[0]}), ` +
        `MLPs ${o.mlp.dim}-d [mean; max] -> ${o.mlp.hidden} ReLU on unigrams (${w[1]}), unigrams + ${o.mlpBigramBuckets} bigram buckets (${w[2]}), ` +
        `${final.fine.labels.length} fine labels (${w[3]}); weights fitted on ${held.length} held-out train rows${o.refitOnAll ? ', components then retrained on all of train' : ''}; ` +
        'logits over fine labels <category>/<source_category>',
    },
    metrics: { ...devMetrics, ...heldMetrics, holdout_nll: round4(fitted.nll), fine_labels: final.fine.labels.length },
  };
}

export const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;
