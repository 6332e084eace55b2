// An EfficientNet as an ONNX graph. The graph is built from the fused plan (models/fused_plan.ts):
// the eval forward with every BatchNorm already folded into its conv (float64 math, one rounding),
// so an exported conv is one Conv node with a bias and the activation after it, which ONNX Runtime
// fuses (Conv + activation) the way it fuses torch.onnx's graphs.
//
// TF "SAME" padding (timm's Conv2dSame) is `auto_pad = SAME_UPPER`: ONNX defines it as TF does
// (output = ceil(in / stride), the odd pixel padded at the end), and the runtime computes it from
// the actual input, so one graph gives timm's outputs at every input size with dynamic batch,
// height and width.
import type { ActName } from '../models/builder_spec.js';
import type { EfficientNet, InferenceOutput } from '../models/index.js';
import { buildFusedPlan, type FusedConvStep, type FusedStep } from '../models/fused_plan.js';
import { scope, type Tensor } from '../torch/index.js';
import { DataType, GraphBuilder, type Dim } from './graph.js';

export const ONNX_INPUT_NAME = 'input';
/** The opsets the exporter writes: 13 (Clip/HardSwish-free lowering) up to what onnxruntime-node 1.30 reads. */
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
export const DEFAULT_OPSET = 17;

export interface ExportOnnxOptions {
  /** ONNX opset, default 17. */
  opset?: number;
  /**
   * Graph outputs, in this order. Default: ['logits'] for a full model, ['feature_maps'] for a
   * featuresOnly model. 'feature_maps' gives outputs feature_maps.0 .. feature_maps.K-1.
   */
  outputs?: readonly InferenceOutput[];
  /** timm name recorded in the metadata (default: the pretrained cfg's architecture.tag). */
  name?: string;
  /** Class names for the metadata (default: model.labelNames). */
  labelNames?: readonly string[] | null;
  /** producer_version (default: this package's version). */
  producerVersion?: string;
}

export class OnnxExportError extends Error {
  readonly code = 'E_ONNX_EXPORT';
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

// contiguous() may make a new tensor: the scope releases it once its values are copied out.
function floats(t: Tensor): Float32Array {
  return scope(() => Float32Array.from(t.contiguous().toTypedArray() as Float32Array));
}

/** The activation as ONNX nodes (the EfficientNet family's: builder_spec's ActName), lowered as each opset allows (HardSwish is opset 14, Mish 18). */
function activation(g: GraphBuilder, x: string, act: ActName, name: string, opset: number): string {
  switch (act) {
    case 'silu':
    case 'swish':
      return g.node('Mul', [x, g.node('Sigmoid', [x], { name })], { name });
    case 'relu':
      return g.node('Relu', [x], { name });
    case 'relu6':
      return g.node('Clip', [x, g.scalar(`${name}.min`, 0), g.scalar(`${name}.max`, 6)], { name });
    case 'hard_swish':
      // opset 14 has HardSwish; below it, x * clip(x + 3, 0, 6) / 6 as timm's module computes it.
      if (opset >= 14) return g.node('HardSwish', [x], { name });
      return g.node(
        'Div',
        [
          g.node(
            'Mul',
            [
              x,
              g.node(
                'Clip',
                [g.node('Add', [x, g.scalar(`${name}.three`, 3)], { name }), g.scalar(`${name}.min`, 0), g.scalar(`${name}.max`, 6)],
                { name },
              ),
            ],
            { name },
          ),
          g.scalar(`${name}.six`, 6),
        ],
        { name },
      );
    case 'mish':
      if (opset >= 18) return g.node('Mish', [x], { name });
      return g.node('Mul', [x, g.node('Tanh', [g.node('Softplus', [x], { name })], { name })], { name });
  }
}

function conv(g: GraphBuilder, x: string, s: FusedConvStep, opset: number): string {
  const [out, inPerGroup, kh, kw] = s.weight.shape as [number, number, number, number];
  const w = g.floats(`${s.name}.weight`, [out, inPerGroup, kh, kw], floats(s.weight));
  const b = g.floats(`${s.name}.bias`, [out], floats(s.bias));
  const attrs: Record<string, number | string | readonly number[]> = {
    kernel_shape: [kh, kw],
    strides: [s.stride, s.stride],
    dilations: [s.dilation, s.dilation],
    group: s.groups,
  };
  if (s.padding === 'same') attrs['auto_pad'] = 'SAME_UPPER';
  else attrs['pads'] = [s.padding, s.padding, s.padding, s.padding];
  const y = g.node('Conv', [x, w, b], { name: s.name, attrs });
  return s.act ? activation(g, y, s.act, s.name, opset) : y;
}

function checkOpset(opset: number): void {
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new OnnxExportError(`export-onnx: opset ${opset} is not supported; use ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`);
  }
}

