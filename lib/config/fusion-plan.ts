/**
 * Which routes of a config run fused (lib/worker/fusion.ts) when the stages run as the config's
 * `process` groups: a rule that sends to one stream alone, read by a stage of the same process
 * that allows it (`fuse`) and connects as the same Redis user. Pure: for views (`pipeline top`,
 * the console's graph) that must say why a stage's stream sees little of the traffic.
 */
import type { ResolvedConfig, ResolvedStage } from './types.js';

/**
 * Whether `to` may run fused after `from` when both run in one process: another stage that allows
 * it, connecting as the same Redis user (the hand-off writes what `to` writes with `from`'s).
 */
export function mayFuse(from: ResolvedStage, to: ResolvedStage): boolean {
  return to !== from && to.fuse && to.redisUrl === from.redisUrl;
}

export interface FusedRoute {
  /** The stage whose hand-off carries the fused stage's output. */
  from: string;
  /** The stage that runs in `from`'s batch. */
  to: string;
}

export function fusedRoutes(config: ResolvedConfig): FusedRoute[] {
  const byInput = new Map(config.stages.map((s) => [s.input, s]));
  const out = new Map<string, FusedRoute>();
  for (const from of config.stages) {
    for (const rule of config.routes[from.name] ?? []) {
      const targets = typeof rule.to === 'string' ? [rule.to] : rule.to;
      const to = targets.length === 1 ? byInput.get(targets[0]!) : undefined;
      if (!to || to.process !== from.process || !mayFuse(from, to)) continue;
      out.set(`${from.name}\u0000${to.name}`, { from: from.name, to: to.name });
    }
  }
  return [...out.values()];
}
