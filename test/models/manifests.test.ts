// Every variant in the timm manifests, built as a real Module: state-dict keys (in order), shapes,
// dtypes, parameter count, BN eps, dynamic-SAME convs, static paddings, feature_info (full and
// features_only) and pretrained cfgs equal timm's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { liveTensorCount } from '../../src/torch/index.js';
import { nn } from '../../src/index.js';
import { createModel, resolveModelName, toHubConfig } from '../../src/models/index.js';
import { toTimmDict } from '../../src/models/pretrained.js';
import { MANIFESTS_DIR } from '../helpers/paths.js';

interface Manifest {
  architecture: string;
  default_tag: string;
  pretrained_cfgs: Record<string, Record<string, unknown>>;
  num_features: number;
  total_params: number;
  state_dict: Record<string, { shape: number[]; dtype: string }>;
  bn_eps: number[];
  dynamic_same_pad_convs: string[];
  static_padding_nonzero: [string, [number, number]][];
  model_feature_info: { module: string; num_chs: number; reduction: number; stage: number }[];
  features_only: {
    out_indices: number[];
    feature_info: { module: string; num_chs: number; reduction: number; stage: number; index: number }[];
    n_state_dict_keys: number;
  };
}

const files = readdirSync(MANIFESTS_DIR).filter((f) => /^(tf_)?efficientnet_.*\.json$/.test(f));

describe('every manifest variant as a Module', () => {
  it('covers the ten manifests', () => assert.equal(files.length, 10));

  for (const file of files) {
    const m = JSON.parse(readFileSync(join(MANIFESTS_DIR, file), 'utf8')) as Manifest;
    it(`${m.architecture}: keys, shapes, dtypes, params, padding, feature_info, cfg`, async () => {
      const start = liveTensorCount();
      const model = await createModel(m.architecture);
      const sd = model.stateDict();
      assert.deepEqual([...sd.keys()], Object.keys(m.state_dict), 'state-dict keys in timm order');
      for (const [k, t] of sd) {
        assert.deepEqual([...t.shape], m.state_dict[k]!.shape, `${k} shape`);
        assert.equal(t.dtype, m.state_dict[k]!.dtype, `${k} dtype`);
      }
      assert.equal(model.numParams(), m.total_params);
      assert.equal(model.numFeatures, m.num_features);
      const convs = [...model.namedModules()].filter((e): e is [string, nn.Conv2d] => e[1] instanceof nn.Conv2d);
      assert.deepEqual(
        convs.filter(([, c]) => c.padding === 'dynamic').map(([n]) => n),
        m.dynamic_same_pad_convs,
      );
      assert.deepEqual(
        convs.filter(([, c]) => typeof c.padding === 'number' && c.padding > 0).map(([n, c]) => [n, [c.padding, c.padding]]),
        m.static_padding_nonzero,
      );
      const eps = [
        ...new Set([...model.namedModules()].filter(([, x]) => x instanceof nn.BatchNorm2d).map(([, x]) => (x as nn.BatchNorm2d).eps)),
      ];
      assert.deepEqual(eps, [...new Set(m.bn_eps)]);
      assert.deepEqual(
        model.featureInfo.map(({ module, numChs, reduction, stage }) => ({ module, num_chs: numChs, reduction, stage })),
        m.model_feature_info,
      );
      const resolved = resolveModelName(m.architecture);
      assert.equal(resolved.tag, m.default_tag);
      assert.deepEqual(toTimmDict(model.pretrainedCfg!), m.pretrained_cfgs[m.default_tag]);
      model.dispose();

      const fo = await createModel(m.architecture, { featuresOnly: true, outIndices: m.features_only.out_indices });
      assert.equal(fo.stateDict().size, m.features_only.n_state_dict_keys);
      assert.deepEqual(
        fo.featureInfo.map(({ module, numChs, reduction, stage, index }) => ({ module, num_chs: numChs, reduction, stage, index })),
        m.features_only.feature_info,
      );
      fo.dispose();
      assert.equal(liveTensorCount(), start);
    });
  }

  it('the hub config.json we would write for b0 equals timm’s own', async () => {
    const model = await createModel('tf_efficientnet_b0.ns_jft_in1k');
    const ours = toHubConfig(model.pretrainedCfg!, { numClasses: model.numClasses, numFeatures: model.numFeatures });
    const timm = JSON.parse(readFileSync(join(MANIFESTS_DIR, '..', 'tf_efficientnet_b0', 'config.json'), 'utf8'));
    assert.deepEqual(JSON.parse(JSON.stringify(ours)), timm);
    model.dispose();
  });
});
