import type { Entity } from '../lib/models/bio.js';
import type { Extractor } from '../lib/models/extractor.js';
import { ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { carriedRows, carryRows } from './domain/carried-tokens.js';
import { modelOptions, modelsDirOf, modelText, stageModelVersion } from './domain/model-options.js';
import { snapEntities } from './domain/spans.js';
import { IDENTIFIER_FIELDS, IDENTIFIER_TYPES, productAttributes, withoutBrandSpans } from './domain/attribute-spans.js';
import { identifiersOf } from './domain/summary.js';
import { normalizeAttributes } from './domain/units.js';
import { markedQuantities } from './domain/marked-quantities.js';
import { attributeNames } from './domain/model-labels.js';
import { applyIdentifierRules, identifierRules, type IdentifierRules } from './domain/identifier-rules.js';
import { join } from 'node:path';

/**
 * Entities → `{ brand, mpn, gtin, attributes }`, the highest-scoring span of each type winning;
 * attributes normalised to `{ value, unit, text }` (lengths also in metres and feet) where they parse.
 */
export function entitiesToFields(entities: readonly Entity[]): Record<string, unknown> {
  const best = new Map<string, Entity>();
  for (const e of entities) {
    const cur = best.get(e.type);
    if (!cur || e.score > cur.score) best.set(e.type, e);
  }
  const out: Record<string, unknown> = {};
  const attributes: Record<string, string> = {};
  for (const [type, e] of best) {
    const field = IDENTIFIER_FIELDS[type];
    if (field !== undefined) out[field] = e.text;
    else attributes[type.toLowerCase()] = e.text;
  }
  if (Object.keys(attributes).length) out.attributes = normalizeAttributes(attributes);
  return out;
}

function replaceAttributes(fields: Record<string, unknown>, attributes: unknown): void {
  if (attributes === undefined) delete fields.attributes;
  else fields.attributes = attributes;
}

/**
 * What the extract stage outputs for one text from the model's raw entities (without the model's
 * name and version): MPN and GTIN spans snapped to the shapes those identifiers have, fields from
 * the best span of each type, brand and model number through the identifier rules, and `ruleGtin`
 * (a barcode the text cleaner found by its check digit) where the model found none, and sizes and
 * lengths written with inch or foot marks (`65"`, `6'`) where the model tags those attributes
 * (`attributes`: `size`, `length`, …) but found none. The bench's bare model loop calls it too, so
 * that both sides of the model comparison do the same work.
 */
export function extractionFields(
  text: string,
  raw: readonly Entity[],
  rules: IdentifierRules,
  ruleGtin: string | undefined,
  attributes: readonly string[] = [],
): Record<string, unknown> {
  const entities = snapEntities(text, raw);
  const attributeSpans = productAttributes(text, entities);
  const fields = entitiesToFields(attributeSpans);
  applyIdentifierRules(rules, text, entities, fields);
  // The brand is known only now: an attribute that is the brand ("3M") gives way to the next span of its kind.
  const notBrand = withoutBrandSpans(attributeSpans, fields.brand);
  if (notBrand !== attributeSpans) replaceAttributes(fields, entitiesToFields(notBrand).attributes);
  const marked = markedQuantities(text, attributes, fields.attributes as Record<string, unknown> | undefined);
  if (Object.keys(marked).length > 0) fields.attributes = { ...(fields.attributes as object | undefined), ...marked };
  if (fields.gtin === undefined && ruleGtin) Object.assign(fields, { gtin: ruleGtin, gtinSource: 'rule' });
  return { ...fields, entities };
}

/**
 * Token classification with the extractor model for one category group (one stage instance per
 * model, each its own stream and group). Entities carry original-case text and character offsets
 * into the cleaned text; MPN and GTIN spans are snapped to the shapes those identifiers have.
 * Brand and model number then go through the rules of domain/identifier-rules.ts (settings
 * `brandLexicon`, `brandMinCount`, `mpnShapeRule`, `mpnTidy`).
 */
export function createExtract(ctx: StageContext): Stage {
  const opts = modelOptions(ctx);
  const version = stageModelVersion(ctx.stage)!;
  const rules = identifierRules(`stages.${ctx.stage.name}.settings`, ctx.stage.settings, join(modelsDirOf(ctx.stage), opts.name));
  let model: Extractor | undefined;
  let attributes: string[] = [];
  return {
    kind: 'extract',
    model: opts.name,
    modelVersion: version,
    async init() {
      // Imported here, not at the top: only model stages load transformers.js and ONNX Runtime.
      const { loadExtractor } = await import('../lib/models/extractor.js');
      model = await loadExtractor(opts.name, opts.load);
      attributes = attributeNames(model.labels, IDENTIFIER_TYPES);
    },
    async process(batch) {
      const texts = batch.map((m) => modelText(m.envelope.outputs, m.envelope.input.title));
      const tokens = carriedRows(batch, texts, model!.tokenizerId);
      const found = await model!.extract(texts, tokens);
      carryRows(batch, texts, model!.tokenizerId, tokens);
      return found.map((raw, i) => {
        const fields = extractionFields(texts[i]!, raw, rules, identifiersOf(batch[i]!.envelope).gtin, attributes);
        return ok({ ...fields, model: opts.name, modelVersion: version });
      });
    },
    close: async () => model?.close(),
  };
}
