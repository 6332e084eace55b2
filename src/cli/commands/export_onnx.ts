// `noisy-student export-onnx --model NAME (--checkpoint P | --pretrained) --output model.onnx`: the
// model as an ONNX graph (our own writer, src/onnx): BatchNorm folded, dynamic batch, height and
// width (TF SAME padding as auto_pad SAME_UPPER, so any input size gives timm's outputs), class
// names and the preprocessing config in the metadata. OrtInferenceModel.fromFile opens the file as
// it is. An existing output file is replaced (atomically), as `predict --output` replaces its file.
import { statSync } from 'node:fs';
import { Command, Option } from 'commander';
import { TorchInferenceModel, type InferenceOutput } from '../../models/index.js';
import { quantizeOptions } from '../../backends/index.js';
import {
  DEFAULT_OPSET,
  MAX_OPSET,
  MIN_OPSET,
  OnnxExportError,
  decodeModel,
  exportOnnx,
  exportOnnxInt8,
  writeOnnx,
} from '../../onnx/index.js';
import { intArg } from '../args.js';
import { CliError } from '../errors.js';
import { readClassMap } from './predict.js';
import {
  addCalibrationOptions,
  calibrationFromOptions,
  addJsonOption,
  addModelOptions,
  addOutputOption,
  globalOptions,
  loadInferenceFromOptions,
  prepareOutputFile,
  printJson,
  validateModelOptions,
  type ModelCliOptions,
} from '../options.js';

interface Options extends Omit<ModelCliOptions, 'precision'> {
  precision: 'fp32' | 'int8';
  output: string;
  opset: number;
  features?: boolean;
  preLogits?: boolean;
  classMap?: string;
  json?: boolean;
}

interface ValueInfo {
  name: string;
  type?: { tensorType?: { shape?: { dim?: { dimValue?: number | { toNumber(): number }; dimParam?: string }[] } } };
}

function dims(v: ValueInfo): (number | string)[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimParam ? d.dimParam : typeof d.dimValue === 'number' ? d.dimValue : Number(d.dimValue?.toNumber() ?? 0),
  );
}

export default function exportOnnxCommand(): Command {
  const cmd = new Command('export-onnx')
    .summary('write a model as an ONNX graph (for ONNX Runtime and other runtimes)')
    .description(
      'Export a model with its weights to ONNX: BatchNorm folded into the convs, dynamic batch, height and width (TF SAME ' +
        'padding computed by the runtime from the input size), the class names and preprocessing config in the metadata. ' +
        'Outputs: logits (default), pre_logits (--pre-logits), or the feature maps of a features_only model (--features).',
    );
  addModelOptions(cmd)
    .option('--opset <n>', `ONNX opset, ${MIN_OPSET} to ${MAX_OPSET}`, intArg({ min: 1 }), DEFAULT_OPSET)
    .addOption(new Option('--features', 'export the feature maps of a features_only model (feature_maps.0 ...)').conflicts('preLogits'))
    .addOption(new Option('--pre-logits', 'export the pooled features before the classifier instead of the logits'))
    .option('--class-map <file>', "class names for the metadata, one per line in class-index order (default: the checkpoint's label_names)")
    .addOption(
      new Option(
        '--precision <p>',
        'fp32, or int8: static QDQ quantization (int8 per-channel weights, uint8 activations calibrated on --calibration)',
      )
        .choices(['fp32', 'int8'])
        .default('fp32'),
    );
  addCalibrationOptions(cmd);
  addOutputOption(cmd, 'the .onnx file to write (atomically: a temp file renamed into place; an existing file is replaced)');
  addJsonOption(cmd);
  return cmd.action(async (o: Options, self: Command) => {
    const { quiet } = globalOptions(self);
    validateModelOptions(o, { command: 'export-onnx', requireWeights: true });
    if (!Number.isInteger(o.opset) || o.opset < MIN_OPSET || o.opset > MAX_OPSET) {
      throw new CliError(`--opset ${o.opset}: supported opsets are ${MIN_OPSET} to ${MAX_OPSET}`, 2);
    }
    if (o.classMap && o.features) throw new CliError('--class-map names classes; a --features export has no classifier', 2);
    const output = prepareOutputFile(o.output);
    const mapped = o.classMap ? readClassMap(o.classMap) : null;
    const outputs: InferenceOutput[] = o.features ? ['feature_maps'] : o.preLogits ? ['pre_logits'] : ['logits'];
    // The inference loader, as predict's: a full model must come with its own trained classifier (never a
    // fresh random head, which a checkpoint with another class count would otherwise get), and the
    // checkpoint's config.json label_names come with it.
    // Checked before the model loads: int8 needs its calibration images.
    const calibration = calibrationFromOptions(o);
    const loaded = await loadInferenceFromOptions(
      { ...o, precision: 'fp32' },
      {
        command: 'export-onnx',
        requireWeights: true,
        featuresOnly: o.features === true,
        quiet,
      },
    );
    let bytes: Uint8Array;
    try {
      if (!(loaded instanceof TorchInferenceModel)) throw new Error('export-onnx: the torch backend did not give a torch model');
      if (mapped && mapped.length !== loaded.numClasses) {
        throw new CliError(`class map ${o.classMap} has ${mapped.length} names but ${o.model} has ${loaded.numClasses} classes`);
      }
      const model = loaded.module;
      model.eval();
      const exportOpts = { opset: o.opset, outputs, name: loaded.name, labelNames: mapped ?? loaded.labelNames };
      bytes = calibration
        ? await exportOnnxInt8(model, { ...exportOpts, quantize: quantizeOptions(calibration, model) })
        : exportOnnx(model, exportOpts);
    } catch (e) {
      if (e instanceof OnnxExportError) throw new CliError(e.message);
      throw e;
    } finally {
      await loaded.dispose();
    }
    writeOnnx(output, bytes);
    const m = decodeModel(bytes) as unknown as {
      metadataProps: { key: string; value: string }[];
      graph: { input: ValueInfo[]; output: ValueInfo[]; node: unknown[] };
    };
    const names = m.metadataProps.find((p) => p.key === 'label_names');
    const summary = {
      output,
      model: m.metadataProps.find((p) => p.key === 'model')?.value ?? o.model,
      bytes: statSync(output).size,
      opset: o.opset,
      precision: o.precision,
      ...(calibration ? { calibration: calibration.describe } : {}),
      nodes: m.graph.node.length,
      inputs: m.graph.input.map((v) => ({ name: v.name, shape: dims(v) })),
      outputs: m.graph.output.map((v) => ({ name: v.name, shape: dims(v) })),
      // How many class names the metadata holds (null: none, the runtime shows class indices).
      labelNames: names ? (JSON.parse(names.value) as string[]).length : null,
    };
    if (o.json) return printJson(summary);
    if (!quiet) {
      const fmt = (vs: typeof summary.inputs): string => vs.map((v) => `${v.name} [${v.shape.join(', ')}]`).join(', ');
      process.stdout.write(
        `wrote ${output} (${(summary.bytes / 1e6).toFixed(1)} MB, opset ${o.opset}, ${o.precision}, ${summary.nodes} nodes)\n` +
          `  model:  ${summary.model}${summary.labelNames === null ? '' : ` (${summary.labelNames} class names)`}\n` +
          `  input:  ${fmt(summary.inputs)}\n  output: ${fmt(summary.outputs)}\n`,
      );
    }
  });
}
