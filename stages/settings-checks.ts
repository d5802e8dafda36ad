/**
 * The built-in stages' `settings` parsed and checked when the config is loaded (a worker had been
 * the first to parse them: `pipeline up` passed a bad `schemas` and the worker crash-looped), and
 * checked against the models' labels where the model folder is here: a misspelt name never
 * matches, so a typo is an error at start rather than a rule that silently never applies.
 *
 * - classify `categoryWeights`: each key a category of the stage's model, each value finite, ≥ 0.
 * - classify `groups`: each member a category or `<category>/<subcategory>` of the stage's model;
 *   `ungrouped: "fail"` refuses a model label in no group; its routes' `group` values name a group,
 *   `category` / `subcategory` values name labels of the model.
 * - match `threshold`, `index`, `shardWaitMs`, `recheck`; extract `brandLexicon`, `brandMinCount`,
 *   `mpnShapeRule`, `mpnTidy`; store `sink`, `appliedEntriesKept` and the postgres sink's settings
 *   (its URL only where given: env DATABASE_URL is the workers'): their types and ranges.
 * - validate `schemas`: each key a category or `<category>/<subcategory>` of the classify stages'
 *   models; each `expected` / `required` attribute one an extract stage's model tags.
 *
 * Labels are known from a model's local `config.json` only (stages/domain/model-labels.ts): a hub
 * model's are not checked here; a `module:` stage (it may output categories and attributes of its
 * own) turns the validate checks off.
 */
import { ConfigError } from '../lib/core/errors.js';
import type { Condition, ResolvedStage, RouteRule } from '../lib/config/types.js';
import { parseGroups, parseUngroupedPolicy, ungroupedCategories, ungroupedError, type GroupTable } from '../lib/stream/category-groups.js';
import { IDENTIFIER_TYPES } from './domain/attribute-spans.js';
import { attributeNames, categoryLabels, isCategoryLabel, localModelLabels, type CategoryLabels } from './domain/model-labels.js';
import { parseSchemas } from './domain/schema.js';
import { categoryWeightsOf } from './domain/category-weights.js';
import { CategoryWeightsError, categoryLogOffsets } from '../lib/models/category-weights.js';
import { appliedEntriesKept, sinkName } from './sinks/sink.js';
import { postgresSettings } from './sinks/postgres-settings.js';
import { matchSettings } from './domain/match-settings.js';
import { identifierRuleSettings } from './domain/identifier-rules.js';

const list = (names: Iterable<string>): string => [...names].join(', ');

/** The string values a condition compares `field` with (`"x"`, `{ eq, ne, in, nin }`), through `any` / `all`, each with its path. */
export function conditionValues(cond: Condition, field: string, where: string): { where: string; value: string }[] {
  const out: { where: string; value: string }[] = [];
  for (const [key, v] of Object.entries(cond)) {
    if (key === 'any' || key === 'all') {
      (v as Condition[]).forEach((c, i) => out.push(...conditionValues(c, field, `${where}.${key}[${i}]`)));
      continue;
    }
    if (key !== field) continue;
    if (typeof v === 'string') out.push({ where: `${where}.${key}`, value: v });
    if (v === null || typeof v !== 'object') continue;
    for (const [op, arg] of Object.entries(v as Record<string, unknown>)) {
      const values = op === 'eq' || op === 'ne' ? [arg] : op === 'in' || op === 'nin' ? (arg as unknown[]) : [];
      for (const x of values) if (typeof x === 'string') out.push({ where: `${where}.${key}.${op}`, value: x });
    }
  }
  return out;
}

/** Each string value a stage's rules compare `field` with, that `known` refuses. */
function checkRuleValues(rules: readonly RouteRule[] | undefined, stage: string, field: string, ok: (v: string) => boolean, why: (v: string) => string): void {
  (rules ?? []).forEach((rule, i) => {
    if (!rule.when) return;
    for (const { where, value } of conditionValues(rule.when, field, `routes.${stage}[${i}].when`))
      if (!ok(value)) throw new ConfigError(where, `${why(value)}: the rule would never match`);
  });
}

