import { ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { checkGtin } from './domain/gtin.js';
import { checkMpn } from './domain/mpn.js';
import { checkSchema, parseSchemas } from './domain/schema.js';
import { identifiersOf, outputsInOrder, summarize } from './domain/summary.js';

/** The latest value of `field` across the stage outputs (later stages win). */
function latest(outputs: Record<string, unknown>[], field: string): unknown {
  let v: unknown;
  for (const o of outputs) if (o[field] !== undefined) v = o[field];
  return v;
}

/**
 * Validates the identifiers found so far: GTIN check digit and length, MPN normalised and checked
 * for plausibility. `valid` is true when every identifier present passes. Invalid codes are kept
 * (with the reason) rather than dropped, so the store shows what was seen.
 *
 * With `settings.schemas` (category → { expected, required } attributes; default none), also
 * checks the extracted attributes: `attributesComplete` false and `missingAttributes` when a
 * required one is missing, `missingExpected` for expected ones (informational).
 */
export function createValidate(ctx?: StageContext): Stage {
  const schemas = parseSchemas(`stages.${ctx?.stage.name ?? 'validate'}.settings.schemas`, ctx?.stage.settings.schemas);
  return {
    kind: 'validate',
    async process(batch) {
      return batch.map((m) => {
        const { mpn, gtin } = identifiersOf(m.envelope);
        const out: Record<string, unknown> = { valid: true };
        if (mpn !== undefined) {
          const c = checkMpn(mpn);
          Object.assign(out, { mpn: c.value, mpnNormalized: c.normalized, mpnPlausible: c.plausible });
          if (!c.plausible) out.valid = false;
        }
        if (gtin !== undefined) {
          const g = checkGtin(gtin);
          Object.assign(out, { gtin: g.value, gtinValid: g.valid, ...(g.type ? { gtinType: g.type } : {}), ...(g.reason ? { gtinError: g.reason } : {}) });
          if (!g.valid) out.valid = false;
        }
        if (schemas.size > 0) {
          const outputs = outputsInOrder(m.envelope);
          const category = summarize(m.envelope).category;
          const sub = latest(outputs, 'subcategory');
          const attrs = latest(outputs, 'attributes');
          const check = checkSchema(
            schemas,
            typeof category === 'string' ? category : undefined,
            typeof sub === 'string' ? sub : undefined,
            attrs !== null && typeof attrs === 'object' ? (attrs as Record<string, unknown>) : {},
          );
          if (check !== null) {
            out.attributesComplete = check.missingRequired.length === 0;
            if (check.missingRequired.length > 0) out.missingAttributes = check.missingRequired;
            if (check.missingExpected.length > 0) out.missingExpected = check.missingExpected;
          }
        }
        return ok(out);
      });
    },
  };
}
