import { ok, type Stage } from '../lib/worker/stage.js';
import { checkGtin } from './domain/gtin.js';
import { checkMpn } from './domain/mpn.js';
import { identifiersOf } from './domain/summary.js';

/**
 * Validates the identifiers found so far: GTIN check digit and length, MPN normalised and checked
 * for plausibility. `valid` is true when every identifier present passes. Invalid codes are kept
 * (with the reason) rather than dropped, so the store shows what was seen.
 */
export function createValidate(): Stage {
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
        return ok(out);
      });
    },
  };
}
