/**
 * Int8 embedding tables with one float scale per row (symmetric). The tables are
 * most of each model's bytes; int8 makes them 4x smaller at no measurable cost.
 */
export interface QuantizedTable {
  q: Int8Array;
  /** One scale per row: value = q · scale. */
  scale: Float32Array;
}

export function quantizeRows(table: Float32Array, rowSize: number): QuantizedTable {
  const rows = table.length / rowSize;
  const q = new Int8Array(table.length);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let i = r * rowSize; i < (r + 1) * rowSize; i++) max = Math.max(max, Math.abs(table[i]!));
    const s = max > 0 ? max / 127 : 1;
    scale[r] = s;
    for (let i = r * rowSize; i < (r + 1) * rowSize; i++) q[i] = Math.round(table[i]! / s);
  }
  return { q, scale };
}

/** The float values the ONNX graph computes from a quantised table (Cast then Mul). */
export function dequantizeRows({ q, scale }: QuantizedTable, rowSize: number): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i]! * scale[Math.floor(i / rowSize)]!;
  return out;
}
