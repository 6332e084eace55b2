import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  archPretrained,
  hasWeights,
  LEGACY_ALIASES,
  PRETRAINED,
  pretrainedCfgFromTimmDict,
  PretrainedCfgError,
  toHubConfig,
  toTimmDict,
} from '../../src/models/pretrained.js';
import { resolveModelName } from '../../src/models/names.js';
import { ARCH_NAMES, isArchName, resolveModelSpec } from '../../src/models/variants.js';
import { MANIFESTS_DIR, FIXTURES } from '../helpers/paths.js';

interface Manifest {
  default_tag: string;
  pretrained_tags: string[];
  pretrained_cfgs: Record<string, Record<string, unknown>>;
}
const manifestArchs = readdirSync(MANIFESTS_DIR)
  .filter((f) => f.endsWith('.json') && !['summary.json', 'legacy_aliases.json'].includes(f))
  .map((f) => f.replace(/\.json$/, ''));

describe('pretrained cfgs equal the timm manifests', () => {
  for (const arch of manifestArchs) {
    it(arch, () => {
      const m = JSON.parse(readFileSync(join(MANIFESTS_DIR, `${arch}.json`), 'utf8')) as Manifest;
      assert.ok(isArchName(arch));
      const p = archPretrained(arch);
      assert.equal(p.defaultTag, m.default_tag);
      assert.deepEqual([...p.tags].sort(), m.pretrained_tags);
      for (const tag of m.pretrained_tags) {
        const ours = toTimmDict(p.cfgs.get(tag)!);
        assert.deepEqual(ours, m.pretrained_cfgs[tag], `${arch}.${tag}`);
        // Same key order too: config.json files are compared as text by people.
        assert.deepEqual(Object.keys(ours), Object.keys(m.pretrained_cfgs[tag]!), `${arch}.${tag} key order`);
      }
    });
  }

  it('the l2 default is the 475px Noisy Student tag', () => {
    assert.equal(archPretrained('tf_efficientnet_l2').defaultTag, 'ns_jft_in1k_475');
    assert.deepEqual(archPretrained('tf_efficientnet_l2').cfgs.get('ns_jft_in1k_475')!.inputSize, [3, 475, 475]);
  });

  it('archs outside the manifests follow timm (defaults, untrained, hub ids)', () => {
    assert.equal(archPretrained('tf_efficientnet_b8').defaultTag, 'ap_in1k');
    assert.equal(archPretrained('efficientnet_b1').defaultTag, 'ra4_e3600_r240_in1k');
    const b1 = archPretrained('efficientnet_b1').cfgs.get('ra4_e3600_r240_in1k')!;
    assert.equal(b1.url, '');
    assert.equal(b1.hfHubId, 'timm/efficientnet_b1.ra4_e3600_r240_in1k');
    assert.deepEqual(b1.testInputSize, [3, 288, 288]);
    assert.equal(b1.testCropPct, 1.0);
    const sw = archPretrained('efficientnet_b5').cfgs.get('sw_in12k')!;
    assert.equal(sw.numClasses, 11821);
    assert.equal(archPretrained('efficientnet_b5').cfgs.get('sw_in12k_ft_in1k')!.cropMode, 'squash');
    for (const a of ['efficientnet_b6', 'efficientnet_b7', 'efficientnet_b8', 'efficientnet_l2'] as const) {
      const p = archPretrained(a);
      assert.equal(p.defaultTag, 'untrained');
      assert.equal(p.isPretrained, false);
      assert.equal(hasWeights(p.cfgs.get('untrained')!), false);
    }
    const tiny = archPretrained('tinynet_e').cfgs.get('in1k')!;
    assert.deepEqual(tiny.inputSize, [3, 106, 106]);
    assert.equal(tiny.hfHubId, 'timm/tinynet_e.in1k');
  });

  it('every registered arch has a cfg whose pool size matches the spec at its input size', () => {
    for (const arch of ARCH_NAMES) {
      const p = archPretrained(arch);
      for (const cfg of p.cfgs.values()) {
        assert.equal(cfg.architecture, arch);
        const side = cfg.inputSize[1];
        // pool_size = ceil(input / 32) for every EfficientNet at output stride 32
        assert.deepEqual(cfg.poolSize, [Math.ceil(side / 32), Math.ceil(side / 32)], `${arch}.${cfg.tag}`);
        if (cfg.hfHubId) assert.equal(cfg.hfHubId, `timm/${arch}.${cfg.tag}`);
      }
    }
    assert.equal(PRETRAINED.size, ARCH_NAMES.length);
  });
});

