// --backend / --precision on the inference commands: ONNX Runtime and the fused path give the eager
// path's predictions for the same image; an impossible pair is a usage error; pseudo-label records
// the backend that ran (auto resolved) and never mixes shards of two backends in one folder.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run_cli.js';
import { B0_DIR } from '../helpers/b0_fixture.js';
import { sharedPath } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-backend-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const DOG = sharedPath('data', 'dog.jpg');
const MODEL = ['--model', 'tf_efficientnet_b0.ns_jft_in1k', '--checkpoint', B0_DIR];

interface Prediction {
  file: string;
  topk: { index: number; label: string | null; prob: number }[];
}

describe('inference commands with --backend', () => {
  const predict = async (backend: string): Promise<Prediction[]> => {
    const r = await runCli(['predict', DOG, ...MODEL, '--json', '--backend', backend]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`\\(${backend === 'ort' ? 'onnxruntime' : backend}, fp32\\)`));
    return JSON.parse(r.stdout) as Prediction[];
  };

  it('predict: ort and torch-fused give the eager top-5 (same classes, probabilities to 1e-5)', async () => {
    const eager = await predict('torch');
    for (const b of ['ort', 'torch-fused']) {
      const got = await predict(b);
      assert.deepEqual(
        got[0]!.topk.map((t) => t.index),
        eager[0]!.topk.map((t) => t.index),
        `${b}: top-5 classes`,
      );
      got[0]!.topk.forEach((t, i) => assert.ok(Math.abs(t.prob - eager[0]!.topk[i]!.prob) < 1e-5, `${b}: prob ${i}`));
    }
  });

  it('a backend/precision pair that does not run is a usage error listing what runs', async () => {
    const r = await runCli(['predict', DOG, ...MODEL, '--backend', 'torch', '--precision', 'bf16']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /backend torch does not run bf16; what runs: torch: fp32; torch-fused: fp32, bf16; ort: fp32, int8/);
    const u = await runCli(['predict', DOG, ...MODEL, '--backend', 'tensorrt']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /--backend.*tensorrt.*torch, torch-fused, ort, auto/s);
  });

  it('pseudo-label --backend auto records the backend it chose, and a resume uses the record', async () => {
    const images = join(dir, 'unlabeled');
    mkdirSync(images);
    for (let i = 0; i < 3; i++) copyFileSync(DOG, join(images, `dog${i}.jpg`));
    const out = join(dir, 'pl');
    const env = { NOISY_STUDENT_CACHE: join(dir, 'cache') };
    const args = ['pseudo-label', ...MODEL, '--data', images, '--batch-size', '2', '--shard-size', '2', '-o', out];
    const first = await runCli([...args, '--backend', 'auto'], { env });
    assert.equal(first.code, 0, first.stderr);
    const rec = JSON.parse(readFileSync(join(out, 'backend.json'), 'utf8')) as { configured: string; backend: string; runtime: string };
    assert.equal(rec.configured, 'auto');
    assert.ok(['torch', 'torch-fused', 'ort'].includes(rec.backend), rec.backend);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { data?: { backend?: string }; backend?: string };
    assert.equal(manifest.data?.backend ?? manifest.backend, rec.runtime, 'the shards’ manifest names the backend that ran');
    // Again with auto (nothing left to label): the recorded choice, not a new measurement.
    const again = await runCli([...args, '--backend', 'auto'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /recorded in .*backend\.json/);
    // A pinned other backend into the same folder is refused: shards of two backends never mix.
    const other = rec.backend === 'ort' ? 'torch' : 'ort';
    const mixed = await runCli([...args, '--backend', other], { env });
    assert.notEqual(mixed.code, 0);
    assert.match(mixed.stderr, /holds pseudo-labels made with another backend/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'backend.json'), 'utf8')), rec, 'the refused run left the record as it was');
  });
});
