// `noisy-student export-onnx`: the file it writes opens in ONNX Runtime as a backend (its metadata
// names the model and its preprocessing) and gives timm's fixture logits; misuse exits 2.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run_cli.js';
import { OrtInferenceModel } from '../../src/backends/index.js';
import { inferenceBatch } from '../../src/models/index.js';
import { liveTensorCount } from '../../src/torch/index.js';
import { B0_DIR, loadB0Fixtures, ref, tol } from '../helpers/b0_fixture.js';
import { maxAbsDiff } from '../helpers/tensors.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-export-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = ['--model', 'tf_efficientnet_b0.ns_jft_in1k', '--checkpoint', B0_DIR];

describe('export-onnx', () => {
  it('writes a model that OrtInferenceModel.fromFile runs to the fixture logits; --pre-logits exports pre_logits only', async () => {
    const start = liveTensorCount();
    const { io, step } = loadB0Fixtures();
    try {
      const out = join(dir, 'b0.onnx');
      const r = await runCli(['export-onnx', ...MODEL, '-o', out, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as {
        opset: number;
        inputs: { name: string; shape: (number | string)[] }[];
        outputs: { name: string }[];
      };
      assert.equal(summary.opset, 17);
      assert.deepEqual(summary.inputs, [{ name: 'input', shape: ['batch', 3, 'height', 'width'] }]);
      assert.deepEqual(
        summary.outputs.map((o) => o.name),
        ['logits'],
      );
      assert.deepEqual(readdirSync(dir), ['b0.onnx'], 'no temporary file left beside it');
      const m = await OrtInferenceModel.fromFile(out);
      try {
        assert.equal(m.name, 'tf_efficientnet_b0.ns_jft_in1k');
        assert.equal(m.pretrainedCfg.interpolation, 'bicubic');
        const got = await m.run(inferenceBatch(ref(io, 'x_odd')));
        assert.ok(maxAbsDiff(got.data, ref(io, 'logits_odd').toTypedArray() as Float32Array) <= tol('io.safetensors', 'logits_odd'));
      } finally {
        await m.dispose();
      }

      const pre = join(dir, 'pre.onnx');
      const p = await runCli(['export-onnx', ...MODEL, '-o', pre, '--pre-logits', '--opset', '13']);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /opset 13/);
      assert.match(p.stdout, /output: pre_logits \[batch, 1280\]/);
      const pm = await OrtInferenceModel.fromFile(pre);
      try {
        assert.deepEqual(pm.outputs, ['pre_logits']);
        const got = await pm.run(inferenceBatch(ref(io, 'x')), 'pre_logits');
        assert.ok(maxAbsDiff(got.data, ref(io, 'pre_logits').toTypedArray() as Float32Array) <= tol('io.safetensors', 'pre_logits'));
      } finally {
        await pm.dispose();
      }
    } finally {
      for (const t of [...io.values(), ...step.values()]) t.dispose();
    }
    assert.equal(liveTensorCount(), start);
  });

  it('random weights, a bad opset and --features with --pre-logits are refused before writing anything', async () => {
    const out = join(dir, 'refused.onnx');
    const random = await runCli(['export-onnx', '--model', 'tf_efficientnet_b0', '-o', out]);
    assert.notEqual(random.code, 0);
    assert.match(random.stderr, /needs trained weights/);
    const opset = await runCli(['export-onnx', ...MODEL, '-o', out, '--opset', '9']);
    assert.equal(opset.code, 2);
    assert.match(opset.stderr, /supported opsets are 13 to 21/);
    const both = await runCli(['export-onnx', ...MODEL, '-o', out, '--features', '--pre-logits']);
    assert.equal(both.code, 2);
    assert.ok(!existsSync(out));
  });
});
