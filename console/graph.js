// The pipeline graph as SVG, laid out in columns from the server's JSON description.
import { layout, LAYOUT } from './layout.js';

const NS = 'http://www.w3.org/2000/svg';
const el = (name, attrs = {}, text) => {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};

const { W, H } = LAYOUT;

/** Draw `graph` ({nodes, edges}) into `host`; returns update(stats) that writes lag/out per node. */
export function drawGraph(host, graph) {
  // Columns, with a lane through each column an edge passes: no edge through a box (console/layout.js).
  const { width, height, pos, paths } = layout(graph);
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `pipeline ${graph.pipeline}` });
  const defs = el('defs');
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#98a2b3' }));
  defs.append(marker);
  svg.append(defs);
  graph.edges.forEach((e, i) => {
    if (!paths[i]) return;
    const path = el('path', { class: e.fused ? 'edge fused' : 'edge', d: paths[i], 'data-from': e.from, 'data-to': e.to });
    const fusedNote = e.fused ? `; fused: runs in ${e.from}'s batch, ${e.to}'s stream sees only the rest` : '';
    path.append(el('title', {}, `${e.from} → ${e.to} (rule ${e.rules.join(', ')}${fusedNote})`));
    svg.append(path);
  });
  const subs = new Map();
  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    const g = el('g', { class: `node${n.terminal ? ' terminal' : ''}`, transform: `translate(${p.x},${p.y})`, 'data-stage': n.id });
    g.append(el('rect', { width: W, height: H, rx: 6 }));
    g.append(el('text', { x: 8, y: 18 }, n.id));
    const sub = el('text', { x: 8, y: 36, class: 'sub' }, n.terminal ? 'terminal stream' : n.kind);
    g.append(sub);
    subs.set(n.id, sub);
    svg.append(g);
  }
  host.replaceChildren(svg);
  return (sample) => {
    for (const s of sample.stages) {
      const sub = subs.get(s.stage);
      if (sub) sub.textContent = `lag ${s.lag ?? '?'} · pend ${s.pending} · ${s.outRate ?? '–'}/s`;
    }
    for (const t of sample.terminal) {
      const sub = subs.get(t.stream);
      // Items whose entries were trimmed are not "to review" (nothing is left of them): said apart.
      const trimmed = t.trimmed ? ` · ${t.trimmed} trimmed` : '';
      if (sub) sub.textContent = t.open !== undefined ? `${t.open} to review${trimmed} · length ${t.length}` : `length ${t.length}`;
    }
  };
}

/**
 * A small two-line chart (lag and out/s) of a stage's samples, as SVG. A null value (unknown: a
 * rate from a counter that went backwards, lib/ops/rates.ts) is a gap in its line, not a drop to 0.
 */
export function sparkline(points, w = 160, h = 28) {
  const svg = el('svg', { class: 'spark', width: w, height: h, viewBox: `0 0 ${w} ${h}` });
  if (points.length < 2) return svg;
  const t0 = points[0].at,
    t1 = points[points.length - 1].at || t0 + 1;
  const line = (key, cls) => {
    const vals = points.map((p) => p[key] ?? null);
    const max = Math.max(1, ...vals.filter((v) => v !== null));
    const d = points
      .map((p, i) => {
        if (vals[i] === null) return '';
        const move = i === 0 || vals[i - 1] === null ? 'M' : 'L';
        return `${move} ${(((p.at - t0) / (t1 - t0 || 1)) * (w - 2) + 1).toFixed(1)} ${(h - 2 - (vals[i] / max) * (h - 4)).toFixed(1)}`;
      })
      .filter(Boolean)
      .join(' ');
    const path = el('path', { d, class: cls });
    path.append(el('title', {}, `${key}: max ${max}`));
    svg.append(path);
  };
  line('lag', 'lag');
  line('outRate', 'out');
  return svg;
}
