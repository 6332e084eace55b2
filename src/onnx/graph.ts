// A small builder over onnx-proto's message types: nodes, initializers and value infos with unique
// names, then one ModelProto encoded by protobufjs. All wire encoding is the package's; this file
// only fills the messages.
import { createRequire } from 'node:module';

// onnx-proto is protobufjs 6 static code in CommonJS; its namespace object is `onnx`.
const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { onnx } = require('onnx-proto') as { onnx: any };

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** A dim is a fixed size or a named symbolic one (dim_param). */
export type Dim = number | string;

export type AttrValue = number | string | readonly number[] | { readonly float: number } | { readonly ints: readonly number[] };

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, v: AttrValue): unknown {
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; pass { float: ${v} }`);
    return { name, type: ATTR.INT, i: v };
  }
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  const ints = 'ints' in v ? v.ints : (v as readonly number[]);
  return { name, type: ATTR.INTS, ints: [...ints] };
}

/** A value's type; dims null leaves the shape out (the runtime infers it: calibration outputs). */
function valueInfo(name: string, elemType: DataTypeCode, dims: readonly Dim[] | null): unknown {
  const shape = dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {};
  return { name, type: { tensorType: { elemType, ...shape } } };
}

export type InitializerData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

/** A node as onnx-proto's NodeProto fields (what the quantizer reads and rewrites). */
export interface NodeData {
  readonly opType: string;
  readonly input: readonly string[];
  readonly output: readonly string[];
  readonly name: string;
  readonly attribute: readonly unknown[];
}
export interface InitializerInfo {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: DataTypeCode;
  /** The values, little-endian (as raw_data holds them). */
  readonly rawData: Uint8Array;
}

function rawBytes(data: InitializerData): Uint8Array {
  // ONNX raw_data is little-endian; so is every platform Node runs these models on (x86-64, arm64).
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export class GraphBuilder {
  private nodes: NodeData[] = [];
  private initializers: InitializerInfo[] = [];
  private readonly inputs: unknown[] = [];
  private readonly outputs: unknown[] = [];
  private readonly outputNames: string[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /** A copy to extend (the quantizer's calibration graph); nodes and initializers are shared read-only data. */
  clone(): GraphBuilder {
    const c = new GraphBuilder();
    c.nodes = [...this.nodes];
    c.initializers.push(...this.initializers);
    c.inputs.push(...this.inputs);
    c.outputs.push(...this.outputs);
    c.outputNames.push(...this.outputNames);
    for (const n of this.used) c.used.add(n);
    c.counter = this.counter;
    return c;
  }

  /** The nodes in order (each input defined before it is used). */
  nodeList(): readonly NodeData[] {
    return this.nodes;
  }

  /** Replace the node list (a rewrite that keeps the graph's values; its new names come from unique()). */
  setNodes(nodes: readonly NodeData[]): void {
    this.nodes = [...nodes];
  }

  /** Drop the initializers no node reads (a rewrite's replaced weights), so the file does not carry them. */
  pruneInitializers(): void {
    const read = new Set(this.nodes.flatMap((n) => n.input));
    this.initializers = this.initializers.filter((i) => read.has(i.name));
  }

  initializerMap(): ReadonlyMap<string, InitializerInfo> {
    return new Map(this.initializers.map((i) => [i.name, i]));
  }

  graphOutputNames(): readonly string[] {
    return this.outputNames;
  }

  /** An extra graph output of an existing value with its shape left to the runtime (calibration reads every activation). */
  exposeValue(value: string, elemType: DataTypeCode): void {
    this.outputs.push(valueInfo(value, elemType, null));
    this.outputNames.push(value);
  }

  /** A name no other value or node of this graph has: `base`, else `base_1`, `base_2`, ... */
  unique(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, elemType: DataTypeCode, dims: readonly Dim[]): string {
    const n = this.unique(name);
    if (n !== name) throw new Error(`graph input name ${name} is taken`);
    this.inputs.push(valueInfo(n, elemType, dims));
    return n;
  }

  /** Declare `value` a graph output named `name` (through an Identity when the names differ). */
  output(value: string, name: string, elemType: DataTypeCode, dims: readonly Dim[]): void {
    let v = value;
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`graph output name ${name} is taken`);
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.unique(`${name}/Identity`), attribute: [] });
      v = name;
    }
    this.outputs.push(valueInfo(v, elemType, dims));
    this.outputNames.push(v);
  }

  initializer(base: string, dims: readonly number[], data: InitializerData, dataType: DataTypeCode): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${base}: ${data.length} values for dims [${dims.join(', ')}]`);
    const name = this.unique(base);
    this.initializers.push({ name, dims: [...dims], dataType, rawData: rawBytes(data) });
    return name;
  }

  floats(base: string, dims: readonly number[], data: Float32Array): string {
    return this.initializer(base, dims, data, DataType.FLOAT);
  }

  ints64(base: string, values: readonly number[]): string {
    return this.initializer(base, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), DataType.INT64);
  }

  scalar(base: string, value: number): string {
    return this.initializer(base, [], Float32Array.of(value), DataType.FLOAT);
  }

  /** Add a node; returns its first output's name (outputs are named `${name}/${opType}` unless given). */
  node(
    opType: string,
    inputs: readonly string[],
    opts: { name?: string; attrs?: Readonly<Record<string, AttrValue>>; outputs?: number } = {},
  ): string {
    const nodeName = this.unique(`${opts.name ?? 'node'}/${opType}`);
    const outs = Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.unique(i === 0 ? `${nodeName}:0` : `${nodeName}:${i}`));
    const attribute_ = Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: [...inputs], output: outs, name: nodeName, attribute: attribute_ });
    return outs[0]!;
  }

  /** The model's bytes. */
  encode(o: {
    graphName: string;
    opset: number;
    producerVersion: string;
    metadata: Readonly<Record<string, string>>;
    docString?: string;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      // IR version 8 goes with opsets up to 18, 9 with 19-20 (onnx's versioning table).
      irVersion: o.opset >= 19 ? 9 : 8,
      producerName: 'noisy-student',
      producerVersion: o.producerVersion,
      opsetImport: [{ domain: '', version: o.opset }],
      docString: o.docString ?? '',
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: o.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish() as Uint8Array;
  }
}

/** Decode an ONNX model's bytes (for reading metadata and checking structure). */
export function decodeModel(bytes: Uint8Array): {
  opsetImport: { version: number }[];
  metadataProps: { key: string; value: string }[];
  graph: { node: { opType: string }[]; input: { name: string }[]; output: { name: string }[] };
} {
  // Plain objects with int64 fields as numbers (every int64 an EfficientNet graph holds is small).
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number, defaults: false });
}
