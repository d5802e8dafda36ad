/** The stored products `npm start` shows as examples, and how each is printed. */

/** A stored product document, as far as the summary reads it. */
export interface StoredDoc {
  route: string[];
  input: { id: string; title: string };
  outputs: Record<string, Record<string, unknown>>;
}

/** A title of at most `max` characters: a longer one is cut at a word boundary (mid-word when it has none) and ends in `…`. */
export function shortTitle(title: string, max = 70): string {
  if (title.length <= max) return title;
  const cut = title.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** One stored product as a line: title (shortTitle) → what the pipeline found. */
export function exampleLine(doc: StoredDoc): string {
  const found: Record<string, unknown> = {};
  for (const o of Object.values(doc.outputs)) {
    for (const f of ['category', 'brand', 'mpn', 'gtin', 'gtinValid', 'attributes', 'duplicateOf'] as const) if (o[f] !== undefined) found[f] = o[f];
  }
  return `    ${shortTitle(doc.input.title)}\n      → ${JSON.stringify(found)}`;
}

/** Picks, from the products offered in any order, the first two with a model number and the first with a barcode (shown last). */
export class ExamplePicker {
  private readonly withMpn: StoredDoc[] = [];
  private withGtin: StoredDoc | undefined;

  offer(doc: StoredDoc): void {
    const has = (field: string): boolean => Object.values(doc.outputs).some((o) => o[field] !== undefined);
    if (has('gtin')) this.withGtin ??= doc;
    else if (has('mpn') && this.withMpn.length < 2) this.withMpn.push(doc);
  }

  get picked(): StoredDoc[] {
    return this.withGtin ? [...this.withMpn, this.withGtin] : [...this.withMpn];
  }
}
