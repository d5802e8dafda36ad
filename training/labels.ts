/** Label sets: the 15 categories, the extractor groups, and entity spans found in titles. */

export const CATEGORIES = [
  'audio',
  'cables_power',
  'cameras_photo',
  'cases_protection',
  'computers',
  'gps_auto',
  'networking',
  'office_supplies',
  'peripherals',
  'phones_radios',
  'printers_ink',
  'security_surveillance',
  'software',
  'storage',
  'tv_video',
] as const;

export interface ExtractorGroup {
  /** Model directory name. */
  name: string;
  categories: readonly string[];
  /** Weakly labelled attribute type and the regex that labels it. */
  attribute: string;
  pattern: RegExp;
}

// Titles have inch/ounce signs stripped by the source, so sizes read "55-Inch", "7 in".
export const GROUPS: readonly ExtractorGroup[] = [
  {
    name: 'extract-electronics',
    categories: ['audio', 'cameras_photo', 'tv_video', 'phones_radios', 'gps_auto', 'security_surveillance'],
    attribute: 'SIZE',
    // "in" only when not part of "3 in 1"; "inch" whatever follows ("55-Inch 1080p").
    pattern: /\b\d+(?:\.\d+)?(?:\s?-\s?|\s)?(?:inch(?:es)?|in\b\.?(?!\s*-?\s*\d))/gi,
  },
  {
    name: 'extract-computing',
    categories: ['computers', 'networking', 'peripherals', 'storage', 'software', 'printers_ink'],
    attribute: 'CAPACITY',
    pattern: /\b\d+(?:\.\d+)?\s?-?\s?(?:[kmgt]b|gig|gigabytes?|terabytes?)\b/gi,
  },
  {
    name: 'extract-accessories',
    categories: ['cables_power', 'cases_protection', 'office_supplies'],
    attribute: 'LENGTH',
    pattern: /\b\d+(?:\.\d+)?\s?-?\s?(?:ft|feet|foot|meters?|metres?|m|cm)\b/gi,
  },
];

export const ENTITY_TYPES = ['BRAND', 'MPN', 'GTIN'] as const;

/** O, then B-/I- for each entity type and the given attributes. */
export function bioLabels(attributes: readonly string[]): string[] {
  const out = ['O'];
  for (const t of [...ENTITY_TYPES, ...attributes]) out.push(`B-${t}`, `I-${t}`);
  return out;
}

export interface Span {
  type: string;
  start: number;
  end: number;
}

const isAlnum = (c: string): boolean => /[a-z0-9]/i.test(c);

/**
 * First occurrence of `value` in `title` comparing letters and digits only, case-folded
 * (as the data README defines "occurs in title"), starting and ending on a
 * letter/digit run boundary so "HP" does not match inside "HPC".
 */
export function findValue(title: string, value: string): { start: number; end: number } | null {
  const needle = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (needle.length === 0) return null;
  const pos: number[] = [];
  let hay = '';
  for (let i = 0; i < title.length; i++) {
    const c = title.charAt(i);
    if (isAlnum(c)) {
      hay += c.toLowerCase();
      pos.push(i);
    }
  }
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
    const start = pos[at]!;
    const end = pos[at + needle.length - 1]! + 1;
    const before = start === 0 ? ' ' : title.charAt(start - 1);
    const after = end >= title.length ? ' ' : title.charAt(end);
    if (!isAlnum(before) && !isAlnum(after)) return { start, end };
  }
  return null;
}

/** The letters and digits of a value, case-folded: what "exact match" compares. */
export function foldValue(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]/g, '');
}

export function attributeSpans(title: string, group: ExtractorGroup): Span[] {
  const spans: Span[] = [];
  for (const m of title.matchAll(group.pattern)) {
    const start = m.index ?? 0;
    spans.push({ type: group.attribute, start, end: start + m[0].trimEnd().length });
  }
  return spans;
}
