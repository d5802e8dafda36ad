import { ConfigError, RouteError } from '../core/errors.js';
import type { Condition, Predicate, ResolvedStage, RouteRule, Scalar } from '../config/types.js';

/** Where one output goes: the target streams, and a label for metrics and logs. */
export interface RouteDecision {
  targets: string[];
  /** `<rule index>` of the rule that matched, or `default`. */
  rule: string;
}

export interface Router {
  /** Throws RouteError when no rule matches (the stage has no default). */
  route(output: unknown): RouteDecision;
  /** Every stream this stage may forward to (for ACLs and validation). */
  readonly targets: readonly string[];
}

type Test = (output: unknown) => boolean;

const OPS = new Set(['eq', 'ne', 'in', 'nin', 'lt', 'lte', 'gt', 'gte', 'exists']);

/** Read a dotted path (`entities.mpn`) from a plain object. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const isScalar = (v: unknown): v is Scalar => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const present = (v: unknown) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

function compilePredicate(where: string, field: string, p: Predicate | Scalar): Test {
  if (isScalar(p)) return (o) => getPath(o, field) === p;
  if (typeof p !== 'object' || Array.isArray(p)) throw new ConfigError(where, `predicate for ${field} must be a value or an object of operators`);
  const tests: Test[] = [];
  for (const [op, v] of Object.entries(p)) {
    const at = `${where}.${field}.${op}`;
    if (!OPS.has(op)) throw new ConfigError(at, `unknown operator (known: ${[...OPS].join(', ')})`);
    if ((op === 'in' || op === 'nin') && !(Array.isArray(v) && v.every(isScalar))) throw new ConfigError(at, 'expected an array of values');
    if (['lt', 'lte', 'gt', 'gte'].includes(op) && typeof v !== 'number') throw new ConfigError(at, 'expected a number');
    if (op === 'exists' && typeof v !== 'boolean') throw new ConfigError(at, 'expected true or false');
    if ((op === 'eq' || op === 'ne') && !isScalar(v)) throw new ConfigError(at, 'expected a value');
    const get = (o: unknown) => getPath(o, field);
    const num = (o: unknown) => {
      const x = get(o);
      return typeof x === 'number' ? x : NaN;
    };
    switch (op) {
      case 'eq':
        tests.push((o) => get(o) === v);
        break;
      case 'ne':
        tests.push((o) => get(o) !== v);
        break;
      case 'in':
        tests.push((o) => (v as Scalar[]).includes(get(o) as Scalar));
        break;
      case 'nin':
        tests.push((o) => !(v as Scalar[]).includes(get(o) as Scalar));
        break;
      // NaN compares false, so a missing or non-numeric field never passes a threshold.
      case 'lt':
        tests.push((o) => num(o) < (v as number));
        break;
      case 'lte':
        tests.push((o) => num(o) <= (v as number));
        break;
      case 'gt':
        tests.push((o) => num(o) > (v as number));
        break;
      case 'gte':
        tests.push((o) => num(o) >= (v as number));
        break;
      case 'exists':
        tests.push((o) => present(get(o)) === v);
        break;
    }
  }
  if (tests.length === 0) throw new ConfigError(`${where}.${field}`, 'empty predicate');
  return (o) => tests.every((t) => t(o));
}

export function compileCondition(where: string, cond: Condition): Test {
  if (typeof cond !== 'object' || cond === null || Array.isArray(cond)) throw new ConfigError(where, 'condition must be an object');
  const tests: Test[] = [];
  for (const [key, value] of Object.entries(cond)) {
    if (key === 'any' || key === 'all') {
      if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${where}.${key}`, 'expected a non-empty array of conditions');
      const subs = (value as Condition[]).map((c, i) => compileCondition(`${where}.${key}[${i}]`, c));
      tests.push(key === 'any' ? (o) => subs.some((t) => t(o)) : (o) => subs.every((t) => t(o)));
    } else {
      tests.push(compilePredicate(where, key, value as Predicate | Scalar));
    }
  }
  if (tests.length === 0) throw new ConfigError(where, 'empty condition');
  return (o) => tests.every((t) => t(o));
}

export function compileRules(stage: string, rules: RouteRule[], knownStreams: ReadonlySet<string>): Router {
  if (!Array.isArray(rules) || rules.length === 0) throw new ConfigError(`routes.${stage}`, 'expected a non-empty array of rules');
  const compiled = rules.map((rule, i) => {
    const where = `routes.${stage}[${i}]`;
    if (typeof rule !== 'object' || rule === null) throw new ConfigError(where, 'rule must be an object');
    for (const k of Object.keys(rule)) if (k !== 'when' && k !== 'to') throw new ConfigError(`${where}.${k}`, 'unknown rule key (use when, to)');
    const to = typeof rule.to === 'string' ? [rule.to] : rule.to;
    if (!Array.isArray(to) || to.length === 0 || !to.every((t) => typeof t === 'string')) {
      throw new ConfigError(`${where}.to`, 'expected a stream name or a non-empty array of them');
    }
    for (const t of to) {
      if (!knownStreams.has(t)) throw new ConfigError(`${where}.to`, `unknown target stream ${JSON.stringify(t)} (known: ${[...knownStreams].join(', ')})`);
    }
    if (new Set(to).size !== to.length) throw new ConfigError(`${where}.to`, 'a target is listed twice');
    if (rule.when === undefined && i !== rules.length - 1) throw new ConfigError(where, 'the default rule (no `when`) must be last');
    const test = rule.when === undefined ? () => true : compileCondition(`${where}.when`, rule.when);
    return { test, targets: to, label: rule.when === undefined ? 'default' : String(i) };
  });
  const targets = [...new Set(compiled.flatMap((r) => r.targets))];
  return {
    targets,
    route(output) {
      for (const r of compiled) if (r.test(output)) return { targets: r.targets, rule: r.label };
      throw new RouteError(`stage ${stage}: output matched no routing rule and there is no default`);
    },
  };
}

/** Compile and validate the whole routing table. Stages without rules get no router (sinks). */
export function compileRoutes(
  routes: Record<string, RouteRule[]>,
  stages: readonly Pick<ResolvedStage, 'name' | 'input'>[],
  terminal: readonly string[],
): Map<string, Router> {
  const known = new Set([...stages.map((s) => s.input), ...terminal]);
  const names = new Set(stages.map((s) => s.name));
  const out = new Map<string, Router>();
  for (const [stage, rules] of Object.entries(routes)) {
    if (!names.has(stage)) throw new ConfigError(`routes.${stage}`, `no stage named ${JSON.stringify(stage)}`);
    out.set(stage, compileRules(stage, rules, known));
  }
  return out;
}
