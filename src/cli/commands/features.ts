// `noisy-student features IMAGE... --model NAME --output out.safetensors`: embeddings (timm's
// forward_head(pre_logits=True)) or the multi-scale feature maps of a features_only model, one row
// per image, written atomically with the image list in the file's metadata.
import { Command, Option } from 'commander';
import { fromTypedArray, saveSafetensors, scope, stack, type Tensor } from '../../torch/index.js';
import { createTransform, resolveDataConfig } from '../../data/index.js';
import { inferenceBatch, resolveModelName, type InferenceArray } from '../../models/index.js';
import { CliError, warn } from '../errors.js';
import { expandImageInputs, imageBatches } from '../inputs.js';
import {
  addJsonOption,
  addModelOptions,
  addOutputOption,
  globalOptions,
  intArg,
  intListArg,
  loadInferenceFromOptions,
  validateModelOptions,
  prepareOutputFile,
  printJson,
  type ModelCliOptions,
} from '../options.js';
import { createProgress } from '../progress.js';

interface FeaturesOptions extends ModelCliOptions {
  preLogits?: boolean;
  featureMaps?: boolean;
  outIndices?: number[];
  batchSize: number;
  output: string;
  json?: boolean;
}

/** Rows of one output, gathered batch by batch (the model's outputs are float32 whatever it computed in). */
class Rows {
  private readonly chunks: Float32Array[] = [];
  private rows = 0;
  private rowShape: readonly number[] | null = null;

  add(t: InferenceArray): void {
    const [n, ...rest] = t.shape;
    this.rowShape ??= rest;
    this.rows += n!;
    this.chunks.push(t.data);
  }

  toTensor(): Tensor {
    const total = this.chunks.reduce((s, c) => s + c.length, 0);
    const data = new Float32Array(total);
    let off = 0;
    for (const c of this.chunks) {
      data.set(c, off);
      off += c.length;
    }
    return fromTypedArray(data, [this.rows, ...(this.rowShape ?? [])]);
  }
}

export default function featuresCommand(): Command {
  const cmd = new Command('features')
    .summary('extract image features to a .safetensors file')
    .description(
      'Extract pooled features (default, [N, num_features]: the input of the classifier) or multi-scale feature maps ' +
        '(--feature-maps: feature_maps.<i>, [N, C_i, H_i, W_i]) for images or folders. Row i is the i-th image of the ' +
        '`files` list in the file metadata; images that cannot be decoded are reported and left out.',
    )
    .argument('<images...>', 'image files or folders');
  addModelOptions(cmd)
    .addOption(new Option('--pre-logits', 'pooled features before the classifier (the default)').conflicts('featureMaps'))
    .addOption(new Option('--feature-maps', 'the feature maps of a features_only model instead'))
    .option('--out-indices <list>', 'which feature maps with --feature-maps, e.g. 1,2,3 (default: all)', intListArg)
    .option('-b, --batch-size <n>', 'images per forward pass', intArg(1), 16);
  addOutputOption(cmd, 'the .safetensors file to write (atomically: a temp file renamed into place)');
  addJsonOption(cmd);
  return cmd.action(async (inputs: string[], o: FeaturesOptions, self: Command) => {
    const { quiet } = globalOptions(self);
    validateModelOptions(o, { command: 'features', requireWeights: true });
    if (o.outIndices && !o.featureMaps) throw new CliError('--out-indices applies to --feature-maps only');
    const files = expandImageInputs(inputs);
    const output = prepareOutputFile(o.output);
    const maps = o.featureMaps === true;
    const model = await loadInferenceFromOptions(o, {
      command: 'features',
      requireWeights: true,
      featuresOnly: maps,
      ...(o.outIndices ? { outIndices: o.outIndices } : {}),
      quiet,
    });
    try {
      const transform = createTransform(resolveDataConfig({}, model));
      const names = maps ? model.featureInfo.map((_, i) => `feature_maps.${i}`) : ['pre_logits'];
      const rows = names.map(() => new Rows());
      const done: string[] = [];
      let failed = 0;
      const progress = createProgress({ total: files.length, label: 'features', unit: 'img', quiet });
      try {
        for await (const batch of imageBatches(files, o.batchSize)) {
          for (const f of batch.failed) warn(`skipped: ${f.error.message}`);
          failed += batch.failed.length;
          if (batch.decoded.length > 0) {
            const input = scope(() => inferenceBatch(stack(batch.decoded.map((d) => transform(d.image)))));
            const outs = maps ? await model.run(input, 'feature_maps') : [await model.run(input, 'pre_logits')];
            outs.forEach((t, i) => rows[i]!.add(t));
            for (const d of batch.decoded) done.push(d.file);
          }
          progress.tick(batch.decoded.length + batch.failed.length);
        }
      } finally {
        progress.stop();
      }
      if (done.length === 0) throw new CliError('no image could be decoded; nothing written');

      const shapes: Record<string, number[]> = {};
      scope(() => {
        const tensors = new Map<string, Tensor>();
        names.forEach((n, i) => {
          const t = rows[i]!.toTensor();
          tensors.set(n, t);
          shapes[n] = [...t.shape];
        });
        // Metadata values must be strings: JSON-encode the lists so a reader maps rows back to images.
        saveSafetensors(output, tensors, {
          files: JSON.stringify(done),
          model: resolveModelName(o.model).fullName,
          kind: maps ? 'feature_maps' : 'pre_logits',
          // timm's feature_info keys, so a Python reader sees what timm's model.feature_info.info holds.
          ...(maps
            ? {
                feature_info: JSON.stringify(
                  model.featureInfo.map((f) => ({
                    module: f.module,
                    num_chs: f.numChs,
                    reduction: f.reduction,
                    stage: f.stage,
                    index: f.index,
                  })),
                ),
              }
            : {}),
        });
      });
      if (o.json) printJson({ output, files: done, failed, tensors: shapes });
      if (failed > 0 || !quiet) {
        const what = Object.entries(shapes)
          .map(([n, s]) => `${n} [${s.join(', ')}]`)
          .join(', ');
        process.stderr.write(`wrote ${output}: ${what}${failed > 0 ? `; ${failed} of ${files.length} images failed (skipped)` : ''}\n`);
      }
    } finally {
      await model.dispose();
    }
  });
}
