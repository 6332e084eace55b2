// The resolved spec of every architecture in the timm manifests must reproduce timm's model: blocks per
// stage, channel widths, kernels, SE widths (read back from the state-dict shapes), the exact ordered
// state-dict keys/shapes/dtypes and parameter count, feature_info (full and features_only),
// num_features, BN eps/momentum and the dynamic-SAME / static padding of every conv.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  allConvs,
  allLayers,
  BuildSpecError,
  countParams,
  makeDivisible,
  pyRound,
  resolveEfficientNetSpec,
  roundChannels,
  scaleStageDepth,
  stateDictEntries,
  tfSamePad,
  UnsupportedArchError,
  type EfficientNetSpec,
  type FeatureInfoEntry,
} from '../../src/models/builder_spec.js';
import { genConfig, isArchName, resolveModelSpec, VARIANTS, type ArchName } from '../../src/models/variants.js';
import { MANIFESTS_DIR, FIXTURES } from '../helpers/paths.js';

interface Manifest {
  architecture: string;
  num_features: number;
  num_classes: number;
  total_params: number;
  n_state_dict_keys: number;
  n_blocks_per_stage: number[];
  bn_eps: number[];
  bn_momentum: number[];
  n_batchnorm: number;
  dynamic_same_pad_convs: string[];
  static_padding_nonzero: [string, [number, number]][];
  model_feature_info: Record<string, unknown>[];
  state_dict: Record<string, { shape: number[]; dtype: string }>;
  features_only: {
    out_indices: number[];
    feature_info: Record<string, unknown>[];
    channels: number[];
    reduction: number[];
    module_names: string[];
    n_state_dict_keys: number;
  };
}

const manifestArchs = readdirSync(MANIFESTS_DIR)
  .filter((f) => f.endsWith('.json') && !['summary.json', 'legacy_aliases.json'].includes(f))
  .map((f) => f.replace(/\.json$/, ''));

function loadManifest(arch: string): Manifest {
  return JSON.parse(readFileSync(join(MANIFESTS_DIR, `${arch}.json`), 'utf8')) as Manifest;
}

const timmFeature = (f: FeatureInfoEntry, withIndex: boolean): Record<string, unknown> => ({
  module: f.module,
  num_chs: f.numChs,
  reduction: f.reduction,
  stage: f.stage,
  ...(withIndex ? { index: f.index } : {}),
});

// What the state dict says about each block, independently of our builder.
interface ObservedBlock {
  kind: string;
  inChs: number;
  midChs: number;
  outChs: number;
  kernel: number;
  seChs: number;
}
function observeBlocks(sd: Manifest['state_dict']): ObservedBlock[][] {
  const stages: Map<number, Map<number, Map<string, number[]>>> = new Map();
  for (const [key, { shape }] of Object.entries(sd)) {
    const m = /^blocks\.(\d+)\.(\d+)\.(.+)\.weight$/.exec(key);
    if (!m) continue;
    const s = Number(m[1]);
    const b = Number(m[2]);
    if (!stages.has(s)) stages.set(s, new Map());
    const st = stages.get(s)!;
    if (!st.has(b)) st.set(b, new Map());
    st.get(b)!.set(m[3]!, shape);
  }
  return [...stages.keys()]
    .sort((a, b) => a - b)
    .map((s) => {
      const st = stages.get(s)!;
      return [...st.keys()]
        .sort((a, b) => a - b)
        .map((b) => {
          const w = st.get(b)!;
          const se = w.get('se.conv_reduce')?.[0] ?? 0;
          if (w.has('conv_pwl') && w.has('conv_dw')) {
            const pw = w.get('conv_pw')!;
            const dw = w.get('conv_dw')!;
            return { kind: 'ir', inChs: pw[1]!, midChs: pw[0]!, outChs: w.get('conv_pwl')![0]!, kernel: dw[2]!, seChs: se };
          }
          if (w.has('conv_exp')) {
            const ex = w.get('conv_exp')!;
            return { kind: 'er', inChs: ex[1]!, midChs: ex[0]!, outChs: w.get('conv_pwl')![0]!, kernel: ex[2]!, seChs: se };
          }
          if (w.has('conv_dw')) {
            const dw = w.get('conv_dw')!;
            return { kind: 'ds', inChs: dw[0]!, midChs: dw[0]!, outChs: w.get('conv_pw')![0]!, kernel: dw[2]!, seChs: se };
          }
          const c = w.get('conv')!;
          return { kind: 'cn', inChs: c[1]!, midChs: c[0]!, outChs: c[0]!, kernel: c[2]!, seChs: 0 };
        });
    });
}