function resolveOutputs(model: EfficientNet, requested: readonly InferenceOutput[] | undefined): InferenceOutput[] {
  const featuresOnly = model.spec.featuresOnly;
  const outs = [...(requested ?? (featuresOnly ? ['feature_maps'] : ['logits']))];
  if (outs.length === 0) throw new OnnxExportError('export-onnx: no outputs requested');
  if (new Set(outs).size !== outs.length) throw new OnnxExportError(`export-onnx: outputs repeat: ${outs.join(', ')}`);
  for (const o of outs) {
    if (featuresOnly && o !== 'feature_maps')
      throw new OnnxExportError(`export-onnx: a features_only model gives feature_maps only, not ${o}`);
    if (!featuresOnly && o === 'feature_maps') {
      throw new OnnxExportError(
        "export-onnx: feature_maps need a features_only model (createModel(name, { featuresOnly: true }), or the CLI's --features)",
      );
    }
  }
  return outs;
}

function modelName(model: EfficientNet, name: string | undefined): string {
  if (name) return name;
  const cfg = model.pretrainedCfg;
  if (!cfg) return 'efficientnet';
  return cfg.tag ? `${cfg.architecture}.${cfg.tag}` : cfg.architecture;
}

/** The model as ONNX bytes (eval semantics: no dropout, no drop path, BatchNorm folded). */
export function exportOnnx(model: EfficientNet, opts: ExportOnnxOptions = {}): Uint8Array {
  const { graph, header } = buildOnnxGraph(model, opts);
  return graph.encode(header);
}

export type GraphHeader = Parameters<GraphBuilder['encode']>[0];

