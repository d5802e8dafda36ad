/**
 * Running the robustness slices through the pipeline: each slice member whose title differs
 * from what the row already sent is sent once more as its own record (`<id>~<slice>`, `~` added
 * while a row's own id is spelt so), and
 * every slice is scored for the pipeline and for the baseline on the same titles.
 */
import type { LabelledRow } from './dataset.js';
import { makeSlices, SLICE_NAMES, type SliceName } from './slices.js';

export const VARIANT_SEPARATOR = '~';

export interface PlannedMember {
  /** Source row. */
  row: LabelledRow;
  /** Title in this slice. */
  title: string;
  /** Record id whose prediction scores this member: the row's own when the title is unchanged. */
  recordId: string;
}

export interface PlannedSlice {
  name: SliceName;
  members: PlannedMember[];
}

export class SliceError extends Error {
  override name = 'SliceError';
}

/** Parses `--slices`: "all", "none" or a comma-separated list of slice names. */
export function parseSliceNames(value: string | undefined): SliceName[] {
  if (value === undefined || value === 'all') return [...SLICE_NAMES];
  if (value === 'none') return [];
  const names = value.split(',').map((s) => s.trim());
  // An empty value, `,` or `none,` (a variable left unset) had run as --slices none: say what the option takes.
  if (names.includes(''))
    throw new SliceError(
      `--slices ${JSON.stringify(value)}: ${value.trim() === '' ? 'empty' : 'an empty name in the list'}; all, none, or a comma list of ${SLICE_NAMES.join(', ')}`,
    );
  // "all" and "none" stand alone: in a list, "none,lower-case" had been refused as an unknown slice "none".
  for (const n of names)
    if (n === 'all' || n === 'none')
      throw new SliceError(`--slices ${value}: ${n} stands alone, not in a list (all, none, or a list of ${SLICE_NAMES.join(', ')})`);
  for (const n of names)
    if (!(SLICE_NAMES as readonly string[]).includes(n)) throw new SliceError(`unknown slice ${n}; one of ${SLICE_NAMES.join(', ')}, all, none`);
  return names as SliceName[];
}

/** The slices and the extra records (id, title) they need sent through the pipeline. */
export function planSlices(
  rows: readonly LabelledRow[],
  trainBrands: ReadonlySet<string>,
  names: readonly SliceName[],
): { slices: PlannedSlice[]; extra: { id: string; title: string }[] } {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const taken = new Set(byId.keys());
  const source = rows.map((r) => ({ id: r.id, title: r.sourceTitle, category: r.category, brand: r.brand, mpn: r.mpn }));
  const extra: { id: string; title: string }[] = [];
  const slices = makeSlices(source, trainBrands)
    .filter((s) => names.includes(s.name))
    .map((s) => ({
      name: s.name,
      members: s.members.map((m) => {
        const row = byId.get(m.id)!;
        if (m.title === row.title) return { row, title: m.title, recordId: row.id };
        // A row's own id may be spelt like a variant's ("x~lower-case"): one record id for two would score one prediction twice.
        let recordId = `${row.id}${VARIANT_SEPARATOR}${s.name}`;
        while (taken.has(recordId)) recordId += VARIANT_SEPARATOR;
        taken.add(recordId);
        extra.push({ id: recordId, title: m.title });
        return { row, title: m.title, recordId };
      }),
    }));
  return { slices, extra };
}

export interface SliceScore {
  name: string;
  n: number;
  /** Pipeline accuracy on the slice's titles. */
  accuracy: number;
  /** Baseline accuracy on the same titles. */
  baseline: number;
  /** Pipeline accuracy on the same rows with their titles unchanged (for contrast). */
  unchanged: number;
}

export function scoreSlice(
  name: string,
  members: readonly PlannedMember[],
  predicted: (recordId: string) => string | undefined,
  baseline: (title: string) => string,
): SliceScore {
  const acc = (hit: (m: PlannedMember) => boolean): number => members.filter(hit).length / Math.max(1, members.length);
  return {
    name,
    n: members.length,
    accuracy: acc((m) => predicted(m.recordId) === m.row.category),
    baseline: acc((m) => baseline(m.title) === m.row.category),
    unchanged: acc((m) => predicted(m.row.id) === m.row.category),
  };
}
