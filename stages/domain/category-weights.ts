import { createHash } from 'node:crypto';
import type { ResolvedStage } from '../../lib/config/types.js';
import { ConfigError } from '../../lib/core/errors.js';

/**
 * A classify stage's `settings.categoryWeights` (category → multiplier of its probability, from
 * `pipeline priors`; default none). Its shape is checked here; its categories and values against
 * the model by lib/models/category-weights.ts (stages/settings-checks.ts at start, the stage at init).
 */
export function categoryWeightsOf(stage: ResolvedStage): Record<string, number> | undefined {
  const w = stage.settings.categoryWeights;
  if (w === undefined) return undefined;
  if (w === null || typeof w !== 'object' || Array.isArray(w))
    throw new ConfigError(`stages.${stage.name}.settings.categoryWeights`, `must be an object of category → weight, got ${JSON.stringify(w)}`);
  return w as Record<string, number>;
}

/** 8 hex of SHA-256 over the weights in category order: the part of a classify stage's `modelVersion` that names them. */
export function categoryWeightsHash(weights: Readonly<Record<string, number>>): string {
  const canonical = JSON.stringify(Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 8);
}
