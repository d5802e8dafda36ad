/**
 * Which routes of a config run fused (lib/worker/fusion.ts) when the stages run as the config's
 * `process` groups: a rule that sends to one stream alone, read by a stage of the same process
 * that allows it (`fuse`) and connects as the same Redis user. Pure: for views (`pipeline top`,
 * the console's graph) that must say why a stage's stream sees little of the traffic.
 */
import type { ResolvedConfig, ResolvedStage } from './types.js';

/**
 * Whether `to` may run fused after `from` when both run in one process: another stage that allows
 * it, connecting as the same Redis user (the hand-off writes what `to` writes with `from`'s), and
 * has no `rateLimit` (its records must go through its stream, where its consumers take tokens
 * before they read them: lib/worker/rate-gate.ts).
 */
export function mayFuse(from: ResolvedStage, to: ResolvedStage): boolean {
  return to !== from && to.fuse && to.redisUrl === from.redisUrl && !to.rateLimit;
}

export interface FusedRoute {
  /** The stage whose hand-off carries the fused stage's output. */
  from: string;
  /** The stage that runs in `from`'s batch. */
  to: string;
}

/**
 * The routes that run fused when `stages` run in one process (a worker process runs its stages
 * with this, lib/worker/process.ts): a rule of one of them that sends to one stream alone, read by
 * another of them that `mayFuse` after it. Each route once, in config order.
 */
export function fusedWithin(config: Pick<ResolvedConfig, 'routes'>, stages: readonly ResolvedStage[]): FusedRoute[] {
  const byInput = new Map(stages.map((s) => [s.input, s]));
  const out = new Map<string, FusedRoute>();
  for (const from of stages) {
    for (const rule of config.routes[from.name] ?? []) {
      const targets = typeof rule.to === 'string' ? [rule.to] : rule.to;
      const to = targets.length === 1 ? byInput.get(targets[0]!) : undefined;
      if (!to || !mayFuse(from, to)) continue;
      out.set(`${from.name}\u0000${to.name}`, { from: from.name, to: to.name });
    }
  }
  return [...out.values()];
}

/**
 * The routes of `config` that run fused when its stages run as its `process` groups, by the
 * Redis URLs resolved in THIS process's environment (`REDIS_URL_<STAGE>`): a view that runs apart
 * from the workers (the console, `pipeline top`) may not have their environment, so it asks the
 * workers what they fuse (lib/ops/fusion-live.ts) and uses this only when none says.
 */
export function fusedRoutes(config: ResolvedConfig): FusedRoute[] {
  const groups = new Map<string, ResolvedStage[]>();
  for (const s of config.stages) groups.set(s.process, [...(groups.get(s.process) ?? []), s]);
  const fused = new Set([...groups.values()].flatMap((g) => fusedWithin(config, g)).map((r) => `${r.from}\u0000${r.to}`));
  return fusedWithin(config, config.stages).filter((r) => fused.has(`${r.from}\u0000${r.to}`));
}
