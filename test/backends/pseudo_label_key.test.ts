// The pseudo-label folder of a run is named by the content key of its inputs: a teacher run by
// another backend or precision gives (slightly) different probabilities, so it must get another
// folder, while the default (torch, fp32) keeps the key runs had before backends existed.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createModel, liveTensorCount } from '../../src/index.js';
import {
  PRESETS,
  openPseudoLabelTeacher,
  resolveNoisyStudentConfig,
  type NoisyStudentConfig,
  type RunData,
} from '../../src/noisy/index.js';
import { pseudoLabelStageDir } from '../../src/noisy/run_plan.js';
import { contentHash } from '../../src/util/hash.js';

// Only the unlabeled set's key enters the pseudo-label key; the rest of RunData is not read.
const data = { unlabeled: { key: 'unlabeled-images-key' } } as unknown as RunData;

function cfgWith(pseudoLabel: Record<string, unknown>): NoisyStudentConfig {
  const tiny = PRESETS.tiny!;
  return resolveNoisyStudentConfig({ ...tiny, pseudoLabel: { ...tiny.pseudoLabel, ...pseudoLabel } });
}

const key = (pl: Record<string, unknown>): string => basename(pseudoLabelStageDir('/run/gen-1', 'teacherhash', cfgWith(pl), data));

describe('pseudo-label key', () => {
  it('the config defaults to torch in fp32', () => {
    const cfg = cfgWith({});
    assert.equal(cfg.pseudoLabel.backend, 'torch');
    assert.equal(cfg.pseudoLabel.precision, 'fp32');
  });

  it('changes with the backend and with the precision', () => {
    const keys = [
      key({}),
      key({ backend: 'ort' }),
      key({ backend: 'torch-fused' }),
      key({ backend: 'torch-fused', precision: 'bf16' }),
      key({ backend: 'auto' }),
    ];
    assert.equal(new Set(keys).size, keys.length, `distinct keys: ${keys.join(' ')}`);
    assert.equal(key({ backend: 'ort' }), key({ backend: 'ort' }), 'the same settings give the same key');
  });

  it('int8 keys on its calibration images; calibrationImages leaves the other precisions alone', () => {
    const int8 = key({ backend: 'ort', precision: 'int8' });
    assert.notEqual(int8, key({ backend: 'ort' }));
    assert.notEqual(int8, key({ backend: 'ort', precision: 'int8', calibrationImages: 128 }));
    assert.equal(key({ backend: 'ort' }), key({ backend: 'ort', calibrationImages: 128 }));
    assert.equal(cfgWith({}).pseudoLabel.calibrationImages, 64);
  });

  it('torch fp32 keeps the key of a run made before backends were in the config', () => {
    const p = cfgWith({}).pseudoLabel;
    const before = contentHash({
      teacher: 'teacherhash',
      unlabeled: data.unlabeled.key,
      topk: p.topk ?? null,
      shardSize: p.shardSize,
      batchSize: p.batchSize,
    });
    assert.equal(key({ backend: 'torch', precision: 'fp32' }), before);
  });

  it('an unknown backend in the run config is refused naming the choices', () => {
    assert.throws(() => cfgWith({ backend: 'tensorrt' }), /backend.*(torch|ort)/s);
  });
});

describe('the recorded pseudo-label backend', () => {
  it('a folder made by another backend, or with a record that does not parse, is refused', async () => {
    const start = liveTensorCount();
    const dir = mkdtempSync(join(tmpdir(), 'ns-plbackend-'));
    const model = await createModel('tinynet_e', { numClasses: 3 });
    try {
      writeFileSync(join(dir, 'backend.json'), JSON.stringify({ backend: 'ort', precision: 'fp32' }));
      await assert.rejects(openPseudoLabelTeacher(model, dir, { backend: 'torch', precision: 'fp32' }), /another backend \(ort, fp32\)/);
      writeFileSync(join(dir, 'backend.json'), '{"backend": "to');
      await assert.rejects(openPseudoLabelTeacher(model, dir, { backend: 'auto', precision: 'fp32' }), /backend\.json.*does not parse/);
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(liveTensorCount(), start);
  });
});
