/**
 * Per-category attribute schemas (validate stage `settings.schemas`):
 * `{ "<category>" | "<category>/<subcategory>": { "expected": [...], "required": [...] } }`.
 * A record missing a required attribute is flagged (`attributesComplete: false`,
 * `missingAttributes`), which a routing rule can send to review. An attribute kept as text only
 * (it did not parse into a value and unit, units.ts) counts as missing.
 */
import { ConfigError } from '../../lib/core/errors.js';

export interface CategorySchema {
  /** Attributes a product of the category usually has (reported when missing, not flagged). */
  expected: string[];
  /** Attributes it must have. Required attributes are expected too. */
  required: string[];
}

export type SchemaTable = ReadonlyMap<string, CategorySchema>;

const names = (where: string, v: unknown): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new ConfigError(where, 'expected an array of attribute names');
  return v as string[];
};

export function parseSchemas(where: string, value: unknown): SchemaTable {
  const out = new Map<string, CategorySchema>();
  if (value === undefined) return out;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(where, 'expected an object of category → { expected, required }');
  for (const [cat, s] of Object.entries(value as Record<string, unknown>)) {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new ConfigError(`${where}.${cat}`, 'expected { expected?: [...], required?: [...] }');
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'expected' && k !== 'required') throw new ConfigError(`${where}.${cat}.${k}`, 'unknown key (expected, required)');
    const required = names(`${where}.${cat}.required`, o.required);
    const expected = [...new Set([...names(`${where}.${cat}.expected`, o.expected), ...required])];
    out.set(cat, { expected, required });
  }
  return out;
}

export interface SchemaCheck {
  /** Required attributes the record lacks. */
  missingRequired: string[];
  /** Expected (not required) attributes it lacks. */
  missingExpected: string[];
}

/** The schema of `<category>/<subcategory>` if configured, else of the category; null if neither. */
export function checkSchema(
  table: SchemaTable,
  category: string | undefined,
  subcategory: string | undefined,
  attributes: Record<string, unknown>,
): SchemaCheck | null {
  if (category === undefined) return null;
  const schema = (subcategory !== undefined ? table.get(`${category}/${subcategory}`) : undefined) ?? table.get(category);
  if (schema === undefined) return null;
  // An attribute whose text did not parse into a value with a unit (`{ text: "190" }`: the
  // extractor's span lost its unit) is no better than none for a schema that needs it.
  const has = (a: string) => {
    const v = attributes[a];
    if (v === undefined || v === null) return false;
    return typeof v !== 'object' || !('text' in v) || 'value' in v;
  };
  return {
    missingRequired: schema.required.filter((a) => !has(a)),
    missingExpected: schema.expected.filter((a) => !schema.required.includes(a) && !has(a)),
  };
}
