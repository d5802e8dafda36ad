/**
 * Fine-category (subcategory) scoring: the truth label of a row is `<category>/<source_category>`
 * when the model has that label, else `<category>/*` (too rare to learn: falls back to coarse).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FineScores {
  n: number;
  top1: number;
  top3: number;
  /** Rows whose truth is a learnt subcategory (not a residual). */
  learnt: number;
}

/** id2label of a model folder, or [] when it has none. */
export function modelLabels(modelsDir: string, name: string): string[] {
  const path = join(modelsDir, name, 'config.json');
  if (!existsSync(path)) return [];
  const id2label = (JSON.parse(readFileSync(path, 'utf8')) as { id2label?: Record<string, string> }).id2label ?? {};
  return Object.keys(id2label)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => id2label[k]!);
}

/**
 * The truth label of a row (`labels`: foldedLabels). The source category is matched with case and surrounding spaces folded
 * (the model's labels are the data set's lower-cased ones: another retailer's "Headphones" is
 * audio/headphones; it had been scored as audio/*, so a right prediction counted wrong).
 */
export function fineTruth(labels: ReadonlyMap<string, string>, category: string, sourceCategory: string): string {
  return labels.get(`${category}/${sourceCategory.trim()}`.toLowerCase()) ?? `${category}/*`;
}

/** The labels by their case-folded spelling, as fineTruth takes them. */
export const foldedLabels = (labels: readonly string[]): Map<string, string> => new Map(labels.map((l) => [l.toLowerCase(), l]));

export function scoreFine(
  labels: readonly string[],
  rows: readonly { category: string; sourceCategory?: string; top: readonly string[] | undefined }[],
): FineScores | null {
  const folded = foldedLabels(labels);
  if (!labels.some((l) => l.includes('/'))) return null;
  const scored = rows.filter((r) => r.sourceCategory !== undefined);
  let top1 = 0;
  let top3 = 0;
  let learnt = 0;
  for (const r of scored) {
    const truth = fineTruth(folded, r.category, r.sourceCategory!);
    if (!truth.endsWith('/*')) learnt++;
    if (r.top?.[0] === truth) top1++;
    if (r.top?.slice(0, 3).includes(truth)) top3++;
  }
  const n = Math.max(1, scored.length);
  return scored.length === 0 ? null : { n: scored.length, top1: top1 / n, top3: top3 / n, learnt };
}
