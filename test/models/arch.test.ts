import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchStringError, decodeArchDef, decodeBlock, encodeBlock, type BlockSpec } from '../../src/models/arch.js';
import { EFFICIENTNET_ARCH_DEF, TEST_EFFICIENTNET_ARCH_DEF } from '../../src/models/variants.js';

describe('decodeBlock', () => {
  it('decodes the EfficientNet blocks into the typed union', () => {
    assert.deepEqual(decodeBlock('ds_r1_k3_s1_e1_c16_se0.25'), {
      kind: 'ds',
      repeats: 1,
      stride: 1,
      outChs: 16,
      dwKernel: 3,
      pwKernel: 1,
      seRatio: 0.25,
      noskip: false,
      spaceToDepth: false,
      expRatio: 1,
    });
    assert.deepEqual(decodeBlock('ir_r2_k3_s2_e6_c24_se0.25'), {
      kind: 'ir',
      repeats: 2,
      stride: 2,
      outChs: 24,
      dwKernel: 3,
      expKernel: 1,
      pwKernel: 1,
      expRatio: 6,
      seRatio: 0.25,
      noskip: false,
      spaceToDepth: false,
    });
  });

  it('accepts options in any order, as timm does', () => {
    assert.deepEqual(decodeBlock('ir_c24_se0.25_e6_s2_k3_r2'), decodeBlock('ir_r2_k3_s2_e6_c24_se0.25'));
  });

  it('decodes every option timm gives a meaning to', () => {
    const mix = decodeBlock('ir_r3_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw');
    assert.ok(mix.kind === 'ir');
    assert.deepEqual(mix.dwKernel, [3, 5, 7, 9]);
    assert.deepEqual(mix.expKernel, [1, 1]);
    assert.deepEqual(mix.pwKernel, [1, 1]);
    assert.equal(mix.act, 'sw');
    const er = decodeBlock('er_r1_k3_s1_e4_c24_fc24_noskip');
    assert.ok(er.kind === 'er');
    assert.equal(er.forceInChs, 24);
    assert.equal(er.noskip, true);
    assert.equal((decodeBlock('er_r1_k3_s1_e4_gs64_c32') as BlockSpec).groupSize, 64);
    const cc = decodeBlock('ir_r1_k3_s1_e6_c320_se0.25_cc4');
    assert.ok(cc.kind === 'ir' && cc.numExperts === 4);
    const cn = decodeBlock('cn_r1_k3_s1_e1_c16_skip');
    assert.ok(cn.kind === 'cn' && cn.skip && cn.kernel === 3);
    const dsa = decodeBlock('dsa_r1_k3_s1_c16');
    assert.ok(dsa.kind === 'dsa' && !dsa.noskip);
    const s2d = decodeBlock('ds_r1_k3_s1_e1_c16_se0.25_d1');
    assert.ok(s2d.kind === 'ds' && s2d.spaceToDepth);
    const uir = decodeBlock('uir_r1_a0_k5_s1_e3_c128');
    assert.ok(uir.kind === 'uir' && uir.dwKernelStart === 0 && uir.dwKernelMid === 5 && uir.dwKernelEnd === 0);
    const mqa = decodeBlock('mqa_r1_k3_h4_s1_v2_d64_c160');
    assert.ok(mqa.kind === 'mqa' && mqa.numHeads === 4 && mqa.kvStride === 2 && mqa.kvDim === 64);
    for (const [code, act] of [
      ['re', 're'],
      ['r6', 'r6'],
      ['hs', 'hs'],
      ['sw', 'sw'],
      ['mi', 'mi'],
    ] as const) {
      assert.equal(decodeBlock(`ir_r1_k3_s1_e3_c24_n${code}`).act, act);
    }
    assert.equal((decodeBlock('ir_r1_k3_s1_e3.67_c24_nre') as { expRatio: number }).expRatio, 3.67);
  });

  const bad: [string, string, RegExp][] = [
    ['ir_r2_k3_s3_e6_c24', 's3', /stride must be 1 or 2/],
    ['ir_r2_k3_s2_e6', 'c', /missing required option "c"/],
    ['xx_r1_k3_s1_c16', 'xx', /unknown block type/],
    ['ir_r2_k3_s2_e6_c24_nzz', 'nzz', /unknown activation "zz"/],
    ['ir_r2_k3_s2_e6_c24_k5', 'k5', /duplicate option "k"/],
    ['ir_r2_k3_s2_e6_c24_q7', 'q7', /option "q" is not valid for "ir"/],
    ['ir_r2_k3_s2_e6_c24_fc8', 'fc8', /option "fc" is not valid for "ir"/],
    ['ir_r2_kx_s2_e6_c24', 'kx', /expected <key><number>/],
    ['ir_r0_k3_s2_e6_c24', 'r0', /must be >= 1/],
    ['ir_r2_k3_s2_e0_c24', 'e0', /expansion ratio must be > 0/],
    ['ir_r2_k3_s2_e6_c2.5', 'c2.5', /expected an integer/],
    ['ir_r2_k3_s2_e6_c24_se0.2.5', 'se0.2.5', /expected a number/],
    ['ds_r1_k3_s1_e6_c16', 'e6', /only e1 is accepted/],
    ['ir_r1_k3_s1_e6_c16_skip', 'skip', /only applies to cn/],
    ['ir_r1_k3_s1_e6_c16_noskip_noskip', 'noskip', /conflicts/],
    ['cn_r1_k3.5_s1_c16', 'k3.5', /expected an integer/],
    ['ir_r1_k3_s1_e6_c16__se0.25', '', /expected <key><number>/],
  ];
  for (const [src, token, why] of bad) {
    it(`rejects "${src}" naming token "${token}"`, () => {
      assert.throws(
        () => decodeBlock(src),
        (e: unknown) => {
          assert.ok(e instanceof ArchStringError);
          assert.equal(e.code, 'E_ARCH_STRING');
          assert.equal(e.token, token);
          assert.match(e.message, why);
          assert.ok(e.message.startsWith(`Invalid arch string "${src}": token "${token}": `), e.message);
          return true;
        },
      );
    });
  }

  it('words the stride error as the style guide shows', () => {
    assert.throws(() => decodeBlock('ir_r2_k3_s3_e6_c24'), {
      message: 'Invalid arch string "ir_r2_k3_s3_e6_c24": token "s3": stride must be 1 or 2',
    });
  });
});