describe('resolved spec equals the timm manifests', () => {
  assert.ok(manifestArchs.length >= 10, `expected the 10 manifests, found ${manifestArchs.join(', ')}`);
  for (const arch of manifestArchs) {
    describe(arch, () => {
      const m = loadManifest(arch);
      assert.ok(isArchName(arch), `${arch} is not registered`);
      const spec = resolveModelSpec(arch as ArchName);

      it('has the blocks per stage, widths, kernels and SE widths of the state dict', () => {
        const observed = observeBlocks(m.state_dict);
        assert.deepEqual(
          spec.stages.map((s) => s.length),
          m.n_blocks_per_stage,
        );
        const ours = spec.stages.map((s) =>
          s.map((b) => ({
            kind: b.kind === 'dsa' ? 'ds' : b.kind,
            inChs: b.inChs,
            midChs: b.midChs,
            outChs: b.outChs,
            kernel: b.kernel,
            seChs: b.seChs,
          })),
        );
        assert.deepEqual(ours, observed);
        assert.equal(spec.stemChs, m.state_dict['conv_stem.weight']!.shape[0]);
      });

      it('has exactly the ordered state-dict keys, shapes, dtypes and parameter count', () => {
        const ours = stateDictEntries(spec).map((e) => [e.key, { shape: [...e.shape], dtype: e.dtype }]);
        assert.deepEqual(ours, Object.entries(m.state_dict));
        assert.equal(ours.length, m.n_state_dict_keys);
        assert.equal(countParams(spec), m.total_params);
      });

      it('has num_features, num_classes, BN eps and momentum', () => {
        assert.equal(spec.numFeatures, m.num_features);
        assert.equal(spec.numClasses, m.num_classes);
        const bns = allLayers(spec).filter((l) => l.type === 'bn');
        assert.equal(bns.length, m.n_batchnorm);
        assert.deepEqual([...new Set(bns.map((b) => b.eps))], m.bn_eps);
        assert.deepEqual([...new Set(bns.map((b) => b.momentum))], m.bn_momentum);
        assert.equal(spec.bnEps, arch.startsWith('tf_') ? 1e-3 : 1e-5);
      });

      it('pads the same convs dynamically and statically as timm', () => {
        assert.deepEqual(spec.dynamicSameConvs, m.dynamic_same_pad_convs);
        const staticNonzero = allConvs(spec)
          .filter((c) => c.padding !== 'dynamic' && c.padding > 0)
          .map((c) => [c.name, [c.padding, c.padding]]);
        assert.deepEqual(staticNonzero, m.static_padding_nonzero);
      });

      it('has the feature_info of the full model', () => {
        assert.deepEqual(
          spec.featureInfo.map((f) => timmFeature(f, false)),
          m.model_feature_info,
        );
      });

      it('has the feature_info and state dict of the features_only model', () => {
        const fo = resolveModelSpec(arch as ArchName, { featuresOnly: true, outIndices: m.features_only.out_indices });
        assert.ok(fo.featuresOnlyInfo);
        assert.deepEqual(
          fo.featuresOnlyInfo.map((f) => timmFeature(f, true)),
          m.features_only.feature_info,
        );
        assert.deepEqual(
          fo.featuresOnlyInfo.map((f) => f.numChs),
          m.features_only.channels,
        );
        assert.deepEqual(
          fo.featuresOnlyInfo.map((f) => f.reduction),
          m.features_only.reduction,
        );
        assert.deepEqual(
          fo.featuresOnlyInfo.map((f) => f.module),
          m.features_only.module_names,
        );
        assert.equal(stateDictEntries(fo).length, m.features_only.n_state_dict_keys);
        assert.equal(fo.head, null);
        assert.equal(fo.classifier, null);
      });
    });
  }

  it('matches the b0 fixture file itself (config.json and the README padding table)', () => {
    const cfg = JSON.parse(readFileSync(join(FIXTURES, 'tf_efficientnet_b0', 'config.json'), 'utf8')) as {
      architecture: string;
      num_features: number;
      num_classes: number;
    };
    const spec = resolveModelSpec('tf_efficientnet_b0');
    assert.equal(cfg.architecture, 'tf_efficientnet_b0');
    assert.equal(spec.numFeatures, cfg.num_features);
    assert.equal(spec.numClasses, cfg.num_classes);
    // README: pads of blocks.2.0.conv_dw (k5, s2) for x_mixed at 38x27 are (1, 2) / (2, 2).
    assert.deepEqual(tfSamePad(38, 5, 2), [1, 2]);
    assert.deepEqual(tfSamePad(27, 5, 2), [2, 2]);
    assert.deepEqual(tfSamePad(224, 3, 2), [0, 1]);
    assert.deepEqual(tfSamePad(193, 3, 2), [1, 1]);
  });
});

