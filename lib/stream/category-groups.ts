/**
 * Category groups: a table from group name to the categories (or `<category>/<subcategory>`
 * labels) in it, so routing rules can name a group instead of listing hundreds of categories:
 * `{"when": {"group": "electronics"}, "to": "extract.electronics"}`.
 */
import { ConfigError } from '../core/errors.js';

export type GroupTable = ReadonlyMap<string, string>;

/**
 * Parses `settings.groups` (`{ "<group>": ["<category>" | "<category>/<subcategory>", …] }`) into a
 * member → group map. A member may belong to one group only.
 */
export function parseGroups(where: string, value: unknown): GroupTable {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(where, 'expected an object of group name → array of categories');
  for (const [group, members] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(members) || !members.every((m) => typeof m === 'string' && m !== ''))
      throw new ConfigError(`${where}.${group}`, 'expected an array of category names');
    for (const m of members as string[]) {
      const prev = out.get(m);
      if (prev !== undefined && prev !== group) throw new ConfigError(`${where}.${group}`, `${m} is already in group ${prev}`);
      out.set(m, group);
    }
  }
  return out;
}

/** The group of a classification: its `<category>/<subcategory>` entry first, then its category's. */
export function groupOf(table: GroupTable, category: string, subcategory?: string): string | undefined {
  return (subcategory !== undefined ? table.get(`${category}/${subcategory}`) : undefined) ?? table.get(category);
}

/**
 * The categories of a classifier's labels (`<category>/<subcategory>` or plain) that leave some
 * record without a group, each with its labels in no group: the category is no member, and one of
 * its labels is not either (`<category>/*`, the rest of a category, counts through the category only).
 * Such records match no `group` rule. None when the table is empty (no groups configured).
 */
export function ungroupedCategories(table: GroupTable, labels: readonly string[]): { category: string; labels: string[] }[] {
  if (table.size === 0) return [];
  const out = new Map<string, string[]>();
  for (const label of labels) {
    const slash = label.indexOf('/');
    const category = slash < 0 ? label : label.slice(0, slash);
    const sub = slash < 0 ? undefined : label.slice(slash + 1);
    if (table.has(category) || (sub !== undefined && sub !== '*' && table.has(label))) continue;
    out.set(category, [...(out.get(category) ?? []), label]);
  }
  return [...out].map(([category, l]) => ({ category, labels: l }));
}

/** What a classify stage does about `ungroupedCategories` at start (`settings.ungrouped`): log a warning per category, or refuse to start. */
export type UngroupedPolicy = 'warn' | 'fail';

export function parseUngroupedPolicy(where: string, value: unknown): UngroupedPolicy {
  if (value === undefined) return 'warn';
  if (value === 'warn' || value === 'fail') return value;
  throw new ConfigError(where, `expected "warn" or "fail", got ${JSON.stringify(value)}`);
}

/** The ConfigError of `ungrouped: "fail"`, naming each category and its labels in no group. */
export function ungroupedError(where: string, model: string, found: readonly { category: string; labels: string[] }[]): ConfigError {
  const list = found.map((f) => `${f.category} (${f.labels.join(', ')})`).join('; ');
  return new ConfigError(
    where,
    `model ${model} has labels in no group: ${list}; their records match no "group" rule (add them to a group, or set ungrouped to "warn")`,
  );
}
