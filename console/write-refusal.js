// The amber banner while Redis refuses writes because it cannot persist to disk (MISCONF: a full disk, a failed
// save; lib/ops/write-refusal.ts) or because it is full (OOM, lib/console/sample-lease.ts): an outage, nothing lost (the red banner, data-loss.js, is for data gone). On
// every tab while the samples say so; the first sample taken once Redis takes writes again removes it.
import { $ } from './ui.js';

/** A live sample (lib/console/sampler.ts `writeRefusalLine`: the refusal and what to do, or null). */
export function showWriteRefusal(sample) {
  const line = sample.writeRefusalLine ?? '';
  const banner = $('#write-refusal');
  banner.hidden = !line;
  if (banner.textContent !== line) banner.textContent = line;
}