/** The fp32 graph before encoding, with what encode() records (the int8 quantizer rewrites the graph). */
export function buildOnnxGraph(model: EfficientNet, opts: ExportOnnxOptions = {}): { graph: GraphBuilder; header: GraphHeader } {
  const opset = opts.opset ?? DEFAULT_OPSET;
  checkOpset(opset);
  const outputs = resolveOutputs(model, opts.outputs);
  const name = modelName(model, opts.name);
  const labelNames = opts.labelNames !== undefined ? opts.labelNames : model.labelNames;
  if (labelNames && labelNames.length !== model.numClasses) {
    throw new OnnxExportError(`export-onnx: ${labelNames.length} label names for ${model.numClasses} classes`);
  }
  const plan = buildFusedPlan(model);
  try {
    const g = new GraphBuilder();
    let x = g.input(ONNX_INPUT_NAME, DataType.FLOAT, ['batch', plan.inChans, 'height', 'width']);
    const saved: string[] = [];
    const taps: string[] = [];
    let preLogits: string | null = null;
    plan.steps.forEach((s: FusedStep, i: number) => {
      switch (s.op) {
        case 'conv':
          x = conv(g, x, s, opset);
          break;
        case 'se': {
          const [rd, chs] = s.reduceWeight.shape as [number, number];
          const pooled = g.node('GlobalAveragePool', [x], { name: s.name });
          const r = g.node(
            'Conv',
            [
              pooled,
              g.floats(`${s.name}.conv_reduce.weight`, [rd, chs, 1, 1], floats(s.reduceWeight)),
              g.floats(`${s.name}.conv_reduce.bias`, [rd], floats(s.reduceBias)),
            ],
            {
              name: `${s.name}.conv_reduce`,
              attrs: { kernel_shape: [1, 1] },
            },
          );
          const ra = activation(g, r, s.act, `${s.name}.act`, opset);
          const e = g.node(
            'Conv',
            [
              ra,
              g.floats(`${s.name}.conv_expand.weight`, [chs, rd, 1, 1], floats(s.expandWeight)),
              g.floats(`${s.name}.conv_expand.bias`, [chs], floats(s.expandBias)),
            ],
            {
              name: `${s.name}.conv_expand`,
              attrs: { kernel_shape: [1, 1] },
            },
          );
          x = g.node('Mul', [x, g.node('Sigmoid', [e], { name: `${s.name}.gate` })], { name: s.name });
          break;
        }
        case 'save':
          saved.push(x);
          break;
        case 'add': {
          const shortcut = saved.pop();
          if (!shortcut) throw new OnnxExportError(`export-onnx: residual of ${s.name} has no saved input`);
          x = g.node('Add', [x, shortcut], { name: s.name });
          break;
        }
        case 'tap':
          taps.push(x);
          break;
        case 'pool': {
          let p: string;
          if (s.pool === 'avg') p = g.node('GlobalAveragePool', [x], { name: 'global_pool' });
          else if (s.pool === 'max') p = g.node('GlobalMaxPool', [x], { name: 'global_pool' });
          else {
            const a = g.node('GlobalAveragePool', [x], { name: 'global_pool' });
            const m = g.node('GlobalMaxPool', [x], { name: 'global_pool' });
            p =
              s.pool === 'avgmax'
                ? g.node('Mul', [g.node('Add', [a, m], { name: 'global_pool' }), g.scalar('global_pool.half', 0.5)], {
                    name: 'global_pool',
                  })
                : g.node('Concat', [a, m], { name: 'global_pool', attrs: { axis: 1 } });
          }
          x = g.node('Flatten', [p], { name: 'global_pool', attrs: { axis: 1 } });
          break;
        }
        case 'linear': {
          const [out, inF] = s.weight.shape as [number, number];
          const w = g.floats('classifier.weight', [out, inF], floats(s.weight));
          const b = g.floats('classifier.bias', [out], floats(s.bias));
          x = g.node('Gemm', [x, w, b], { name: 'classifier', attrs: { transB: 1 } });
          break;
        }
      }
      if (i + 1 === plan.preLogitsStop && !plan.featuresOnly) preLogits = x;
    });

    const poolMult = model.globalPoolType === 'catavgmax' ? 2 : 1;
    const featureNames: string[] = [];
    for (const o of outputs) {
      if (o === 'logits') {
        // A model without a classifier (numClasses 0) gives its pooled features as logits, as timm's does.
        g.output(x, 'logits', DataType.FLOAT, ['batch', model.numClasses > 0 ? model.numClasses : model.numFeatures * poolMult]);
      } else if (o === 'pre_logits') {
        if (!preLogits) throw new OnnxExportError('export-onnx: this model has no pre_logits');
        g.output(preLogits, 'pre_logits', DataType.FLOAT, ['batch', model.numFeatures * poolMult]);
      } else {
        if (taps.length !== model.featureInfo.length) {
          throw new OnnxExportError(`export-onnx: ${taps.length} feature maps for ${model.featureInfo.length} feature_info entries`);
        }
        taps.forEach((t, i) => {
          const fi = model.featureInfo[i]!;
          const dims: Dim[] = ['batch', fi.numChs, `height_${i}`, `width_${i}`];
          const n = `feature_maps.${i}`;
          featureNames.push(n);
          g.output(t, n, DataType.FLOAT, dims);
        });
      }
    }

    const metadata: Record<string, string> = {
      model: name,
      num_classes: String(model.numClasses),
      num_features: String(model.numFeatures),
      outputs: JSON.stringify(outputs.flatMap((o) => (o === 'feature_maps' ? featureNames : [o]))),
      feature_info: JSON.stringify(model.featureInfo),
      input_name: ONNX_INPUT_NAME,
      in_chans: String(plan.inChans),
    };
    if (model.pretrainedCfg) metadata['pretrained_cfg'] = JSON.stringify(model.pretrainedCfg);
    if (labelNames) metadata['label_names'] = JSON.stringify(labelNames);
    const header: GraphHeader = {
      graphName: name,
      opset,
      producerVersion: opts.producerVersion ?? '0.1.0',
      metadata,
      docString: `${name}, exported by noisy-student (BatchNorm folded; TF SAME padding as auto_pad SAME_UPPER)`,
    };
    return { graph: g, header };
  } finally {
    plan.dispose();
  }
}
