import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  closestModelNames,
  editDistance,
  fnmatchToRegExp,
  isModelPretrained,
  listModels,
  naturalCompare,
  resolveModelName,
  splitTag,
  UnknownModelError,
  UnknownTagError,
} from '../../src/models/names.js';

describe('splitTag / resolveModelName', () => {
  it('splits at the first dot like timm', () => {
    assert.deepEqual(splitTag('tf_efficientnet_b0.ns_jft_in1k'), { arch: 'tf_efficientnet_b0', tag: 'ns_jft_in1k' });
    assert.deepEqual(splitTag('tf_efficientnet_b0'), { arch: 'tf_efficientnet_b0', tag: '' });
    assert.deepEqual(splitTag('a.b.c'), { arch: 'a', tag: 'b.c' });
  });

  it('resolves bare names to the default tag and keeps explicit tags', () => {
    const bare = resolveModelName('tf_efficientnet_b0');
    assert.equal(bare.fullName, 'tf_efficientnet_b0.ns_jft_in1k');
    assert.equal(bare.explicitTag, false);
    assert.equal(bare.aliasOf, undefined);
    const ap = resolveModelName('tf_efficientnet_b0.ap_in1k');
    assert.equal(ap.tag, 'ap_in1k');
    assert.deepEqual(ap.pretrainedCfg.mean, [0.5, 0.5, 0.5]);
    assert.equal(resolveModelName('tf_efficientnet_l2').tag, 'ns_jft_in1k_475');
  });

  it('resolves legacy aliases', () => {
    const r = resolveModelName('tf_efficientnet_b3_ns');
    assert.equal(r.arch, 'tf_efficientnet_b3');
    assert.equal(r.tag, 'ns_jft_in1k');
    assert.equal(r.aliasOf, 'tf_efficientnet_b3.ns_jft_in1k');
    assert.equal(r.requested, 'tf_efficientnet_b3_ns');
  });

  it('throws E_UNKNOWN_MODEL with the closest names', () => {
    assert.throws(
      () => resolveModelName('efficientnet_b9'),
      (e: unknown) => {
        assert.ok(e instanceof UnknownModelError);
        assert.equal(e.code, 'E_UNKNOWN_MODEL');
        assert.deepEqual(e.suggestions, ['efficientnet_b0', 'efficientnet_b1', 'efficientnet_b2', 'efficientnet_b3', 'efficientnet_b4']);
        assert.match(e.message, /^Unknown model "efficientnet_b9"\. Did you mean: efficientnet_b0, efficientnet_b1, /);
        return true;
      },
    );
    assert.deepEqual(closestModelNames('tf_efficientnet_b0_nss', 3), [
      'tf_efficientnet_b0_ns',
      'tf_efficientnet_b1_ns',
      'tf_efficientnet_b2_ns',
    ]);
    assert.deepEqual(closestModelNames('resnet50'), []);
    assert.throws(() => resolveModelName('resnet50'), /Unknown model "resnet50"\. \(listModels\(\)/);
    assert.throws(() => resolveModelName('__proto__'), UnknownModelError);
    assert.throws(() => resolveModelName('toString'), UnknownModelError);
  });

  it('throws E_UNKNOWN_TAG listing the tags', () => {
    assert.throws(
      () => resolveModelName('tf_efficientnet_b0.ns'),
      (e: unknown) =>
        e instanceof UnknownTagError && e.code === 'E_UNKNOWN_TAG' && /it has: ns_jft_in1k, ap_in1k, aa_in1k, in1k/.test(e.message),
    );
  });

  it('knows which names have weights', () => {
    assert.equal(isModelPretrained('tf_efficientnet_b0_ns'), true);
    assert.equal(isModelPretrained('efficientnet_b7'), false);
    assert.equal(isModelPretrained('efficientnet_b9'), false);
  });
});

describe('listModels', () => {
  // Expected values are timm 1.0.29.dev0's list_models output for the same arguments.
  it('filters with fnmatch wildcards and sorts naturally', () => {
    assert.deepEqual(listModels('tf_efficientnet_b?'), [
      'tf_efficientnet_b0',
      'tf_efficientnet_b1',
      'tf_efficientnet_b2',
      'tf_efficientnet_b3',
      'tf_efficientnet_b4',
      'tf_efficientnet_b5',
      'tf_efficientnet_b6',
      'tf_efficientnet_b7',
      'tf_efficientnet_b8',
    ]);
    assert.deepEqual(listModels('efficientnet_b[!0-5]'), ['efficientnet_b6', 'efficientnet_b7', 'efficientnet_b8']);
    assert.deepEqual(listModels('*l2'), ['efficientnet_l2', 'tf_efficientnet_l2']);
  });

  it('lists arch.tag names with weights when pretrained', () => {
    assert.deepEqual(listModels('tinynet*', { pretrained: true }), [
      'tinynet_a.in1k',
      'tinynet_b.in1k',
      'tinynet_c.in1k',
      'tinynet_d.in1k',
      'tinynet_e.in1k',
    ]);
    assert.deepEqual(listModels('tf_efficientnet_b0', { pretrained: true }), [
      'tf_efficientnet_b0.aa_in1k',
      'tf_efficientnet_b0.ap_in1k',
      'tf_efficientnet_b0.in1k',
      'tf_efficientnet_b0.ns_jft_in1k',
    ]);
    assert.deepEqual(listModels('tf_efficientnet_b0.n*', { pretrained: true }), ['tf_efficientnet_b0.ns_jft_in1k']);
    assert.deepEqual(listModels('tf_efficientnet_b[0-3]*', { pretrained: true }).length, 16);
    assert.deepEqual(listModels('efficientnet_[bl]?', { pretrained: true }), [
      'efficientnet_b0.ra4_e3600_r224_in1k',
      'efficientnet_b0.ra_in1k',
      'efficientnet_b1.ft_in1k',
      'efficientnet_b1.ra4_e3600_r240_in1k',
      'efficientnet_b2.ra_in1k',
      'efficientnet_b3.ra2_in1k',
      'efficientnet_b4.ra2_in1k',
      'efficientnet_b5.sw_in12k',
      'efficientnet_b5.sw_in12k_ft_in1k',
    ]);
    assert.deepEqual(listModels('efficientnet_[bl]?', { pretrained: true, includeTags: false }), [
      'efficientnet_b0',
      'efficientnet_b1',
      'efficientnet_b2',
      'efficientnet_b3',
      'efficientnet_b4',
      'efficientnet_b5',
    ]);
  });

  it('supports several filters and exclusions', () => {
    assert.deepEqual(listModels(['tf_efficientnet_b1*', 'tinynet_?'], { includeTags: true, exclude: ['*ap*', 'tinynet_[a-c]'] }), [
      'tf_efficientnet_b1.aa_in1k',
      'tf_efficientnet_b1.in1k',
      'tf_efficientnet_b1.ns_jft_in1k',
      'tinynet_d.in1k',
      'tinynet_e.in1k',
    ]);
  });

  it('never lists legacy aliases, and lists every arch without a filter', () => {
    const all = listModels();
    assert.equal(all.length, 26);
    assert.ok(!all.some((n) => n.endsWith('_ns')));
    assert.ok(all.includes('test_efficientnet'));
  });
});

describe('helpers', () => {
  it('naturalCompare orders digit runs numerically', () => {
    assert.deepEqual(['b10', 'b2', 'B1', 'a'].sort(naturalCompare), ['a', 'B1', 'b2', 'b10']);
  });
  it('fnmatchToRegExp handles *, ?, classes and literal specials', () => {
    assert.ok(fnmatchToRegExp('a.b*').test('a.bcd'));
    assert.ok(!fnmatchToRegExp('a.b*').test('axbcd'));
    assert.ok(fnmatchToRegExp('x[!ab]').test('xc'));
    assert.ok(!fnmatchToRegExp('x[!ab]').test('xa'));
    assert.ok(fnmatchToRegExp('x[').test('x['));
    assert.ok(fnmatchToRegExp('(a)+').test('(a)+'));
  });
  it('editDistance is Levenshtein', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });
});
