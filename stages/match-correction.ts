import { originAfter } from '../lib/ops/reprocess-plan.js';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../lib/stream/codec.js';
import { compileRules } from '../lib/stream/router.js';
import type { StageContext } from '../lib/worker/stage.js';
import type { RecheckHooks } from './domain/match-recheck.js';

/** The consumer name a correction's hop carries (the record was not read again from a stream). */
export const RECHECK_CONSUMER = 'match-recheck';

/**
 * The record a match re-check found a twin for, as the match stage hands it on
 * (stages/domain/match-recheck.ts): its match output with `duplicateOf` and `matchScore` of the
 * twin, routed by the stage's own routing table (so a rule on `duplicateOf` or `matchScore`, e.g.
 * to review, applies as it does to any record), a match hop, `rebuilt: 'match'` (the store does
 * not count it as another copy) and the origin one sequence number after the record's, so the
 * store puts it over the version stored without it and under any later record of the key.
 */
export function matchCorrection(ctx: StageContext): RecheckHooks['correct'] {
  const name = ctx.stage.name;
  const rules = ctx.config.routes[name];
  const known = new Set([...ctx.config.stages.map((s) => s.input), ...ctx.config.streams.terminal]);
  const router = rules ? compileRules(name, rules, known) : undefined;
  return (bytes, hit) => {
    const env = decodeEnvelope(bytes);
    const out = { ...(env.outputs[name] as Record<string, unknown>), duplicateOf: hit.key, matchScore: Math.round(hit.score * 1e4) / 1e4 };
    const targets = router?.route(out).targets ?? [];
    if (targets.length === 0) return undefined;
    const now = Date.now();
    const origin = originAfter(env.origin);
    const next: Envelope = {
      ...env,
      ...(origin !== undefined ? { origin } : {}),
      rebuilt: 'match',
      outputs: { ...env.outputs, [name]: out },
      hops: [...env.hops, { stage: name, consumer: RECHECK_CONSUMER, readAt: now, doneAt: now, batch: 1 }],
    };
    return { envelope: encodeEnvelope(next), targets };
  };
}
