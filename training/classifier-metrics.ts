/** Build-time figures of product-category on a labelled set (dev, the held-out part of train). */
import type { ProductRow } from './data.js';
import { predictEnsemble, type ShippedEnsemble } from './ensemble-predict.js';
import type { FineLabels } from './fine-labels.js';
import { CATEGORIES } from './labels.js';
import type { Vocab } from './tokenizer.js';
import { expectedCalibrationError } from './eval/calibration.js';

const argmax = (p: Float32Array): number => p.reduce((b, v, i) => (v > p[b]! ? i : b), 0);
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** `<prefix>_accuracy`, `_ece` (15 bins), `_fine_top1`, `_fine_top3`, `_rows` of `rows`. */
export function classifierMetrics(m: ShippedEnsemble, vocab: Vocab, fine: FineLabels, rows: readonly ProductRow[], prefix: string): Record<string, number> {
  const score = (rows: readonly ProductRow[]) => {
    let correct = 0;
    let fineTop1 = 0;
    let fineTop3 = 0;
    const calib: { confidence: number; correct: boolean }[] = [];
    for (const r of rows) {
      const p = predictEnsemble(m, vocab, r.title);
      const c = argmax(p.coarse);
      const ok = CATEGORIES[c] === r.category;
      if (ok) correct++;
      calib.push({ confidence: p.coarse[c]!, correct: ok });
      const truth = fine.of(r);
      const order = Array.from(p.labels.keys()).sort((a, b) => p.labels[b]! - p.labels[a]! || a - b);
      if (order[0] === truth) fineTop1++;
      if (order.slice(0, 3).includes(truth)) fineTop3++;
    }
    const n = Math.max(1, rows.length);
    return { accuracy: r4(correct / n), ece: r4(expectedCalibrationError(calib, 15)), fineTop1: r4(fineTop1 / n), fineTop3: r4(fineTop3 / n) };
  };
  const d = score(rows);
  return {
    [`${prefix}_accuracy`]: d.accuracy,
    [`${prefix}_ece`]: d.ece,
    [`${prefix}_fine_top1`]: d.fineTop1,
    [`${prefix}_fine_top3`]: d.fineTop3,
    [`${prefix}_rows`]: rows.length,
  };
}
