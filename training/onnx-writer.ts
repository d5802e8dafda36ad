/**
 * Builds ONNX models (IR version 8, default-domain opset 13) as bytes, with the
 * field numbers of onnx.proto. Weights are stored as initializers (raw_data, little-endian).
 */
import { ProtoWriter } from './protobuf.js';

export const IR_VERSION = 8;
export const OPSET = 13;

/** TensorProto.DataType values used here. */
export const DType = { FLOAT: 1, INT8: 3, INT64: 7 } as const;
export type DType = (typeof DType)[keyof typeof DType];

export type Dim = number | string;
export type TensorData = Float32Array | Int8Array | BigInt64Array;
export type AttrValue = number | number[] | { float: number };

interface NodeDef {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

interface ValueDef {
  name: string;
  type: DType;
  dims: Dim[];
}

interface InitDef {
  name: string;
  type: DType;
  dims: number[];
  data: TensorData;
}

export class OnnxGraphError extends Error {
  override name = 'OnnxGraphError';
}

function rawBytes(data: TensorData): Uint8Array {
  const out = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else if (data instanceof Int8Array) data.forEach((v, i) => view.setInt8(i, v));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return DType.FLOAT;
  if (data instanceof Int8Array) return DType.INT8;
  return DType.INT64;
}

export class OnnxGraph {
  private nodes: NodeDef[] = [];
  private inputs: ValueDef[] = [];
  private outputs: ValueDef[] = [];
  private inits: InitDef[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, type: DType, dims: Dim[]): string {
    this.inputs.push({ name, type, dims });
    return name;
  }

  output(name: string, type: DType, dims: Dim[]): void {
    this.outputs.push({ name, type, dims });
  }

  /** Adds a weight; returns its name. */
  init(name: string, dims: number[], data: TensorData): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new OnnxGraphError(`initializer ${name}: dims ${dims} hold ${size} values, got ${data.length}`);
    this.inits.push({ name, type: dtypeOf(data), dims, data });
    return name;
  }

  /** int64 constant (axes, shapes). */
  ints(name: string, values: number[]): string {
    return this.init(name, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  /** Adds a node with one output; returns the output name (generated unless given). */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? `${op.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }

  toBytes(producer: string): Uint8Array {
    const w = new ProtoWriter();
    w.int(1, IR_VERSION);
    w.string(2, producer);
    w.message(7, (g) => this.writeGraph(g));
    w.message(8, (o) => o.string(1, '').int(2, OPSET));
    return w.finish();
  }

  private writeGraph(g: ProtoWriter): void {
    for (const n of this.nodes) {
      g.message(1, (p) => {
        for (const i of n.inputs) p.string(1, i);
        for (const o of n.outputs) p.string(2, o);
        p.string(3, `${n.outputs[0]}_node`);
        p.string(4, n.op);
        for (const [key, value] of Object.entries(n.attrs)) p.message(5, (a) => writeAttr(a, key, value));
      });
    }
    g.string(2, this.name);
    for (const t of this.inits) {
      g.message(5, (p) => {
        for (const d of t.dims) p.int(1, d);
        p.int(2, t.type);
        p.string(8, t.name);
        p.bytes(9, rawBytes(t.data));
      });
    }
    for (const v of this.inputs) g.message(11, (p) => writeValueInfo(p, v));
    for (const v of this.outputs) g.message(12, (p) => writeValueInfo(p, v));
  }
}

// AttributeProto.AttributeType: FLOAT = 1, INT = 2, INTS = 7.
function writeAttr(a: ProtoWriter, name: string, value: AttrValue): void {
  a.string(1, name);
  if (typeof value === 'number') {
    a.int(3, value).int(20, 2);
  } else if (Array.isArray(value)) {
    for (const v of value) a.int(8, v);
    a.int(20, 7);
  } else {
    a.float(2, value.float).int(20, 1);
  }
}

function writeValueInfo(p: ProtoWriter, v: ValueDef): void {
  p.string(1, v.name);
  p.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.type);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}
