import type { Classifier } from '../lib/models/classifier.js';
import { ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { modelOptions, modelText } from './domain/model-options.js';

/** Classifies the cleaned text into a category: one tokenizer call and one model run per batch. */
export function createClassify(ctx: StageContext): Stage {
  const opts = modelOptions(ctx);
  let model: Classifier | undefined;
  return {
    kind: 'classify',
    model: opts.name,
    async init() {
      // Imported here, not at the top: only model stages load transformers.js and ONNX Runtime.
      const { loadClassifier } = await import('../lib/models/classifier.js');
      model = await loadClassifier(opts.name, opts.load);
    },
    async process(batch) {
      const preds = await model!.classify(batch.map((m) => modelText(m.envelope.outputs, m.envelope.input.title)));
      const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
      // `top`: the three most probable categories, for the review queue (docs/console.md).
      return preds.map((p) => ok({ category: p.label, confidence: r4(p.confidence), top: p.top.map((t) => ({ category: t.label, confidence: r4(t.confidence) })), model: opts.name }));
    },
    close: async () => model?.close(),
  };
}
