// safetensors: round trips for every dtype, the reference fixture, and hostile files rejected.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsError,
  liveTensorCount,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  scope,
  tensor,
  randn,
  Generator,
} from '../../src/torch/index.js';
import { sharedPath } from '../helpers/paths.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-safetensors-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(json.length));
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([len, json, data]));
  return p;
}

describe('safetensors', () => {
  it('round-trips every dtype bit-exactly, with metadata, in the reference layout', () => {
    const start = liveTensorCount();
    scope(() => {
      const g = new Generator(3);
      const src = {
        f32: randn([3, 4], { generator: g }),
        f64: randn([2], { generator: g, dtype: 'float64' }),
        f16: randn([5], { generator: g }).to('float16'),
        bf16: randn([5], { generator: g }).to('bfloat16'),
        i64: tensor([-(2n ** 62n), 0n, 2n ** 53n + 1n]),
        i32: tensor([-5, 7], { dtype: 'int32' }),
        u8: tensor([0, 255, 17], { dtype: 'uint8' }),
        bool: tensor([true, false]),
        scalar: tensor(1.5),
        empty: randn([0, 3], { generator: g }),
      };
      const p = join(dir, 'all.safetensors');
      saveSafetensors(p, src, { format: 'pt', note: 'x' });
      const { tensors, metadata } = loadSafetensors(p);
      assert.deepEqual(metadata, { format: 'pt', note: 'x' });
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(src).sort());
      for (const [k, t] of Object.entries(src)) {
        const back = tensors.get(k)!;
        assert.equal(back.dtype, t.dtype, k);
        assert.deepEqual(back.shape, t.shape, k);
        assert.deepEqual(Buffer.from(back.toTypedArray().buffer), Buffer.from(t.toTypedArray().buffer), `${k} bytes`);
      }
      const raw = readFileSync(p);
      const hlen = Number(raw.readBigUInt64LE(0));
      assert.equal(hlen % 8, 0, 'header padded to 8 bytes');
      const header = JSON.parse(raw.subarray(8, 8 + hlen).toString());
      assert.equal(header.f64.data_offsets[0], 0, 'largest alignment first');
      g.dispose();
    });
    assert.equal(liveTensorCount(), start);
  });

  it('reads the timm reference checkpoint: 360 keys, 5,288,548 parameters', () =>
    scope(() => {
      const p = sharedPath('fixtures/timm/tf_efficientnet_b0/model.safetensors');
      const header = readSafetensorsHeader(p);
      assert.equal(header.entries.size, 360);
      const { tensors } = loadSafetensors(p);
      let params = 0;
      for (const [k, t] of tensors) if (!/(num_batches_tracked|running_mean|running_var)$/.test(k)) params += t.numel();
      assert.equal(params, 5288548);
      assert.deepEqual(tensors.get('conv_stem.weight')!.shape, [32, 3, 3, 3]);
      assert.equal(tensors.get('bn1.num_batches_tracked')!.dtype, 'int64');
      const manifest = JSON.parse(readFileSync(sharedPath('fixtures/timm/manifests/tf_efficientnet_b0.json'), 'utf8'));
      assert.ok(manifest);
    }));

  const bad: [string, () => string, RegExp][] = [
    [
      'a file shorter than 8 bytes',
      () => (writeFileSync(join(dir, 'short'), Buffer.from([1, 2])), join(dir, 'short')),
      /shorter than the 8-byte header length/,
    ],
    [
      'a truncated data section',
      () => fileWith('trunc', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      /run past the end of the data section/,
    ],
    [
      'a header length beyond the file',
      () => fileWith('hlen', { a: 1 }, new Uint8Array(0), 1000n),
      /header length 1000 runs past the end of the file/,
    ],
    ['a header length over the limit', () => fileWith('huge', {}, new Uint8Array(0), 2n ** 60n), /exceeds the 100000000-byte limit/],
    [
      'overlapping offsets',
      () =>
        fileWith(
          'overlap',
          { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
          new Uint8Array(12),
        ),
      /overlaps/,
    ],
    [
      'an unknown dtype',
      () => fileWith('dtype', { a: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
      /unknown dtype "Q4"/,
    ],
    [
      'shape and byte count that disagree',
      () => fileWith('mismatch', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /needs 12 bytes but data_offsets give 8/,
    ],
    [
      'a gap between tensors',
      () => fileWith('gap', { a: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }, new Uint8Array(4)),
      /gap of 2 bytes/,
    ],
    ['a header that is not JSON', () => fileWith('json', '{"a": ', new Uint8Array(0)), /not valid JSON/],
    ['a header that is not an object', () => fileWith('arr', [1, 2], new Uint8Array(0)), /must be a JSON object/],
    ['a negative or fractional dim', () => fileWith('dim', { a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }), /invalid dim -1/],
    [
      'a gigantic shape',
      () => fileWith('giant', { a: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /needs \d+ bytes but data_offsets give 4/,
    ],
    ['non-string metadata', () => fileWith('meta', { __metadata__: { a: 1 } }), /__metadata__\["a"\] must be a string/],
    [
      'bad data_offsets',
      () => fileWith('offs', { a: { dtype: 'U8', shape: [1], data_offsets: [0] } }, new Uint8Array(1)),
      /data_offsets must be two/,
    ],
    [
      'trailing bytes nobody claims',
      () => fileWith('trail', { a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(5)),
      /data section has 5 bytes but the tensors describe 1/,
    ],
    [
      'BOOL bytes other than 0/1',
      () => fileWith('bool', { a: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, new Uint8Array([1, 7])),
      /BOOL but holds bytes other than 0\/1/,
    ],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what} with a clear error`, () => {
      const start = liveTensorCount();
      const p = make();
      assert.throws(
        () => loadSafetensors(p),
        (e: unknown) => e instanceof SafetensorsError && message.test(e.message) && e.message.includes(p),
      );
      assert.equal(liveTensorCount(), start);
    });
  }
});
