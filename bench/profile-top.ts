/**
 * `tsx bench/profile-top.ts FILE.cpuprofile... [--top N]`: the functions with the most
 * self time in V8 CPU profiles (as `npm run bench -- --cpu-prof DIR` writes them), summed over files.
 * `--by-package` sums by npm package / project file instead of by function; `--last-ms N` keeps
 * only each profile's last N ms (the measured part, not the start-up).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 30;
const byAt = args.indexOf('--by-package');
const byPackage = byAt >= 0 && args.splice(byAt, 1).length > 0;
const lastAt = args.indexOf('--last-ms');
/** Only the samples of a profile's last N ms (the measured part of a run, not the start-up). */
const lastMs = lastAt >= 0 ? Number(args.splice(lastAt, 2)[1]) : Infinity;

/** `node_modules/<pkg>`, a project file, `node:` internals, or the V8 pseudo-frame itself. */
function packageOf(fn: string, url: string): string {
  if (!url) return fn.startsWith('(') ? fn : `native ${fn}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return relative(process.cwd(), url.replace(/^file:\/\//, ''));
}
const self = new Map<string, number>();
let total = 0;
for (const file of args) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const from = p.endTime - lastMs * 1000;
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    at += p.timeDeltas[i] ?? 0;
    if (at < from) return;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const where = url ? `${relative(process.cwd(), url)}:${n.callFrame.lineNumber + 1}` : '';
    const key = byPackage ? packageOf(n.callFrame.functionName, n.callFrame.url) : `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
const busy = total - (self.get('(idle)') ?? 0);
process.stdout.write(`total ${total.toFixed(0)} ms sampled in ${args.length} profile(s), ${busy.toFixed(0)} ms not idle; % of not idle\n`);
// Idle time is not part of "not idle": its row shows no share (it was once printed as over 100 %).
const share = (k: string, ms: number) => (k === '(idle)' ? '    -' : `${((100 * ms) / busy).toFixed(1).padStart(5)}%`);
for (const [k, ms] of rows) process.stdout.write(`${ms.toFixed(0).padStart(7)} ms ${share(k, ms)}  ${k}\n`);
