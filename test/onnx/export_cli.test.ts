// `noisy-student export-onnx`: the file it writes opens in ONNX Runtime as a backend (its metadata
// names the model and its preprocessing) and gives timm's fixture logits; misuse exits 2.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run_cli.js';
import { OrtInferenceModel } from '../../src/backends/index.js';
import { createModel, inferenceBatch, saveModel } from '../../src/models/index.js';
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
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith('b0')),
        ['b0.onnx'],
        'no temporary file left beside it',
      );
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

      // --features: the feature maps of a features_only model, every one at the fixture's values.
      const feats = join(dir, 'features.onnx');
      const f = await runCli(['export-onnx', ...MODEL, '-o', feats, '--features', '--json']);
      assert.equal(f.code, 0, f.stderr);
      const fsum = JSON.parse(f.stdout) as { outputs: { name: string; shape: (number | string)[] }[]; labelNames: number | null };
      assert.deepEqual(fsum.outputs[4], { name: 'feature_maps.4', shape: ['batch', 320, 'height_4', 'width_4'] });
      assert.equal(fsum.labelNames, null);
      const fm = await OrtInferenceModel.fromFile(feats);
      try {
        assert.deepEqual(fm.outputs, ['feature_maps']);
        const maps = await fm.run(inferenceBatch(ref(io, 'x')), 'feature_maps');
        assert.equal(maps.length, 5);
        maps.forEach((m, i) => {
          const key = `feature_maps.${i}`;
          assert.deepEqual(m.shape, [...ref(io, key).shape], key);
          const d = maxAbsDiff(m.data, ref(io, key).toTypedArray() as Float32Array);
          assert.ok(d <= tol('io.safetensors', key), `${key}: max |diff| ${d}`);
        });
      } finally {
        await fm.dispose();
      }

      // An existing output is replaced, atomically, as predict --output replaces its file.
      const before = statSync(pre).size;
      const again = await runCli(['export-onnx', ...MODEL, '-o', pre, '--quiet']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, '');
      const replaced = await OrtInferenceModel.fromFile(pre);
      assert.deepEqual(replaced.outputs, ['logits']);
      await replaced.dispose();
      assert.notEqual(statSync(pre).size, before);
    } finally {
      for (const t of [...io.values(), ...step.values()]) t.dispose();
    }
    assert.equal(liveTensorCount(), start);
  });

  it("a fine-tuned checkpoint's class names travel in the metadata; --class-map overrides them, and must fit", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `thing ${i}`);
    const m = await createModel('test_efficientnet', { numClasses: 10 });
    const ckpt = join(dir, 'ten');
    saveModel(m, ckpt, { labelNames: names });
    m.dispose();
    const out = join(dir, 'ten.onnx');
    const r = await runCli(['export-onnx', '-m', 'test_efficientnet', '-c', ckpt, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /model: {2}test_efficientnet\.r160_in1k \(10 class names\)/);
    assert.match(r.stdout, /output: logits \[batch, 10\]/);
    const om = await OrtInferenceModel.fromFile(out);
    assert.deepEqual(om.labelNames, names);
    assert.equal(om.numClasses, 10);
    await om.dispose();

    const mapFile = join(dir, 'classes.txt');
    const mapped = names.map((n) => n.toUpperCase());
    writeFileSync(mapFile, `${mapped.join('\n')}\n`);
    const c = await runCli(['export-onnx', '-m', 'test_efficientnet', '-c', ckpt, '-o', out, '--class-map', mapFile]);
    assert.equal(c.code, 0, c.stderr);
    const cm = await OrtInferenceModel.fromFile(out);
    assert.deepEqual(cm.labelNames, mapped);
    await cm.dispose();
    writeFileSync(mapFile, 'a\nb\n');
    const wrong = await runCli(['export-onnx', '-m', 'test_efficientnet', '-c', ckpt, '-o', join(dir, 'x.onnx'), '--class-map', mapFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /has 2 names but test_efficientnet has 10 classes/);

    // The weights alone (no config.json): the classes come from the classifier's shape, without names.
    const bare = join(dir, 'ten.safetensors');
    copyFileSync(join(ckpt, 'model.safetensors'), bare);
    const b = await runCli(['export-onnx', '-m', 'test_efficientnet', '-c', bare, '-o', out, '--json']);
    assert.equal(b.code, 0, b.stderr);
    const bsum = JSON.parse(b.stdout) as { outputs: { shape: (number | string)[] }[]; labelNames: number | null };
    assert.deepEqual(bsum.outputs[0]!.shape, ['batch', 10]);
    assert.equal(bsum.labelNames, null);
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
