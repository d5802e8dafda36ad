import { ConfigError } from '../core/errors.js';
import type { Condition, ResolvedStage, RouteRule } from './types.js';

/**
 * Checks of the streams a config names and how routes join them, at start: a name that is one of
 * the pipeline's own keys, a terminal stream a stage reads, and a cycle of routes are each a way
 * to lose records or loop them forever, and none shows until records flow.
 */

/** Names under the pipeline's hash tag that the pipeline keeps for itself (lib/redis/keys.ts and the stages' extra keys). */
export const RESERVED_NAMES: readonly string[] = ['dlq', 'done', 'products', 'logs', 'labels', 'epoch', 'data-lost'];
export const RESERVED_PREFIXES: readonly string[] = [
  'product:',
  'category:',
  'liveness:',
  'fence:',
  'paused:',
  'status:',
  'reprocess:',
  'vectors:',
  'console:',
];

/** Why `name` cannot be a stream of the config, or undefined. */
export function reservedStreamName(name: string): string | undefined {
  if (RESERVED_NAMES.includes(name)) return `"${name}" is a key the pipeline keeps for itself (reserved: ${RESERVED_NAMES.join(', ')})`;
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `"${name}" starts with "${prefix}", a prefix of the pipeline's own keys (reserved: ${RESERVED_PREFIXES.join(', ')})`;
  if (name.includes(':producer:')) return `"${name}" contains ":producer:", the producer's run-state keys`;
  return undefined;
}

/** Names of pipelines, stages, processes and streams. */
export const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

export function checkTopology(
  stages: readonly Pick<ResolvedStage, 'name' | 'input'>[],
  terminal: readonly string[],
  routes: Record<string, RouteRule[]>,
): void {
  stages.forEach((s, i) => {
    if (!NAME_RE.test(s.input))
      throw new ConfigError(`stages[${i}].input`, `expected a stream name of letters, digits, . _ : -, got ${JSON.stringify(s.input)}`);
    const why = reservedStreamName(s.input);
    if (why) throw new ConfigError(`stages[${i}]${s.input === s.name ? '.name' : '.input'}`, `${why}: name the stage's stream otherwise`);
  });
  const readers = new Map(stages.map((s) => [s.input, s.name]));
  terminal.forEach((t, i) => {
    const where = `streams.terminal[${i}]`;
    if (!NAME_RE.test(t)) throw new ConfigError(where, `expected a stream name of letters, digits, . _ : -, got ${JSON.stringify(t)}`);
    const why = reservedStreamName(t);
    if (why) throw new ConfigError(where, why);
    if (terminal.indexOf(t) !== i) throw new ConfigError(where, `"${t}" is listed twice`);
    const reader = readers.get(t);
    if (reader !== undefined)
      throw new ConfigError(
        where,
        `"${t}" is the input of stage ${reader}: a terminal stream is where records end (nothing reads it, terminalMaxAgeMs trims it), so that stage's work would be trimmed unread; leave it out of streams.terminal`,
      );
  });
  const cycle = routeCycle(stages, routes);
  if (cycle)
    throw new ConfigError(
      `routes.${cycle[0]}`,
      `routes form a cycle (${cycle.join(' → ')}): a record that takes it would go round forever; route to a terminal stream or a stage further on`,
    );
}

/** A cycle of stages through their routes' target streams (first stage repeated at the end), or undefined. */
export function routeCycle(stages: readonly Pick<ResolvedStage, 'name' | 'input'>[], routes: Record<string, RouteRule[]>): string[] | undefined {
  const readerOf = new Map(stages.map((s) => [s.input, s.name]));
  const next = (stage: string): string[] =>
    (routes[stage] ?? []).flatMap((r) => (typeof r.to === 'string' ? [r.to] : r.to)).flatMap((t) => (readerOf.has(t) ? [readerOf.get(t)!] : []));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (stage: string): string[] | undefined => {
    if (state.get(stage) === 'done') return undefined;
    if (state.get(stage) === 'open') return [...path.slice(path.indexOf(stage)), stage];
    state.set(stage, 'open');
    path.push(stage);
    for (const n of new Set(next(stage))) {
      const found = visit(n);
      if (found) return found;
    }
    path.pop();
    state.set(stage, 'done');
    return undefined;
  };
  for (const s of stages) {
    const found = visit(s.name);
    if (found) return found;
  }
  return undefined;
}

/** The output fields a (compiled, so well-formed) condition reads, as written (`entities.mpn`), through `any` / `all`. */
export function conditionFields(cond: Condition): string[] {
  return Object.entries(cond).flatMap(([key, value]) => (key === 'any' || key === 'all' ? (value as Condition[]).flatMap(conditionFields) : [key]));
}

/**
 * A rule that tests a field its stage never outputs is refused (`"gruop": "electronics"` never
 * matched, so every record took the next rule, often the default `review`, without a word).
 * Only the first part of a dotted path is known (`attributes.capacity.value`: `attributes`).
 */
export function checkRouteFields(
  stages: readonly Pick<ResolvedStage, 'name' | 'kind'>[],
  routes: Record<string, RouteRule[]>,
  outputsOf: (kind: string) => readonly string[] | undefined,
): void {
  for (const [name, rules] of Object.entries(routes)) {
    const kind = stages.find((s) => s.name === name)?.kind;
    const outputs = kind === undefined ? undefined : outputsOf(kind);
    if (!outputs) continue;
    rules.forEach((rule, i) => {
      for (const field of rule.when ? conditionFields(rule.when) : []) {
        if (!outputs.includes(field.split('.')[0]!))
          throw new ConfigError(
            `routes.${name}[${i}].when.${field}`,
            `a ${kind} stage outputs no field ${JSON.stringify(field.split('.')[0])} (it outputs: ${outputs.join(', ')})`,
          );
      }
    });
  }
}
