/**
 * What the model part compares between its two sides, per record: the fields each stage's output
 * gives downstream (category, subcategory, group; brand, model number, GTIN, attributes; the
 * cleaned text), by stage name. Scores and confidences are left out: the model runs on batches of
 * another make-up on each side, which moves floats in their last bits, not decisions.
 */
const COMPARED = ['text', 'category', 'subcategory', 'group', 'brand', 'mpn', 'gtin', 'attributes'] as const;

/** One record's outputs (stage name → output) as a canonical string. */
export function outputDigest(outputs: Readonly<Record<string, unknown>>): string {
  const parts: unknown[] = [];
  for (const stage of Object.keys(outputs).sort()) {
    const o = outputs[stage] as Record<string, unknown> | undefined;
    if (!o || typeof o !== 'object') continue;
    parts.push(
      stage,
      COMPARED.map((f) => (o[f] === undefined ? null : o[f])),
    );
  }
  return JSON.stringify(parts);
}

/** How the two sides' outputs compared: records seen on either side, the same on both, the first that differ. */
export interface OutputComparison {
  compared: number;
  same: number;
  differing: { id: string; project?: string; bare?: string }[];
}

/** Records whose digest differs between the two sides (or is missing on one), first `show` of them by id. */
export function compareDigests(project: ReadonlyMap<string, string>, bare: Readonly<Record<string, string>>, show = 3): OutputComparison {
  const ids = new Set([...project.keys(), ...Object.keys(bare)]);
  const differing: OutputComparison['differing'] = [];
  let same = 0;
  for (const id of ids) {
    const p = project.get(id);
    const b = bare[id];
    if (p !== undefined && p === b) same++;
    else if (differing.length < show) differing.push({ id, project: p, bare: b });
  }
  return { compared: ids.size, same, differing };
}

/** `N of M records give the same fields on both sides` and the first differing ones. */
export function outputsLine(c: OutputComparison): string {
  const head = `${c.same} of ${c.compared} records give the same fields in the pipeline and the bare loop`;
  return c.differing.length === 0
    ? head
    : `${head}; differing: ${c.differing.map((d) => `${d.id} pipeline ${d.project ?? '-'} bare ${d.bare ?? '-'}`).join('; ')}`;
}
