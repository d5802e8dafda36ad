/** Product category classification with the product-category model. */
import { floatData, loadModel, type LoadedModel, type ModelLoadOptions } from './loader.js';

export interface Classification {
  label: string;
  /** Softmax probability of `label`. */
  confidence: number;
  /** The most probable labels, best first (the first is `label`): what a reviewer sees. */
  top: { label: string; confidence: number }[];
}

/** How many labels `Classification.top` lists. */
export const TOP_LABELS = 3;

export interface Classifier {
  /** One tokenizer call and one model run for the whole batch. */
  classify(texts: string[]): Promise<Classification[]>;
  close(): Promise<void>;
  readonly labels: readonly string[];
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

export function softmaxArgmax(logits: Float32Array, off: number, n: number): { index: number; probability: number } {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[off + i]! > logits[off + best]!) best = i;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i]! - logits[off + best]!);
  return { index: best, probability: 1 / sum };
}

function classifier(m: LoadedModel): Classifier {
  return {
    labels: m.labels,
    async classify(texts) {
      if (texts.length === 0) return [];
      const logits = await m.run(m.tokenize(texts), 'logits');
      const data = floatData(logits);
      const C = logits.dims[1] ?? 0;
      return texts.map((_, b) => {
        const { index, probability } = softmaxArgmax(data, b * C, C);
        const top = softmaxTop(data, b * C, C, TOP_LABELS).map((t) => ({ label: m.labels[t.index] ?? String(t.index), confidence: t.probability }));
        return { label: m.labels[index] ?? String(index), confidence: probability, top };
      });
    },
    close: () => m.close(),
  };
}

/** @param name model folder under `localModelPath` (or a hub id with `allowRemoteModels`) */
export async function loadClassifier(name = 'product-category', options: ModelLoadOptions = {}): Promise<Classifier> {
  return classifier(await loadModel(name, 'sequence-classification', options));
}
