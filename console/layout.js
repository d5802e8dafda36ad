// Where the pipeline graph's boxes and edges go: columns (the server's `column`, the longest path
// from the input), and an edge that skips columns gets a waypoint in each column it passes, a lane
// of its own between that column's boxes, so no edge is drawn through a box (one curve from end to
// end had crossed every box on its way). Boxes and lanes are ordered in each column by where their
// neighbours are (barycentre sweeps), which keeps edges short and crossings few. Pure: no DOM.

/** Box width and height, the gaps between columns and between rows, a lane's height, and the order sweeps. */
export const LAYOUT = { W: 150, H: 46, GX: 56, GY: 14, LANE: 12, SWEEPS: 4 };

/**
 * Lay `graph` ({nodes: [{id, column}], edges: [{from, to}]}) out. Returns the drawing's `width` and
 * `height`, each node's top-left corner (`pos`) and, per edge in order, its SVG path `d` (null when
 * an end is not a node). Edges from a column to an earlier or the same one (routes form a DAG, so
 * none today) go below every box.
 */
export function layout(graph, o = LAYOUT) {
  const { W, H, GX, GY, LANE } = o;
  const columnOf = new Map(graph.nodes.map((n) => [n.id, n.column]));
  const count = Math.max(0, ...graph.nodes.map((n) => n.column)) + 1;
  const columns = Array.from({ length: count }, () => []);
  for (const n of graph.nodes) columns[n.column].push({ id: n.id, h: H });
  const chains = graph.edges.map((e, i) => {
    const a = columnOf.get(e.from);
    const b = columnOf.get(e.to);
    if (a === undefined || b === undefined) return null;
    const ids = [e.from];
    for (let c = a + 1; c < b; c++) {
      const id = `\u0000${i}:${c}`; // a waypoint: never a node's id
      columns[c].push({ id, h: LANE });
      ids.push(id);
    }
    ids.push(e.to);
    return { ids, back: b <= a };
  });
  order(columns, chains, o.SWEEPS);

  const height0 = Math.max(...columns.map((c) => c.reduce((n, it) => n + it.h, 0) + GY * (c.length - 1))) + 2 * GY;
  const at = new Map(); // id -> { x, y: top, h }
  columns.forEach((list, c) => {
    let y = (height0 - (list.reduce((n, it) => n + it.h, 0) + GY * (list.length - 1))) / 2;
    for (const it of list) {
      at.set(it.id, { x: GX / 2 + c * (W + GX), y, h: it.h });
      y += it.h + GY;
    }
  });
  let below = height0; // lanes under every box, one per backward edge
  const paths = chains.map((ch) => {
    if (!ch) return null;
    const mid = (id) => at.get(id).y + at.get(id).h / 2;
    const first = at.get(ch.ids[0]);
    const last = at.get(ch.ids.at(-1));
    if (ch.back) {
      below += LANE;
      const out = first.x + W + GX / 2;
      const back = last.x - GX / 2;
      return `M ${first.x + W} ${mid(ch.ids[0])} L ${out} ${mid(ch.ids[0])} L ${out} ${below} L ${back} ${below} L ${back} ${mid(ch.ids.at(-1))} L ${last.x} ${mid(ch.ids.at(-1))}`;
    }
    // Leave each box or lane on its right, enter the next on its left (a curve in the gap between
    // columns, where no box is), and cross a column only along a lane.
    let d = `M ${first.x + W} ${mid(ch.ids[0])}`;
    for (let i = 1; i < ch.ids.length; i++) {
      const p = at.get(ch.ids[i - 1]);
      const q = at.get(ch.ids[i]);
      const [x1, y1, x2, y2] = [p.x + W, mid(ch.ids[i - 1]), q.x, mid(ch.ids[i])];
      const mx = (x1 + x2) / 2;
      d += ` C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
      if (i < ch.ids.length - 1) d += ` L ${q.x + W} ${y2}`;
    }
    return d;
  });
  const pos = new Map(graph.nodes.map((n) => [n.id, { x: at.get(n.id).x, y: at.get(n.id).y }]));
  return { width: count * (W + GX) + GX, height: below + (below > height0 ? GY : 0), pos, paths };
}

/**
 * Order each column's boxes and lanes by the mean position of their neighbours in the column
 * before (sweeping right) or after (sweeping left), `sweeps` times each way; an item with no
 * neighbour there keeps its place. Positions are fractions of the column (0 top, 1 bottom).
 */
function order(columns, chains, sweeps) {
  const left = new Map();
  const right = new Map();
  const link = (m, a, b) => (m.get(a) ?? m.set(a, []).get(a)).push(b);
  for (const ch of chains) {
    if (!ch || ch.back) continue;
    for (let i = 1; i < ch.ids.length; i++) {
      link(left, ch.ids[i], ch.ids[i - 1]);
      link(right, ch.ids[i - 1], ch.ids[i]);
    }
  }
  const where = new Map();
  const place = (list) => list.forEach((it, i) => where.set(it.id, (i + 0.5) / list.length));
  columns.forEach(place);
  const sort = (list, neighbours) => {
    const key = new Map(
      list.map((it) => {
        const ns = neighbours.get(it.id) ?? [];
        return [it.id, ns.length ? ns.reduce((n, id) => n + where.get(id), 0) / ns.length : where.get(it.id)];
      }),
    );
    list.sort((a, b) => key.get(a.id) - key.get(b.id));
    place(list);
  };
  for (let s = 0; s < sweeps; s++) {
    for (let c = 1; c < columns.length; c++) sort(columns[c], left);
    for (let c = columns.length - 2; c >= 0; c--) sort(columns[c], right);
  }
}