function checkClassify(where: string, stage: ResolvedStage, rules: readonly RouteRule[] | undefined, env: NodeJS.ProcessEnv): CategoryLabels | undefined {
  const groups: GroupTable = parseGroups(`${where}.settings.groups`, stage.settings.groups);
  const policy = parseUngroupedPolicy(`${where}.settings.ungrouped`, stage.settings.ungrouped);
  const names = new Set(groups.values());
  checkRuleValues(
    rules,
    stage.name,
    'group',
    (v) => names.has(v),
    (v) => `no group ${JSON.stringify(v)} in ${where}.settings.groups (groups: ${list(names) || 'none'})`,
  );
  const weights = categoryWeightsOf(stage);
  const labels = localModelLabels(stage, env);
  if (labels === undefined) return undefined;
  if (weights !== undefined)
    try {
      categoryLogOffsets(labels, weights);
    } catch (err) {
      if (err instanceof CategoryWeightsError) throw new ConfigError(`${where}.settings.categoryWeights`, err.message);
      throw err;
    }
  const known = categoryLabels(labels);
  for (const [member, group] of groups)
    if (!isCategoryLabel(known, member))
      throw new ConfigError(
        `${where}.settings.groups.${group}`,
        `${JSON.stringify(member)} is no category or <category>/<subcategory> of model ${stage.model} (categories: ${list(known.categories)})`,
      );
  if (policy === 'fail') {
    const found = ungroupedCategories(groups, labels);
    if (found.length > 0) throw ungroupedError(`${where}.settings.groups`, stage.model!, found);
  }
  const subs = new Set([...known.fine].map((l) => l.slice(l.indexOf('/') + 1)));
  const what = (field: string, v: string) => `model ${stage.model} has no ${field} ${JSON.stringify(v)}`;
  checkRuleValues(
    rules,
    stage.name,
    'category',
    (v) => known.categories.has(v),
    (v) => `${what('category', v)} (categories: ${list(known.categories)})`,
  );
  checkRuleValues(
    rules,
    stage.name,
    'subcategory',
    (v) => subs.has(v),
    (v) => what('subcategory', v),
  );
  return known;
}

function checkValidate(where: string, stage: ResolvedStage, categories: CategoryLabels | undefined, attributes: ReadonlySet<string> | undefined): void {
  const schemas = parseSchemas(`${where}.settings.schemas`, stage.settings.schemas);
  for (const [key, schema] of schemas) {
    const at = `${where}.settings.schemas.${key}`;
    if (categories !== undefined && !isCategoryLabel(categories, key))
      throw new ConfigError(
        at,
        `${JSON.stringify(key)} is no category or <category>/<subcategory> of the classify model (categories: ${list(categories.categories)})`,
      );
    if (attributes === undefined) continue;
    for (const a of schema.expected) {
      if (attributes.has(a)) continue;
      const field = schema.required.includes(a) ? 'required' : 'expected';
      throw new ConfigError(`${at}.${field}`, `no extract stage's model gives attribute ${JSON.stringify(a)} (they give: ${list(attributes) || 'none'})`);
    }
  }
}

/**
 * Checks the built-in stages' settings of a resolved config (LoadOptions.checkStages of
 * lib/config/load.ts); throws a ConfigError naming the path.
 */
export function checkStageSettingValues(stages: readonly ResolvedStage[], routes: Readonly<Record<string, RouteRule[]>>, env: NodeJS.ProcessEnv): void {
  const modules = stages.some((s) => s.kind.startsWith('module:'));
  let categories: CategoryLabels | undefined;
  let allClassifiersKnown = stages.some((s) => s.kind === 'classify');
  stages.forEach((s, i) => {
    if (s.kind !== 'classify') return;
    const known = checkClassify(`stages[${i}]`, s, routes[s.name], env);
    if (known === undefined) allClassifiersKnown = false;
    else categories = categories ? categoryLabels([...categories.categories, ...categories.fine, ...known.categories, ...known.fine]) : known;
  });
  const extracts = stages.filter((s) => s.kind === 'extract').map((s) => localModelLabels(s, env));
  const attributes =
    extracts.length > 0 && extracts.every((l) => l !== undefined) ? new Set(extracts.flatMap((l) => attributeNames(l!, IDENTIFIER_TYPES))) : undefined;
  // Checked at load, not first by the stage's worker: `status`, `deploy render --check` and `up` refuse
  // them too, and the error names the file. A store's `module:` sink reads its own settings.
  stages.forEach((s, i) => {
    const at = `stages[${i}].settings`;
    const sink = s.kind === 'store' ? sinkName(s.settings, at) : undefined;
    if (sink !== undefined && !sink.startsWith('module:')) appliedEntriesKept(s.settings, at);
    if (sink === 'postgres') postgresSettings(s.settings, at);
    if (s.kind === 'match') matchSettings(at, s.settings);
    if (s.kind === 'extract') identifierRuleSettings(at, s.settings);
  });
  stages.forEach((s, i) => {
    if (s.kind === 'validate') checkValidate(`stages[${i}]`, s, modules || !allClassifiersKnown ? undefined : categories, modules ? undefined : attributes);
  });
}
