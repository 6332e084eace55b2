// int8 export: static quantization in ONNX's QDQ form, the form ONNX Runtime's graph optimiser turns
// into int8 kernels (Conv -> QLinearConv, Add/Mul -> QLinearAdd/QLinearMul, Sigmoid -> QLinearSigmoid,
// GlobalAveragePool -> QLinearGlobalAveragePool; what it cannot fuse runs in float between its DQ/Q).
//
// - Weights of Conv and Gemm: int8 initializers, symmetric per output channel (axis 0), each read by
//   a DequantizeLinear; biases int32 at scale s_input * s_weight (ORT's Conv selector wants every input
//   of the conv to come from a DequantizeLinear).
// - Activations: uint8, one asymmetric scale/zero point per tensor, a QuantizeLinear after the node
//   that makes the tensor and a DequantizeLinear before each node that reads it. The ranges are
//   calibrated by running the fp32 export itself in ONNX Runtime on the calibration batches with
//   every activation as an extra output: the ranges are those of the very graph being quantized.
// - The graph outputs (logits, pre_logits, feature maps) stay float32 as the fp32 graph computes
//   them from the quantized network: rounding them to uint8 would only add error after the last op.
//
// onnxruntime-node is imported lazily (an optional dependency): without it the fp32 export works and
// this says what to install.
import type { EfficientNet } from '../models/index.js';
import { buildOnnxGraph, ONNX_INPUT_NAME, OnnxExportError, type ExportOnnxOptions } from './export_efficientnet.js';
import { DataType, type GraphBuilder, type InitializerInfo, type NodeData } from './graph.js';

type Ort = typeof import('onnxruntime-node');

/** A calibration batch: float32 [N, C, H, W], preprocessed as the model's inputs are. */
export interface CalibrationBatch {
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
}

export interface QuantizeOptions {
  /** The calibration batches, or a function giving them (sync or async iterable: read lazily, one at a time). */
  readonly calibration: readonly CalibrationBatch[] | (() => Iterable<CalibrationBatch> | AsyncIterable<CalibrationBatch>);
  /** Activation ranges: 'minmax' (default) or 'percentile' (the percentile-th / (100 - percentile)-th value). */
  readonly method?: 'minmax' | 'percentile';
  /** For method 'percentile': default 99.99. */
  readonly percentile?: number;
  /** Weight scales per output channel (default true) or one per tensor. */
  readonly perChannel?: boolean;
  /** Weights in 7 bits ([-63, 63]): for x86 CPUs without VNNI, where u8s8 products can saturate (default false). */
  readonly reduceRange?: boolean;
  /** ONNX Runtime intra-op threads while calibrating (default 2). */
  readonly threads?: number;
}

export interface ExportOnnxInt8Options extends ExportOnnxOptions {
  readonly quantize: QuantizeOptions;
}

/** A tensor's observed range [lo, hi]. */
export type Ranges = Map<string, { lo: number; hi: number }>;

const QUANT_OPS_WITH_WEIGHTS = new Set(['Conv', 'Gemm']);
// Ops that only move values: their output takes the input's quantization (ORT drops their Q/DQ pairs).
const SHAPE_OPS = new Set(['Flatten', 'Reshape', 'Identity']);
// A sub-batch bounds the memory of fetching every activation at once (b0 at 224: ~40 MB per image).
const CALIBRATION_SUB_BATCH = 4;
// Percentiles from an evenly strided sample of a tensor's values (sorting all of a batch's values is slow).
const PERCENTILE_SAMPLE = 1 << 18;

async function loadOrt(): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new OnnxExportError(
      `export-onnx: int8 quantization calibrates in ONNX Runtime, and the optional dependency onnxruntime-node could not be loaded ` +
        `(${(e as Error).message.split('\n')[0]}): npm install onnxruntime-node`,
    );
  }
}