describe('timm arithmetic', () => {
  it('pyRound rounds half to even like Python', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, 4].map(pyRound), [0, 2, 2, 4, 2, 3, 4]);
  });

  it('makeDivisible / roundChannels follow timm (divisor 8, never 10% below)', () => {
    assert.equal(makeDivisible(32 * 4.3), 136);
    assert.equal(makeDivisible(16 * 1.1), 16);
    assert.equal(makeDivisible(12), 16);
    assert.equal(makeDivisible(4), 8);
    assert.equal(roundChannels(1280, 1.1), 1408);
    assert.equal(roundChannels(1280, 0), 1280);
    assert.equal(roundChannels(24, 0.51), 16); // 12.24 -> 16: rounding down to 8 would lose over 10%
    assert.equal(roundChannels(40, 0.54, 8, 0), 24);
  });

  it('scales stage depth with ceil (EfficientNet) and round (TinyNet)', () => {
    assert.deepEqual(scaleStageDepth([3], 1.1, 'ceil'), [4]); // 3 * 1.1 = 3.3000000000000003
    assert.deepEqual(scaleStageDepth([1], 5.3, 'ceil'), [6]);
    assert.deepEqual(scaleStageDepth([2], 0.6, 'round'), [1]);
    assert.deepEqual(scaleStageDepth([1], 0.6, 'round'), [1]);
    assert.deepEqual(scaleStageDepth([4], 0.6, 'round'), [2]); // round(2.4)
    assert.deepEqual(scaleStageDepth([1, 3], 2.0, 'ceil'), [2, 6]);
  });
});

