import type { Classification, Classifier } from '../lib/models/classifier.js';
import { ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { groupOf, parseGroups, parseUngroupedPolicy, ungroupedCategories, ungroupedError, type GroupTable } from '../lib/stream/category-groups.js';
import { carriedRows, carryRows } from './domain/carried-tokens.js';
import { categoryWeightsOf } from './domain/category-weights.js';
import { modelOptions, modelText, stageModelVersion } from './domain/model-options.js';

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/**
 * The classify stage's output for one prediction, without the model's name and version. `top`:
 * the three most probable categories, for the review queue (docs/console.md). The bench's bare
 * model loop calls it too, so that both sides of the model comparison do the same work.
 */
export function classificationOutput(p: Classification, groups: GroupTable): Record<string, unknown> {
  const out: Record<string, unknown> = {
    category: p.label,
    confidence: r4(p.confidence),
    top: p.top.map((c) => ({ category: c.label, confidence: r4(c.confidence) })),
  };
  if (p.subcategory !== undefined) Object.assign(out, { subcategory: p.subcategory, subcategoryConfidence: r4(p.subcategoryConfidence ?? 0) });
  if (p.subcategories !== undefined) out.subcategories = p.subcategories.map((s) => ({ label: s.label, score: r4(s.score) }));
  const group = groupOf(groups, p.label, p.subcategory);
  if (group !== undefined) out.group = group;
  return out;
}

/**
 * Classifies the cleaned text into a category: one tokenizer call and one model run per batch.
 * Output: `category`, `confidence`; with a fine-label model also `subcategory` (absent when the
 * most probable one within the category is too rare to have been learnt), `subcategoryConfidence`
 * and the top-3 `subcategories`; `group` from `settings.groups` (category or
 * `<category>/<subcategory>` → group; default none); `model` and `modelVersion` (content hash,
 * and a hash of `settings.categoryWeights` when set: each category's probability times its weight,
 * renormalised — a feed's own mix of categories, `pipeline priors`).
 * At init, each category of the model with labels in no group (their records match no `group`
 * rule) is a `classify.ungrouped_category` warning, or with `settings.ungrouped: "fail"` an error.
 */
export function createClassify(ctx: StageContext): Stage {
  const opts = modelOptions(ctx);
  const groups = parseGroups(`stages.${ctx.stage.name}.settings.groups`, ctx.stage.settings.groups);
  const ungrouped = parseUngroupedPolicy(`stages.${ctx.stage.name}.settings.ungrouped`, ctx.stage.settings.ungrouped);
  const version = stageModelVersion(ctx.stage)!;
  const categoryWeights = categoryWeightsOf(ctx.stage);
  let model: Classifier | undefined;
  return {
    kind: 'classify',
    model: opts.name,
    modelVersion: version,
    async init() {
      // Imported here, not at the top: only model stages load transformers.js and ONNX Runtime.
      const { loadClassifier } = await import('../lib/models/classifier.js');
      model = await loadClassifier(opts.name, { ...opts.load, categoryWeights });
      const found = ungroupedCategories(groups, model.fineLabels);
      if (found.length > 0 && ungrouped === 'fail') throw ungroupedError(`stages.${ctx.stage.name}.settings.groups`, opts.name, found);
      for (const f of found)
        ctx.logger.warn('classify.ungrouped_category', {
          stage: ctx.stage.name,
          model: opts.name,
          category: f.category,
          labels: f.labels,
          reason: 'these labels are in no group of settings.groups: their records match no "group" rule',
        });
    },
    async process(batch) {
      const texts = batch.map((m) => modelText(m.envelope.outputs, m.envelope.input.title));
      const tokens = carriedRows(batch, texts, model!.tokenizerId);
      const preds = await model!.classify(texts, tokens);
      carryRows(batch, texts, model!.tokenizerId, tokens);
      return preds.map((p) => ok({ ...classificationOutput(p, groups), model: opts.name, modelVersion: version }));
    },
    close: async () => model?.close(),
  };
}