describe('encodeBlock', () => {
  const canonical = [
    ...EFFICIENTNET_ARCH_DEF.flat(),
    ...TEST_EFFICIENTNET_ARCH_DEF.flat(),
    // Canonical strings of other timm families, covering every option.
    'ds_r1_k3_s1_c16_noskip',
    'ds_r1_k3_s1_e1_c16_nre_noskip',
    'ds_r1_k3_s1_e1_c16_se0.25_d1',
    'dsa_r1_k3_s1_c16',
    'ir_r1_k3_s2_e4.5_c24_nre',
    'ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c32',
    'ir_r3_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw',
    'ir_r1_k3_s1_e6_c320_se0.25_cc4',
    'ir_r1_k3_s1_e6_c320_noskip',
    'er_r1_k3_s1_e4_c24_fc24_noskip',
    'er_r2_k3_s2_e6_c24_se0.25_nre',
    'cn_r1_k1_s1_c16',
    'cn_r4_k3_s1_e1_c32_skip',
    'uir_r1_a3_k5_s1_e2_c256',
    'uir_r1_a0_k0_s1_e2_c160',
    'mqa_r1_k3_h4_s1_v2_d64_c160',
    'mha_r1_k3_h8_s2_d64_c512',
  ];
  for (const s of canonical) {
    it(`round-trips ${s}`, () => {
      assert.equal(encodeBlock(decodeBlock(s)), s);
    });
  }

  it('normalises other option orders to one canonical string with the same meaning', () => {
    for (const s of ['ir_r1_k3_s1_e3_c40_nre_se0.25', 'er_r1_k3_s1_e4_gs64_c32', 'ir_c24_se0.25_e6_s2_k3_r2']) {
      const b = decodeBlock(s);
      const enc = encodeBlock(b);
      assert.deepEqual(decodeBlock(enc), b);
      assert.equal(encodeBlock(decodeBlock(enc)), enc);
    }
    assert.equal(encodeBlock(decodeBlock('ir_r1_k3_s1_e3_c40_nre_se0.25')), 'ir_r1_k3_s1_e3_c40_se0.25_nre');
  });

  it('decodeArchDef keeps the stage structure', () => {
    const d = decodeArchDef(EFFICIENTNET_ARCH_DEF);
    assert.equal(d.length, 7);
    assert.deepEqual(
      d.map((s) => s.map((b) => b.kind)),
      [['ds'], ['ir'], ['ir'], ['ir'], ['ir'], ['ir'], ['ir']],
    );
  });
});
