// A bad number on the command line is a usage error (exit 2) naming the flag, on every command that
// has the flag: before, `--shard-size 0` wrote empty shards until the disk was full and
// `--limit abc` labelled nothing and exited 0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './run_cli.js';

const CASES: [command: string[], flag: string, value: string][] = [
  [['pseudo-label', '--data', 'fashion-mnist', '-m', 'tinynet_e', '-o', '/tmp/x'], '--shard-size', '0'],
  [['pseudo-label', '--data', 'fashion-mnist', '-m', 'tinynet_e', '-o', '/tmp/x'], '--limit', 'abc'],
  [['pseudo-label', '--data', 'fashion-mnist', '-m', 'tinynet_e', '-o', '/tmp/x'], '--batch-size', '-3'],
  [['train', '-m', 'tinynet_e', '--data', 'fashion-mnist', '-o', '/tmp/x'], '--epochs', 'abc'],
  [['train', '-m', 'tinynet_e', '--data', 'fashion-mnist', '-o', '/tmp/x'], '--lr', '-1'],
  [['train', '-m', 'tinynet_e', '--data', 'fashion-mnist', '-o', '/tmp/x'], '--label-smoothing', '1'],
  [['student', ...'-m tinynet_e --labeled a --unlabeled b --pseudo c --selection d -o /tmp/x'.split(' ')], '--epochs', 'abc'],
  [['student', ...'-m tinynet_e --labeled a --unlabeled b --pseudo c --selection d -o /tmp/x'.split(' ')], '--lr', '-1'],
  [['student', ...'-m tinynet_e --labeled a --unlabeled b --pseudo c --selection d -o /tmp/x'.split(' ')], '--ratio', '0'],
  [['filter', '--pseudo', 'p', '-o', '/tmp/x'], '--per-class', '0'],
  [['filter', '--pseudo', 'p', '--per-class', '3', '-o', '/tmp/x'], '--threshold', '2'],
  [['evaluate', '--run', 'r'], '--limit', '0'],
  [['validate', '-m', 'tinynet_e', '--data', 'fashion-mnist:test'], '--batch-size', '0'],
  [['run', '--preset', 'tiny', '-o', '/tmp/x'], '--seed', 'x'],
];

describe('usage errors', () => {
  for (const [command, flag, value] of CASES) {
    it(`${command[0]} ${flag} ${value}: exit 2 naming the flag`, async () => {
      const r = await runCli([...command, flag, value]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`option '[^']*${flag} [^']*' argument '${value.replace('-', '\\-')}' is invalid`));
    });
  }
});

describe('--device', () => {
  it('a device this libtorch does not have is refused before any work, on the commands that run models', async () => {
    const { cudaAvailable } = await import('../../src/torch/index.js');
    if (cudaAvailable()) return; // a CUDA build has the device: nothing to refuse
    for (const command of [
      ['validate', '-m', 'tinynet_e', '--pretrained', '--data', 'fashion-mnist:test'],
      ['predict', 'x.jpg', '-m', 'tinynet_e', '--pretrained'],
      ['pseudo-label', '--data', 'fashion-mnist', '-m', 'tinynet_e', '--pretrained', '-o', '/tmp/x'],
      ['evaluate', '--run', 'r'],
      ['run', '--preset', 'tiny', '-o', '/tmp/x'],
    ]) {
      const r = await runCli([...command, '--device', 'cuda']);
      assert.equal(r.code, 2, `${command[0]}: ${r.stderr}`);
      assert.match(r.stderr, /option '--device <device>' argument 'cuda' is invalid\. device cuda: this libtorch .* has no CUDA/);
    }
    const t = await runCli([
      'train',
      '-m',
      'tinynet_e',
      '--data',
      'fashion-mnist',
      '--labels-per-class',
      '1',
      '-o',
      '/tmp/ns-no-cuda',
      '--device',
      'cuda:1',
    ]);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /device cuda:1: this libtorch .* has no CUDA/);
  });
});
