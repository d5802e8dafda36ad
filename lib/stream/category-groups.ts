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
