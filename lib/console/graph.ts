import type { ResolvedConfig } from '../config/types.js';
import { fusedRoutes, type FusedRoute } from '../config/fusion-plan.js';

/** The pipeline drawn as data: the page lays it out and draws it as SVG. */
export interface PipelineGraph {
  pipeline: string;
  /** Stages and terminal streams (review), in config order; `column` is the longest path from the input; `process`: a stage's worker process. */
  nodes: { id: string; kind: string; input: string; terminal: boolean; column: number; process?: string }[];
  /**
   * One edge per (stage, target stream) of the routing table; `rules` lists the rule labels (`0`,
   * `default`) that send there; `fused`: what a rule sends there alone runs in `from`'s batch
   * (lib/config/fusion-plan.ts; as the workers report it, lib/ops/fusion-live.ts), so `to`'s
   * stream sees only the rest.
   */
  edges: { from: string; to: string; rules: string[]; fused: boolean }[];
}

/**
 * Stages, routes and terminal streams of a config as a graph; targets are mapped from stream names
 * to the stage reading them. `fused`: the routes that run fused (the console passes what the
 * workers report). @defaultValue fusedRoutes(config), by this process's environment
 */
export function pipelineGraph(config: ResolvedConfig, fusedList: readonly FusedRoute[] = fusedRoutes(config)): PipelineGraph {
  const byInput = new Map(config.stages.map((s) => [s.input, s.name]));
  const nodes: PipelineGraph['nodes'] = config.stages.map((s) => ({
    id: s.name,
    kind: s.kind,
    input: s.input,
    terminal: false,
    column: 0,
    process: s.process,
  }));
  for (const t of config.streams.terminal) if (!byInput.has(t)) nodes.push({ id: t, kind: 'terminal', input: t, terminal: true, column: 0 });
  const edges = new Map<string, PipelineGraph['edges'][number]>();
  const fused = new Set(fusedList.map((r) => `${r.from}\u0000${r.to}`));
  for (const [stage, rules] of Object.entries(config.routes)) {
    rules.forEach((rule, i) => {
      for (const stream of typeof rule.to === 'string' ? [rule.to] : rule.to) {
        const to = byInput.get(stream) ?? stream;
        const k = `${stage}\u0000${to}`;
        const e = edges.get(k) ?? { from: stage, to, rules: [], fused: fused.has(k) };
        e.rules.push(rule.when === undefined ? 'default' : String(i));
        edges.set(k, e);
      }
    });
  }
  // Columns: longest path from a node with no incoming edge (routes form a DAG; a cycle stops at the node count).
  const col = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges.values()) {
      const c = (col.get(e.from) ?? 0) + 1;
      if (col.has(e.to) && c > col.get(e.to)! && c < nodes.length) {
        col.set(e.to, c);
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (const n of nodes) n.column = col.get(n.id) ?? 0;
  return { pipeline: config.pipeline, nodes, edges: [...edges.values()] };
}
