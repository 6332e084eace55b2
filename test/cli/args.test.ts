// The command-line argument parsers (src/cli/args.ts): what each accepts and how it says no, and,
// end to end, that a usage error exits 2 with commander's line naming the flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { choiceArg, intArg, intListArg, listArg, numberArg, tupleArg } from '../../src/cli/args.js';
import * as options from '../../src/cli/options.js';
import { runCli } from './run_cli.js';

function refuses(parse: (v: string) => unknown, value: string, message: string | RegExp): void {
  assert.throws(
    () => parse(value),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, `${String(e)} is an InvalidArgumentError`);
      if (typeof message === 'string') assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
    `'${value}' is refused`,
  );
}

describe('intArg', () => {
  it('reads decimal integers, within the bounds given', () => {
    const p = intArg({ min: 1, max: 10 });
    assert.equal(p('1'), 1);
    assert.equal(p(' 10 '), 10);
    assert.equal(p('+3'), 3);
    for (const v of ['0', '11', '-1']) refuses(p, v, 'must be an integer >= 1 and <= 10');
    assert.equal(intArg()('-42'), -42);
  });

  it('refuses what Number() would read some other way, saying what is expected', () => {
    const p = intArg({ min: 0 });
    for (const v of ['abc', '', ' ', '1.5', '1.0', '1e3', '0x10', 'Infinity', '1,2', '9007199254740993']) {
      refuses(p, v, 'must be an integer >= 0');
    }
    refuses(intArg(), 'NaN', 'must be an integer');
  });

  it('keeps the older intArg(min) form', () => {
    const p = intArg(1);
    assert.equal(p('5'), 5);
    refuses(p, '0', 'must be an integer >= 1');
  });

  it('is the one options.ts re-exports', () => {
    assert.equal(options.intArg, intArg);
    assert.equal(options.intListArg, intListArg);
  });
});

describe('numberArg', () => {
  it('reads finite decimal numbers, with an exponent', () => {
    const p = numberArg();
    assert.equal(p('0.5'), 0.5);
    assert.equal(p('.5'), 0.5);
    assert.equal(p('5.'), 5);
    assert.equal(p('-2e-3'), -2e-3);
    assert.equal(p('1E3'), 1000);
    for (const v of ['abc', '', 'Infinity', '-Infinity', 'NaN', '0x10', '1e', '1e999', '1..2', '.']) refuses(p, v, 'must be a number');
  });

  it('checks inclusive and exclusive bounds, and says them all', () => {
    const p = numberArg({ gt: 0, max: 1 });
    assert.equal(p('1'), 1);
    assert.equal(p('1e-9'), 1e-9);
    refuses(p, '0', 'must be a number > 0 and <= 1');
    refuses(p, '1.0001', 'must be a number > 0 and <= 1');
    const q = numberArg({ min: 0, lt: 1 });
    assert.equal(q('0'), 0);
    refuses(q, '1', 'must be a number >= 0 and < 1');
    refuses(numberArg({ gt: 0 }), '-0', 'must be a number > 0');
  });
});

describe('choiceArg', () => {
  it('accepts exactly one of the choices', () => {
    const p = choiceArg(['sgd', 'adamw'] as const);
    assert.equal(p('sgd'), 'sgd');
    for (const v of ['SGD', 'adam', '', ' sgd']) refuses(p, v, 'must be one of: sgd, adamw');
  });
});

describe('listArg and tupleArg', () => {
  it('reads comma-separated items, each with its parser, naming the one refused', () => {
    const p = listArg(intArg({ min: 0 }));
    assert.deepEqual(p('0,1, 2'), [0, 1, 2]);
    assert.deepEqual(p('7'), [7]);
    refuses(p, '1,x,2', "must be a comma-separated list: 'x' must be an integer >= 0");
    refuses(p, '1,,2', "must be a comma-separated list: '' must be an integer >= 0");
    refuses(p, '', "must be a comma-separated list: '' must be an integer >= 0");
    assert.deepEqual(listArg((v) => v)('a,b'), ['a', 'b']);
  });

  it('checks the count when one is required', () => {
    const p = listArg(numberArg(), { length: 2 });
    assert.deepEqual(p('0.6,1'), [0.6, 1]);
    refuses(p, '0.6', 'must be 2 comma-separated values, got 1');
    refuses(p, '1,2,3', 'must be 2 comma-separated values, got 3');
  });

  it('reads a tuple with a parser per position', () => {
    const p = tupleArg<[number, string]>([intArg({ min: 1 }), choiceArg(['a', 'b'])]);
    assert.deepEqual(p('3,b'), [3, 'b']);
    refuses(p, '0,b', "must be 2 comma-separated values: '0' must be an integer >= 1");
    refuses(p, '3,c', "must be 2 comma-separated values: 'c' must be one of: a, b");
    refuses(p, '3', 'must be 2 comma-separated values, got 1');
  });

  it('intListArg reads indices (integers >= 0)', () => {
    assert.deepEqual(intListArg('0,1,2'), [0, 1, 2]);
    refuses(intListArg, '1,-1', /'-1' must be an integer >= 0/);
  });
});

describe('usage errors on the command line', () => {
  it('exit 2 with one line naming the flag; help and version exit 0', async () => {
    const bad = await runCli(['predict', 'x.jpg', '-m', 'tf_efficientnet_b0_ns', '--topk', '0']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stdout, '');
    const [line, hint] = bad.stderr.trim().split('\n');
    assert.equal(line, "noisy-student: error: option '-k, --topk <k>' argument '0' is invalid. must be an integer >= 1");
    assert.equal(hint, '(add --help for usage)', 'showHelpAfterError still works');

    const nan = await runCli(['predict', 'x.jpg', '-m', 'tf_efficientnet_b0_ns', '-b', 'abc']);
    assert.equal(nan.code, 2);
    assert.match(nan.stderr, /^noisy-student: error: option '-b, --batch-size <n>' argument 'abc' is invalid\. must be an integer >= 1\n/);

    const cases: [string[], RegExp][] = [
      [['predict', 'x.jpg', '-m', 'tf_efficientnet_b0_ns', '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['predict', 'x.jpg'], /required option '-m, --model <name>' not specified/],
      [['predict', 'x.jpg', '-m'], /option '-m, --model <name>' argument missing/],
      [['report', '--run', 'r', 'extra'], /too many arguments for 'report'/],
      [['no-such-command'], /unknown command 'no-such-command'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^noisy-student: error: ${message.source}`));
    }

    const help = await runCli(['predict', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--topk <k>/);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });
});
