// Flags generated from a zod schema (src/cli/schema_options.ts), on a sample schema built here: an
// option for every key, help and ranges read from the schema (so a flag cannot drift from it), and
// no default applied by commander (a config file's value is not overridden).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command, type Option } from 'commander';
import { z } from 'zod';
import { addSchemaOptions, kebabCase, readSchemaOptions, type SchemaOptionsConfig } from '../../src/cli/schema_options.js';

const Sample = z
  .object({
    epochs: z.number().int().positive().default(10).describe('epochs'),
    batchSize: z.number().int().positive().default(64).describe('images per batch'),
    lr: z.number().positive().default(2e-3).describe('peak learning rate'),
    momentum: z.number().min(0).max(1).default(0.9),
    labelSmoothing: z.number().nonnegative().lt(1).default(0.1).describe('label smoothing'),
    workers: z.number().int().min(0).max(64).default(0).describe('loader threads'),
    seed: z.number().int().default(0).describe('seed'),
    clipGrad: z.number().positive().optional().describe('clip the gradient norm'),
    opt: z.enum(['sgd', 'rmsproptf', 'adamw']).default('adamw').describe('optimizer'),
    aug: z.string().default('').describe('RandAugment config'),
    model: z.string().min(1).describe('model name'),
    scale: z
      .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
      .default([0.6, 1])
      .describe('crop area range'),
    outIndices: z.array(z.number().int().min(0)).optional().describe('feature maps'),
    channelsLast: z.boolean().default(false).describe('channels_last memory format'),
    pretrained: z.boolean().default(true).describe('start from pretrained weights'),
    even: z
      .number()
      .int()
      .refine((n) => n % 2 === 0, 'must be even')
      .optional()
      .describe('an even number'),
    label: z.string().nullable().optional().describe('a label'),
  })
  .strict();
type SampleKey = keyof typeof Sample.shape;
const KEYS = Object.keys(Sample.shape) as SampleKey[];

/** A command with the sample's options whose errors throw (with commander's message) instead of exiting. */
function command(o?: SchemaOptionsConfig, schema: Parameters<typeof addSchemaOptions>[1] = Sample): Command {
  const cmd = new Command('t').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  return addSchemaOptions(cmd, schema, o).action(() => {});
}

function parse(args: string[], o?: SchemaOptionsConfig): Record<string, unknown> {
  const cmd = command(o);
  cmd.parse(args, { from: 'user' });
  return cmd.opts();
}

