// `noisy-student predict IMAGE... --model NAME`: top-k classes per image, like timm's inference.py.
// Results are written as each batch completes (text lines, --jsonl lines, or --json's array element
// by element), never gathered for the end: a folder of a million images needs no more memory than
// one of ten.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { scope, stack } from '../../torch/index.js';
import { inferenceBatch } from '../../models/index.js';
import { classNames, topkEntries, type TopkEntry } from '../../models/index.js';
import { createTransform, resolveDataConfig } from '../../data/index.js';
import { AtomicFileStream } from '../../util/atomic_stream.js';
import { CliError, warn } from '../errors.js';
import { expandImageInputs, imageBatches } from '../inputs.js';
import {
  addJsonOption,
  addModelOptions,
  globalOptions,
  intArg,
  addBackendOptions,
  calibrationFromOptions,
  filesDataset,
  loadInferenceFromOptions,
  prepareOutputFile,
  validateModelOptions,
  type ModelCliOptions,
} from '../options.js';
import { createProgress } from '../progress.js';

interface PredictOptions extends ModelCliOptions {
  topk: number;
  classMap?: string;
  batchSize: number;
  json?: boolean;
  jsonl?: boolean;
  output?: string;
}

export type { TopkEntry };
export interface Prediction {
  file: string;
  topk: TopkEntry[];
}

/** timm's --class-map text format: one class name per line, line i = class i. */
export function readClassMap(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read class map ${path}: ${(e as Error).message}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blank = lines.indexOf('');
  // A blank line inside the map shifts every later class by one: refuse rather than mislabel.
  if (blank >= 0) throw new CliError(`class map ${path}: line ${blank + 1} is empty (one class name per line expected)`);
  if (lines.length === 0) throw new CliError(`class map ${path} is empty`);
  return lines;
}

export default function predictCommand(): Command {
  const cmd = new Command('predict')
    .summary('top-k classes of images')
    .description(
      'Classify images (files, or folders searched recursively) with a model and its pretrained preprocessing. ' +
        'Images that cannot be decoded are reported and skipped.',
    )
    .argument('<images...>', 'image files or folders');
  addBackendOptions(addModelOptions(cmd))
    .option('-k, --topk <k>', 'classes shown per image', intArg(1), 5)
    .option('--class-map <file>', 'class names, one per line in class-index order (ImageNet names are built in)')
    .option('-b, --batch-size <n>', 'images per forward pass', intArg(1), 16);
  addJsonOption(cmd);
  cmd
    .addOption(
      new Option('--jsonl', 'print one JSON object { file, topk } per line, as each batch completes (messages stay on stderr)').conflicts(
        'json',
      ),
    )
    .option('-o, --output <file>', 'write the --json or --jsonl output to this file (atomically: a temp file renamed into place)');
  return cmd.action(async (inputs: string[], o: PredictOptions, self: Command) => {
    const { quiet } = globalOptions(self);
    validateModelOptions(o, { command: 'predict', requireWeights: true });
    if (o.output !== undefined && !o.json && !o.jsonl) throw new CliError('--output needs --json or --jsonl', 2);
    const files = expandImageInputs(inputs);
    const outputPath = o.output !== undefined ? prepareOutputFile(o.output) : null;
    const mapped = o.classMap ? readClassMap(o.classMap) : null;
    const calibration = calibrationFromOptions(o, { dataset: filesDataset(files), what: 'input images' });
    const model = await loadInferenceFromOptions(o, { command: 'predict', requireWeights: true, quiet, calibration });
    try {
      if (mapped && mapped.length !== model.numClasses) {
        throw new CliError(`class map ${o.classMap} has ${mapped.length} names but ${o.model} has ${model.numClasses} classes`);
      }
      const names = classNames(model, mapped);
      const transform = createTransform(resolveDataConfig({}, model));

      let predicted = 0;
      let failed = 0;
      const progress = createProgress({ total: files.length, label: 'predict', unit: 'img', quiet });
      // To a file: streamed into a temporary one, renamed into place once every image is done.
      const file = outputPath ? new AtomicFileStream(outputPath) : null;
      const sink = file ? (text: string) => file.write(text) : (text: string) => void process.stdout.write(text);
      const out = o.jsonl ? jsonLines(sink) : o.json ? jsonArray(sink) : null;
      try {
        for await (const batch of imageBatches(files, o.batchSize)) {
          for (const f of batch.failed) warn(`skipped: ${f.error.message}`);
          failed += batch.failed.length;
          if (batch.decoded.length > 0) {
            // The preprocessed batch leaves its scope as plain floats: no tensor outlives the batch.
            const input = scope(() => inferenceBatch(stack(batch.decoded.map((d) => transform(d.image)))));
            const rows = topkEntries(await model.run(input, 'logits'), o.topk, names);
            batch.decoded.forEach((d, i) => {
              const topk = rows[i]!;
              predicted++;
              if (out) out.add({ file: d.file, topk });
              else progress.log(formatPrediction(d.file, topk));
            });
          }
          progress.tick(batch.decoded.length + batch.failed.length);
        }
        out?.end();
        // Nothing predicted: no file (an empty one would read as "no images").
        if (file && predicted > 0) file.commit();
      } finally {
        file?.abort();
        progress.stop();
      }
      if (failed > 0 || !quiet) {
        process.stderr.write(
          `predicted ${predicted} of ${files.length} images${failed > 0 ? `, ${failed} failed (skipped)` : ''} (${model.backend}, ${model.precision})` +
            `${file && predicted > 0 ? `; wrote ${outputPath}` : ''}\n`,
        );
      }
      if (predicted === 0) throw new CliError('no image could be decoded');
    } finally {
      await model.dispose();
    }
  });
}

interface PredictionWriter {
  add(p: Prediction): void;
  end(): void;
}

/** One JSON object per line. */
function jsonLines(write: (text: string) => void): PredictionWriter {
  return { add: (p) => write(`${JSON.stringify(p)}\n`), end: () => {} };
}

/**
 * A JSON array written element by element: the same text as JSON.stringify(all, null, 2) + '\n'
 * (what --json printed when it gathered every prediction first), without holding them.
 */
function jsonArray(write: (text: string) => void): PredictionWriter {
  let n = 0;
  return {
    add(p) {
      write(`${n++ === 0 ? '[\n' : ',\n'}${JSON.stringify(p, null, 2).replace(/^/gm, '  ')}`);
    },
    end: () => write(n === 0 ? '[]\n' : '\n]\n'),
  };
}

function formatPrediction(file: string, topk: readonly TopkEntry[]): string {
  const rows = topk.map((t) => `  ${t.prob.toFixed(4)}  ${t.label === null ? `class ${t.index}` : `${t.label} (${t.index})`}`);
  return [file, ...rows].join('\n');
}