describe('legacy aliases', () => {
  const legacy = JSON.parse(readFileSync(join(MANIFESTS_DIR, 'legacy_aliases.json'), 'utf8')) as {
    ns_aliases: Record<string, string>;
    aliases_for_manifest_archs: Record<string, string>;
    all_efficientnet_module_deprecations: Record<string, string>;
  };

  it('resolve like timm (ns aliases and the ones for manifest archs)', () => {
    for (const [alias, target] of Object.entries({ ...legacy.ns_aliases, ...legacy.aliases_for_manifest_archs })) {
      const r = resolveModelName(alias);
      assert.equal(r.fullName, target, alias);
      assert.equal(r.aliasOf, target);
      assert.equal(r.explicitTag, true);
    }
    assert.equal(resolveModelName('tf_efficientnet_b0_ns').fullName, 'tf_efficientnet_b0.ns_jft_in1k');
    assert.equal(resolveModelName('tf_efficientnet_l2_ns_475').fullName, 'tf_efficientnet_l2.ns_jft_in1k_475');
  });

  it("are exactly timm's deprecations whose target we register", () => {
    const expected = Object.fromEntries(
      Object.entries(legacy.all_efficientnet_module_deprecations).filter(([, target]) => isArchName(target.split('.')[0]!)),
    );
    assert.deepEqual({ ...LEGACY_ALIASES }, expected);
    assert.equal(resolveModelName('efficientnet_b3a').fullName, 'efficientnet_b3.ra2_in1k');
  });
});

describe('timm dict conversion', () => {
  it("toHubConfig writes what timm's save_config_for_hf wrote for the b0 fixture", () => {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'tf_efficientnet_b0', 'config.json'), 'utf8')) as unknown;
    const cfg = resolveModelName('tf_efficientnet_b0_ns').pretrainedCfg;
    const spec = resolveModelSpec('tf_efficientnet_b0');
    const ours = toHubConfig(cfg, { numClasses: spec.numClasses, numFeatures: spec.numFeatures });
    assert.equal(JSON.stringify(ours, null, 2), JSON.stringify(fixture, null, 2));
  });

  it('parses a config.json pretrained_cfg back onto a base config', () => {
    const base = archPretrained('tf_efficientnet_b0').cfgs.get('ns_jft_in1k')!;
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'tf_efficientnet_b0', 'config.json'), 'utf8')) as {
      pretrained_cfg: Record<string, unknown>;
    };
    const { cfg, ignored } = pretrainedCfgFromTimmDict({ ...fixture.pretrained_cfg, crop_pct: 0.9, some_future_field: 1 }, base);
    assert.equal(cfg.cropPct, 0.9);
    assert.equal(cfg.hfHubId, base.hfHubId);
    assert.deepEqual(ignored, ['some_future_field']);
    assert.deepEqual(pretrainedCfgFromTimmDict(toTimmDict(base), base).cfg, base);
    assert.throws(() => pretrainedCfgFromTimmDict({ input_size: 224 }, base), PretrainedCfgError);
  });

  it('keeps pool_size / first_conv / classifier even when null, like filter_pretrained_cfg', () => {
    const base = archPretrained('tf_efficientnet_b0').cfgs.get('ns_jft_in1k')!;
    const d = toTimmDict({ ...base, poolSize: null, firstConv: null, classifier: null, license: undefined });
    assert.equal(d['pool_size'], null);
    assert.equal(d['first_conv'], null);
    assert.equal(d['classifier'], null);
    assert.ok(!('license' in d));
    assert.ok(!('url' in toTimmDict(base, { removeSource: true })));
  });
});
