// `noisy-student features IMAGE... --model NAME --output out.safetensors`: embeddings (timm's
// forward_head(pre_logits=True)) or the multi-scale feature maps of a features_only model, one row
// per image, written atomically with the image list in the file's metadata. Rows are streamed to disk
// as batches complete (one spool file per output tensor beside the destination), and the file is
// assembled from them at the end: memory holds one batch, whatever the number of images.
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { Command, Option } from 'commander';
import { scope, stack } from '../../torch/index.js';
import { AtomicFileStream, tempPathBeside } from '../../util/atomic_stream.js';
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
  addBackendOptions,
  calibrationFromOptions,
  filesDataset,
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

/** Rows of one output, appended to a spool file batch by batch (the model's outputs are float32 whatever it computed in). */
class SpooledRows {
  readonly path: string;
  private fd: number | null;
  rows = 0;
  rowShape: readonly number[] | null = null;

  constructor(
    output: string,
    readonly name: string,
  ) {
    this.path = tempPathBeside(output, name);
    this.fd = openSync(this.path, 'w');
  }

  add(t: InferenceArray): void {
    const [n, ...rest] = t.shape;
    if (this.rowShape && rest.join() !== this.rowShape.join())
      throw new Error(`${this.name}: rows of shape [${rest.join(', ')}] after [${this.rowShape.join(', ')}]`);
    this.rowShape ??= rest;
    this.rows += n!;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let off = 0; off < bytes.byteLength;) off += writeSync(this.fd!, bytes, off, bytes.byteLength - off);
  }

  get shape(): number[] {
    return [this.rows, ...(this.rowShape ?? [])];
  }

  get byteLength(): number {
    return this.shape.reduce((a, b) => a * b, 1) * 4;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }
}

/**
 * Write the spooled float32 tensors as one .safetensors file, atomically, in the layout
 * saveSafetensors (encodeSafetensors) writes: the same bytes, the data copied from the spools in
 * pieces instead of through memory. All tensors are F32: the order is by name.
 */
function writeSpooledSafetensors(path: string, tensors: readonly SpooledRows[], metadata: Record<string, string>): void {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of sorted) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const out = new AtomicFileStream(path);
  try {
    out.write(len);
    out.write(json);
    for (const t of sorted) {
      t.close();
      out.append(t.path);
    }
    out.commit();
  } finally {
    out.abort();
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
  addBackendOptions(addModelOptions(cmd))
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
      calibration: calibrationFromOptions(o, { dataset: filesDataset(files), what: 'input images' }),
    });
    try {
      const transform = createTransform(resolveDataConfig({}, model));
      const names = maps ? model.featureInfo.map((_, i) => `feature_maps.${i}`) : ['pre_logits'];
      const rows: SpooledRows[] = [];
      const done: string[] = [];
      let failed = 0;
      const progress = createProgress({ total: files.length, label: 'features', unit: 'img', quiet });
      try {
        for (const n of names) rows.push(new SpooledRows(output, n));
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
        progress.stop();
        if (done.length === 0) throw new CliError('no image could be decoded; nothing written');
        // Metadata values must be strings: JSON-encode the lists so a reader maps rows back to images.
        writeSpooledSafetensors(output, rows, {
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
      } finally {
        progress.stop();
        for (const r of rows) r.remove();
      }
      const shapes: Record<string, number[]> = Object.fromEntries(rows.map((r) => [r.name, r.shape]));
      if (o.json) printJson({ output, files: done, failed, tensors: shapes, backend: model.backend, precision: model.precision });
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