/** The activations a quantized graph carries as uint8: the input and every node output some non-Identity node reads. */
function activationConsumers(g: GraphBuilder): Map<string, NodeData[]> {
  const inits = g.initializerMap();
  const consumers = new Map<string, NodeData[]>();
  for (const n of g.nodeList()) {
    if (n.opType === 'Identity') continue;
    for (const v of n.input) {
      if (inits.has(v) || v === '') continue;
      const list = consumers.get(v) ?? [];
      list.push(n);
      consumers.set(v, list);
    }
  }
  return consumers;
}

function quantile(sorted: Float32Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

/** Accumulates each tensor's range over the calibration sub-batches. */
class RangeObserver {
  private readonly acc = new Map<string, { lo: number; hi: number; weight: number }>();
  constructor(
    private readonly method: 'minmax' | 'percentile',
    private readonly percentile: number,
  ) {}

  observe(name: string, data: Float32Array, images: number): void {
    let lo: number;
    let hi: number;
    if (this.method === 'minmax' || data.length < 2) {
      lo = Infinity;
      hi = -Infinity;
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    } else {
      const stride = Math.max(1, Math.floor(data.length / PERCENTILE_SAMPLE));
      const sample = new Float32Array(Math.ceil(data.length / stride));
      for (let i = 0, j = 0; i < data.length; i += stride, j++) sample[j] = data[i]!;
      sample.sort();
      lo = quantile(sample, 1 - this.percentile / 100);
      hi = quantile(sample, this.percentile / 100);
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new OnnxExportError(`export-onnx: calibration: ${name} has non-finite values`);
    const a = this.acc.get(name);
    if (!a) this.acc.set(name, { lo, hi, weight: images });
    else if (this.method === 'minmax') {
      a.lo = Math.min(a.lo, lo);
      a.hi = Math.max(a.hi, hi);
    } else {
      // Percentile ranges: the image-weighted mean of the sub-batches' percentiles.
      const w = a.weight + images;
      a.lo = (a.lo * a.weight + lo * images) / w;
      a.hi = (a.hi * a.weight + hi * images) / w;
      a.weight = w;
    }
  }

  ranges(): Ranges {
    return new Map([...this.acc].map(([k, v]) => [k, { lo: v.lo, hi: v.hi }]));
  }
}

async function* batchesOf(c: QuantizeOptions['calibration']): AsyncIterable<CalibrationBatch> {
  const src = typeof c === 'function' ? c() : c;
  for await (const b of src as AsyncIterable<CalibrationBatch>) yield b;
}

/** Run the fp32 graph on the calibration data with every activation as an output; their ranges. */
export async function calibrate(g: GraphBuilder, header: Parameters<GraphBuilder['encode']>[0], q: QuantizeOptions): Promise<Ranges> {
  const method = q.method ?? 'minmax';
  const percentile = q.percentile ?? 99.99;
  if (method !== 'minmax' && method !== 'percentile')
    throw new OnnxExportError(`export-onnx: unknown calibration method ${String(method)}`);
  if (!(percentile > 50 && percentile <= 100)) throw new OnnxExportError(`export-onnx: percentile ${percentile} is not in (50, 100]`);
  const ort = await loadOrt();
  const consumers = activationConsumers(g);
  const probe = g.clone();
  const outputs = new Set(g.graphOutputNames());
  const fetch = [...consumers.keys()].filter((v) => v !== ONNX_INPUT_NAME);
  for (const v of fetch) if (!outputs.has(v)) probe.exposeValue(v, DataType.FLOAT);
  const session = await ort.InferenceSession.create(probe.encode(header), {
    graphOptimizationLevel: 'disabled', // the values of the graph as written, not of fused kernels
    intraOpNumThreads: q.threads ?? 2,
  });
  const observer = new RangeObserver(method, percentile);
  let images = 0;
  try {
    for await (const b of batchesOf(q.calibration)) {
      const [n, c, h, w] = b.dims;
      const per = c * h * w;
      if (b.data.length !== n * per)
        throw new OnnxExportError(`export-onnx: calibration batch has ${b.data.length} values for [${b.dims.join(', ')}]`);
      for (let i = 0; i < n; i += CALIBRATION_SUB_BATCH) {
        const k = Math.min(CALIBRATION_SUB_BATCH, n - i);
        const x = b.data.subarray(i * per, (i + k) * per);
        observer.observe(ONNX_INPUT_NAME, x, k);
        const r = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', x, [k, c, h, w]) }, fetch);
        for (const v of fetch) {
          const t = r[v]!;
          observer.observe(v, t.data as Float32Array, k);
          t.dispose();
        }
        images += k;
      }
    }
  } finally {
    await session.release();
  }
  if (images === 0) throw new OnnxExportError('export-onnx: int8 quantization needs calibration images; none were given');
  return observer.ranges();
}

/** uint8 asymmetric parameters of a range (0 exactly representable, as ONNX requires for zero padding). */
export function activationParams(r: { lo: number; hi: number }): { scale: number; zeroPoint: number } {
  const lo = Math.min(r.lo, 0);
  const hi = Math.max(r.hi, 0);
  const scale = Math.fround((hi - lo) / 255) || 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

function floatsOf(init: InitializerInfo): Float32Array {
  const b = init.rawData;
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Symmetric int8 weights: one scale per output channel (axis 0) or per tensor. */
export function quantizeWeights(
  w: Float32Array,
  channels: number,
  perChannel: boolean,
  qmax: number,
): { q: Int8Array; scales: Float32Array } {
  const per = w.length / channels;
  const groups = perChannel ? channels : 1;
  const size = perChannel ? per : w.length;
  const scales = new Float32Array(groups);
  const q = new Int8Array(w.length);
  for (let c = 0; c < groups; c++) {
    let m = 0;
    for (let i = c * size; i < (c + 1) * size; i++) m = Math.max(m, Math.abs(w[i]!));
    const s = Math.fround(m / qmax) || 1;
    scales[c] = s;
    for (let i = c * size; i < (c + 1) * size; i++) q[i] = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / s)));
  }
  return { q, scales };
}

/** The QDQ rewrite of an fp32 graph with calibrated ranges (in place). */
export function insertQdq(g: GraphBuilder, ranges: Ranges, q: Pick<QuantizeOptions, 'perChannel' | 'reduceRange'>): void {
  const perChannel = q.perChannel ?? true;
  const qmax = q.reduceRange ? 63 : 127;
  const inits = g.initializerMap();
  const consumers = activationConsumers(g);
  const nodes = g.nodeList();
  // Ops that only move values share their input's parameters (ORT removes their Q/DQ pairs only then).
  for (const n of nodes) {
    if (SHAPE_OPS.has(n.opType) && ranges.has(n.input[0]!)) ranges.set(n.output[0]!, ranges.get(n.input[0]!)!);
  }
  const params = new Map<string, { scale: number; scaleName: string; zpName: string; quantized: string }>();
  const out: NodeData[] = [];
  const emitQuantize = (v: string): void => {
    if (!consumers.has(v)) return;
    const r = ranges.get(v);
    if (!r) throw new OnnxExportError(`export-onnx: calibration saw no values of ${v}`);
    const { scale, zeroPoint } = activationParams(r);
    const scaleName = g.scalar(`${v}.scale`, scale);
    const zpName = g.initializer(`${v}.zero_point`, [], Uint8Array.of(zeroPoint), DataType.UINT8);
    const name = g.unique(`${v}/QuantizeLinear`);
    const quantized = g.unique(`${v}.quantized`);
    out.push({ opType: 'QuantizeLinear', input: [v, scaleName, zpName], output: [quantized], name, attribute: [] });
    params.set(v, { scale, scaleName, zpName, quantized });
  };
  const dequantize = (base: string, input: readonly string[], axis: number | null): string => {
    const name = g.unique(`${base}/DequantizeLinear`);
    const o = g.unique(`${base}.dequantized`);
    const attribute = axis === null ? [] : [{ name: 'axis', type: 2, i: axis }];
    out.push({ opType: 'DequantizeLinear', input: [...input], output: [o], name, attribute });
    return o;
  };

  emitQuantize(ONNX_INPUT_NAME);
  for (const n of nodes) {
    const inputs = [...n.input];
    const weighted = QUANT_OPS_WITH_WEIGHTS.has(n.opType);
    const xp = params.get(n.input[0]!);
    if (n.opType !== 'Identity') {
      inputs.forEach((v, i) => {
        const p = params.get(v);
        if (p) {
          inputs[i] = dequantize(`${n.name}.in${i}`, [p.quantized, p.scaleName, p.zpName], null);
          return;
        }
        const init = inits.get(v);
        if (!weighted || !init || init.dataType !== DataType.FLOAT || !xp) return;
        if (i === 1) {
          const channels = init.dims[0]!;
          const { q: qw, scales } = quantizeWeights(floatsOf(init), channels, perChannel, qmax);
          const wq = g.initializer(`${v}.int8`, init.dims, qw, DataType.INT8);
          const s = perChannel ? g.floats(`${v}.scale`, [channels], scales) : g.scalar(`${v}.scale`, scales[0]!);
          const zp = perChannel
            ? g.initializer(`${v}.zero_point`, [channels], new Int8Array(channels), DataType.INT8)
            : g.initializer(`${v}.zero_point`, [], new Int8Array(1), DataType.INT8);
          inputs[i] = dequantize(v, [wq, s, zp], perChannel ? 0 : null);
        }
      });
      // The bias: int32 at the scale of input x weight (so the int8 kernel adds it to its int32 sums).
      if (weighted && xp && inputs.length > 2) {
        const b = inits.get(n.input[2]!);
        const w = inits.get(n.input[1]!);
        if (b && w && b.dataType === DataType.FLOAT) {
          const bias = floatsOf(b);
          const { scales } = quantizeWeights(floatsOf(w), w.dims[0]!, perChannel, qmax);
          const bs = new Float32Array(bias.length);
          const bq = new Int32Array(bias.length);
          for (let c = 0; c < bias.length; c++) {
            bs[c] = Math.fround(xp.scale * scales[perChannel ? c : 0]!);
            bq[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(bias[c]! / bs[c]!)));
          }
          const bqName = g.initializer(`${b.name}.int32`, b.dims, bq, DataType.INT32);
          const bsName = g.floats(`${b.name}.scale`, [bias.length], bs);
          const bzName = g.initializer(`${b.name}.zero_point`, [bias.length], new Int32Array(bias.length), DataType.INT32);
          inputs[2] = dequantize(b.name, [bqName, bsName, bzName], 0);
        }
      }
    }
    out.push({ ...n, input: inputs });
    for (const o of n.output) emitQuantize(o);
  }
  g.setNodes(out);
  g.pruneInitializers();
}

/** The model as an int8 QDQ ONNX graph, calibrated on the given batches (see the file comment). */
export async function exportOnnxInt8(model: EfficientNet, opts: ExportOnnxInt8Options): Promise<Uint8Array> {
  const { quantize, ...rest } = opts;
  if (!quantize || !quantize.calibration) throw new OnnxExportError('export-onnx: int8 export needs quantize.calibration batches');
  const { graph, header } = buildOnnxGraph(model, rest);
  const ranges = await calibrate(graph, header, quantize);
  insertQdq(graph, ranges, quantize);
  const metadata = {
    ...header.metadata,
    precision: 'int8',
    quantization: JSON.stringify({
      format: 'QDQ',
      weights: `int8 symmetric ${quantize.perChannel === false ? 'per tensor' : 'per output channel'}${quantize.reduceRange ? ' (7-bit)' : ''}`,
      activations: 'uint8 asymmetric per tensor',
      calibration: quantize.method === 'percentile' ? `percentile ${quantize.percentile ?? 99.99}` : 'minmax',
    }),
  };
  return graph.encode({ ...header, metadata, docString: `${header.docString ?? ''}; int8 static quantization (QDQ)` });
}