describe('spec details', () => {
  const b0 = resolveModelSpec('tf_efficientnet_b0', { dropPathRate: 0.2 });

  it('numbers blocks globally and ramps drop-path linearly like timm', () => {
    const blocks = b0.stages.flat();
    assert.equal(b0.totalBlocks, 16);
    assert.deepEqual(
      blocks.map((b) => b.blockIdx),
      [...Array(16).keys()],
    );
    for (const b of blocks) assert.equal(b.dropPathRate, (0.2 * b.blockIdx) / 16);
    assert.equal(blocks[0]!.name, 'blocks.0.0');
    assert.equal(blocks[15]!.name, 'blocks.6.0');
  });

  it('has residuals exactly where stride is 1 and widths match', () => {
    const skips = b0.stages.map((s) => s.map((b) => b.hasSkip));
    assert.deepEqual(skips, [
      [false],
      [false, true],
      [false, true],
      [false, true, true],
      [false, true, true],
      [false, true, true, true],
      [false],
    ]);
    assert.deepEqual(
      b0.stages.map((s) => s[0]!.stride),
      [1, 2, 2, 2, 1, 2, 1],
    );
  });

  it('computes the SE width from the block input, not the expanded width (README: 96 -> 4 -> 96)', () => {
    const b = b0.stages[1]![0]!;
    assert.equal(b.midChs, 96);
    assert.equal(b.seChs, 4);
  });

  it('keeps timm default dropRate 0 (paper rates are only hints)', () => {
    assert.equal(b0.dropRate, 0);
    assert.equal(VARIANTS.tf_efficientnet_b7.paperDropRate, 0.5);
  });

  it('converts strides to dilation past outputStride', () => {
    const s = resolveModelSpec('efficientnet_b0', { outputStride: 16, featuresOnly: true });
    const first5 = s.stages[5]![0]!;
    assert.equal(first5.stride, 1);
    assert.equal(first5.dilation, 1);
    assert.equal(s.stages[5]![1]!.dilation, 2);
    assert.equal(s.stages[6]![0]!.dilation, 2);
    assert.deepEqual(
      s.featuresOnlyInfo!.map((f) => f.reduction),
      [2, 4, 8, 16, 16],
    );
  });

  it('reports expansion-location features like timm (conv_pwl input)', () => {
    const s = resolveModelSpec('tf_efficientnet_b0', { featuresOnly: true, featureLocation: 'expansion' });
    assert.deepEqual(
      s.featuresOnlyInfo!.map((f) => [f.module, f.numChs, f.hookType]),
      [
        ['blocks.0.0.conv_pw', 32, 'forward_pre'],
        ['blocks.1.1.conv_pwl', 144, 'forward_pre'],
        ['blocks.2.1.conv_pwl', 240, 'forward_pre'],
        ['blocks.4.2.conv_pwl', 672, 'forward_pre'],
        ['blocks.6.0.conv_pwl', 1152, 'forward_pre'],
      ],
    );
  });

  it('honours numClasses, inChans, globalPool and outIndices', () => {
    const s = resolveModelSpec('tf_efficientnet_b0', { numClasses: 10, inChans: 1, globalPool: 'catavgmax' });
    const sd = new Map(stateDictEntries(s).map((e) => [e.key, e.shape]));
    assert.deepEqual(sd.get('conv_stem.weight'), [32, 1, 3, 3]);
    assert.deepEqual(sd.get('classifier.weight'), [10, 2560]);
    const noHead = resolveModelSpec('tf_efficientnet_b0', { numClasses: 0 });
    assert.equal(noHead.classifier, null);
    const fo = resolveModelSpec('tf_efficientnet_b0', { featuresOnly: true, outIndices: [1, -1] });
    assert.deepEqual(fo.outIndices, [1, 4]);
    assert.deepEqual(
      fo.featuresOnlyInfo!.map((f) => f.index),
      [1, 4],
    );
    assert.throws(() => resolveModelSpec('tf_efficientnet_b0', { featuresOnly: true, outIndices: [5] }), BuildSpecError);
    assert.throws(() => resolveModelSpec('tf_efficientnet_b0', { outIndices: [1] }), /only applies with featuresOnly/);
    assert.throws(() => resolveModelSpec('tf_efficientnet_b0', { dropPathRate: 1.5 }), /dropPathRate/);
  });

  it('builds every registered variant, including b8, plain b1..b8, l2 and TinyNet', () => {
    const summary: Record<string, [number, number, number]> = {};
    for (const arch of Object.keys(VARIANTS) as ArchName[]) {
      const s: EfficientNetSpec = resolveModelSpec(arch);
      summary[arch] = [s.stemChs, s.numFeatures, s.totalBlocks];
      assert.equal(s.padType, VARIANTS[arch].tfCompat ? 'same' : '');
    }
    // Plain and TF variants of a size share the architecture. The numbers below were checked against
    // timm 1.0.29.dev0 instantiated locally (these archs have no manifest in shared/).
    for (const n of ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'l2']) {
      assert.deepEqual(summary[`efficientnet_${n}`], summary[`tf_efficientnet_${n}`]);
    }
    assert.deepEqual(summary['tf_efficientnet_b8'], [72, 2816, 61]);
    // TinyNet: the stem stays 32 wide, the head never narrows below 1280.
    assert.deepEqual(summary['tinynet_e'], [32, 1280, 10]);
    assert.deepEqual(summary['tinynet_a'], [32, 1280, 19]);
    assert.equal(resolveModelSpec('tinynet_e').stages[1]![0]!.outChs, 16);
    assert.equal(genConfig('tinynet_c').depthTrunc, 'round');
  });

  it("builds timm's tiny test model (cn / er / ir blocks)", () => {
    const s = resolveModelSpec('test_efficientnet');
    assert.deepEqual(
      s.stages.flat().map((b) => [b.kind, b.inChs, b.midChs, b.outChs, b.seChs, b.hasSkip]),
      [
        ['cn', 24, 16, 16, 0, false],
        ['er', 16, 64, 24, 0, false],
        ['er', 24, 96, 32, 0, false],
        ['ir', 32, 128, 48, 8, false],
        ['ir', 48, 192, 64, 12, false],
      ],
    );
    assert.equal(s.numFeatures, 256);
    assert.deepEqual(
      s.featureInfo.map((f) => [f.module, f.reduction]),
      [
        ['blocks.0', 2],
        ['blocks.1', 4],
        ['blocks.2', 8],
        ['blocks.3', 16],
        ['blocks.4', 32],
      ],
    );
  });

  it('refuses block types the library does not build, naming the block', () => {
    const gen = { ...genConfig('efficientnet_b0'), archDef: [['ir_r1_k3.5.7_s1_e6_c16']] };
    assert.throws(
      () => resolveEfficientNetSpec(gen),
      (e: unknown) => e instanceof UnsupportedArchError && /MixedConv2d/.test(e.message) && /ir_r1_k3\.5\.7_s1_e6_c16/.test(e.message),
    );
    assert.throws(() => resolveEfficientNetSpec({ ...gen, archDef: [['uir_r1_a3_k5_s1_e2_c256']] }), UnsupportedArchError);
    assert.throws(() => resolveEfficientNetSpec({ ...gen, archDef: [['ir_r1_k3_s1_e6_c320_se0.25_cc4']] }), /CondConv/);
  });

  it('starts feature info at the stem when the first stage reduces', () => {
    const gen = { ...genConfig('efficientnet_b0'), archDef: [['ds_r1_k3_s2_e1_c16'], ['ir_r1_k3_s2_e6_c24']] };
    const s = resolveEfficientNetSpec(gen);
    assert.deepEqual(
      s.featureInfo.map((f) => [f.module, f.numChs, f.stage, f.reduction]),
      [
        ['bn1', 32, 0, 2],
        ['blocks.0', 16, 1, 4],
        ['blocks.1', 24, 2, 8],
      ],
    );
  });
});