function parseError(args: string[], o?: SchemaOptionsConfig): string {
  try {
    parse(args, o);
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail(`${args.join(' ')} was accepted`);
}

function optionFor(cmd: Command, key: string): Option {
  const visible = cmd.options.filter((opt) => opt.attributeName() === key && !opt.hidden);
  assert.equal(visible.length, 1, `one visible option for ${key}`);
  return visible[0]!;
}

function helpLine(cmd: Command, key: string): string {
  const opt = optionFor(cmd, key);
  return `${opt.flags} ${cmd.createHelp().optionDescription(opt)}`;
}

describe('addSchemaOptions', () => {
  it('adds an option for every key of the schema, named in kebab-case, storing the key', () => {
    const cmd = command();
    assert.deepEqual(new Set(cmd.options.map((opt) => opt.attributeName())), new Set(KEYS));
    for (const key of KEYS) {
      const opt = optionFor(cmd, key);
      const long = key === 'pretrained' ? '--no-pretrained' : `--${kebabCase(key)}`;
      assert.equal(opt.long, long);
    }
    assert.equal(kebabCase('batchSize'), 'batch-size');
    assert.equal(kebabCase('top5Acc'), 'top5-acc');
  });

  it('shows the .describe() text and the schema default in help, falling back to the key', () => {
    const cmd = command();
    assert.equal(helpLine(cmd, 'batchSize'), '--batch-size <n> images per batch (default: 64)');
    assert.equal(helpLine(cmd, 'lr'), '--lr <x> peak learning rate (default: 0.002)');
    assert.equal(helpLine(cmd, 'momentum'), '--momentum <x> momentum (default: 0.9)');
    assert.equal(helpLine(cmd, 'clipGrad'), '--clip-grad <x> clip the gradient norm');
    assert.equal(helpLine(cmd, 'opt'), '--opt <name> optimizer (choices: "sgd", "rmsproptf", "adamw", default: "adamw")');
    assert.equal(helpLine(cmd, 'aug'), '--aug <value> RandAugment config (default: "")');
    assert.equal(helpLine(cmd, 'scale'), '--scale <a,b> crop area range (default: 0.6,1)');
    assert.equal(helpLine(cmd, 'channelsLast'), '--channels-last channels_last memory format');
    assert.equal(helpLine(cmd, 'pretrained'), '--no-pretrained start from pretrained weights (default: on)');
    assert.match(cmd.helpInformation(), /--batch-size <n>\s+images per batch \(default: 64\)/);
  });

  it('follows a changed default or description into help', () => {
    const changed = Sample.extend({ batchSize: z.number().int().positive().default(128).describe('per step') });
    assert.equal(helpLine(command({}, changed), 'batchSize'), '--batch-size <n> per step (default: 128)');
  });

  it('never applies a default itself: flags not given are absent', () => {
    assert.deepEqual(parse([]), {});
    const cmd = command();
    cmd.parse([], { from: 'user' });
    assert.deepEqual(readSchemaOptions(cmd.opts(), Sample), {});
    // so a config file's value survives the merge: flags win only when given.
    const config = Sample.parse({ model: 'b0', ...{ batchSize: 32 }, ...readSchemaOptions(cmd.opts(), Sample) });
    assert.equal(config.batchSize, 32);
  });

  it('parses every kind of field', () => {
    const o = parse([
      '--epochs',
      '3',
      '--lr',
      '1e-3',
      '--opt',
      'sgd',
      '--aug',
      'rand-m9',
      '--model',
      'b0',
      '--scale',
      '0.5,1',
      '--out-indices',
      '1,2,3',
      '--channels-last',
      '--no-pretrained',
      '--even',
      '4',
      '--label',
      'x',
    ]);
    assert.deepEqual(o, {
      epochs: 3,
      lr: 1e-3,
      opt: 'sgd',
      aug: 'rand-m9',
      model: 'b0',
      scale: [0.5, 1],
      outIndices: [1, 2, 3],
      channelsLast: true,
      pretrained: false,
      even: 4,
      label: 'x',
    });
    // What the flags give, the schema accepts.
    assert.equal(Sample.safeParse(o).success, true);
  });

  it('reads the default shown in help back as the schema default (parser and schema agree)', () => {
    const cmd = command();
    for (const key of KEYS) {
      const field = Sample.shape[key];
      const fallback = field.safeParse(undefined);
      const opt = optionFor(cmd, key);
      if (!fallback.success || fallback.data === undefined || opt.isBoolean() || opt.negate) continue;
      const typed = opt.defaultValueDescription ?? String(opt.defaultValue);
      const got = parse([opt.long!, typed]);
      assert.deepEqual(got[key], fallback.data, `${opt.long} ${typed}`);
    }
  });

  it('refuses on the command line what the schema refuses, naming the flag', () => {
    const cases: [string[], string][] = [
      [['--batch-size', '0'], "option '--batch-size <n>' argument '0' is invalid. must be an integer >= 1"],
      [['--batch-size', '2.5'], "option '--batch-size <n>' argument '2.5' is invalid. must be an integer >= 1"],
      [['--epochs', 'abc'], "option '--epochs <n>' argument 'abc' is invalid. must be an integer >= 1"],
      [['--lr', '0'], "option '--lr <x>' argument '0' is invalid. must be a number > 0"],
      [['--momentum', '1.5'], "option '--momentum <x>' argument '1.5' is invalid. must be a number >= 0 and <= 1"],
      [['--label-smoothing', '1'], "option '--label-smoothing <x>' argument '1' is invalid. must be a number >= 0 and < 1"],
      [['--workers', '-1'], "option '--workers <n>' argument '-1' is invalid. must be an integer >= 0 and <= 64"],
      [['--workers', '65'], "option '--workers <n>' argument '65' is invalid. must be an integer >= 0 and <= 64"],
      [['--seed', 'x'], "option '--seed <n>' argument 'x' is invalid. must be an integer"],
      [['--opt', 'adam'], "option '--opt <name>' argument 'adam' is invalid. must be one of: sgd, rmsproptf, adamw"],
      [
        ['--scale', '0,1'],
        "option '--scale <a,b>' argument '0,1' is invalid. must be 2 comma-separated values: '0' must be a number > 0 and <= 1",
      ],
      [['--scale', '0.5'], "option '--scale <a,b>' argument '0.5' is invalid. must be 2 comma-separated values, got 1"],
      [
        ['--out-indices', '1,-2'],
        "option '--out-indices <list>' argument '1,-2' is invalid. must be a comma-separated list: '-2' must be an integer >= 0",
      ],
      // checks with no command-line form of their own are still the schema's
      [['--model', ''], "option '--model <value>' argument '' is invalid. String must contain at least 1 character(s)"],
      [['--even', '3'], "option '--even <n>' argument '3' is invalid. must be even"],
    ];
    for (const [args, message] of cases) assert.equal(parseError(args), `error: ${message}`, args.join(' '));
    assert.match(parseError(['--pretrained-not']), /unknown option/);
  });

  it('follows a changed range into the parser', () => {
    const changed = Sample.extend({ batchSize: z.number().int().min(8).default(64) });
    const cmd = command({}, changed);
    assert.throws(() => cmd.parse(['--batch-size', '7'], { from: 'user' }), /argument '7' is invalid\. must be an integer >= 8/);
  });

  it('takes only/omit, flag names and help overrides; a renamed flag still sets its key', () => {
    const o: SchemaOptionsConfig = {
      only: ['batchSize', 'lr', 'pretrained', 'opt'],
      omit: ['opt'],
      names: { batchSize: '-b, --batch-size', lr: '--learning-rate <rate>', pretrained: '-P, --pretrained' },
      help: { lr: 'the lr' },
    };
    const cmd = command(o);
    assert.deepEqual(new Set(cmd.options.map((opt) => opt.attributeName())), new Set(['batchSize', 'lr', 'pretrained']));
    assert.equal(helpLine(cmd, 'batchSize'), '-b, --batch-size <n> images per batch (default: 64)');
    assert.equal(helpLine(cmd, 'lr'), '--learning-rate <rate> the lr (default: 0.002)');
    assert.equal(optionFor(cmd, 'pretrained').flags, '-P, --no-pretrained');
    assert.deepEqual(parse(['-b', '8', '--learning-rate', '0.1', '-P'], o), { batchSize: 8, lr: 0.1, pretrained: false });
    assert.match(parseError(['--opt', 'sgd'], o), /unknown option '--opt'/);
  });

  it('refuses keys that are not in the schema, and types with no command-line form', () => {
    assert.throws(() => command({ omit: ['batchsize'] }), /omit: not keys of the schema: batchsize/);
    assert.throws(() => command({ only: ['nope'] }), /only: not keys of the schema: nope/);
    assert.throws(() => command({ names: { nope: '--nope' } }), /names: not keys of the schema: nope/);
    assert.throws(() => command({ help: { nope: 'x' } }), /help: not keys of the schema: nope/);
    const nested = z.object({ epochs: z.number().int(), data: z.object({ path: z.string() }) });
    assert.throws(
      () => command({}, nested),
      /schema key 'data' has a type \(ZodObject\) with no command-line form; leave it out with omit: \['data'\]/,
    );
    assert.deepEqual(
      command({ omit: ['data'] }, nested).options.map((opt) => opt.long),
      ['--epochs'],
    );
    // A flag the command already has is a clash commander reports, not a silent override.
    const cmd = new Command('t').option('--lr <x>', 'mine');
    assert.throws(() => addSchemaOptions(cmd, Sample, { only: ['lr'] }), /--lr/);
  });

  it('accepts a refined object schema', () => {
    const refined = Sample.refine((c) => c.epochs > 0);
    const cmd = command({ only: ['epochs'] }, refined);
    cmd.parse(['--epochs', '2'], { from: 'user' });
    assert.deepEqual(readSchemaOptions(cmd.opts(), refined), { epochs: 2 });
  });
});

describe('readSchemaOptions', () => {
  it('keeps the schema keys that were given, and nothing else', () => {
    const opts = { batchSize: 8, lr: undefined, config: 'c.json', output: 'o', pretrained: false };
    assert.deepEqual(readSchemaOptions(opts, Sample), { batchSize: 8, pretrained: false });
  });
});
