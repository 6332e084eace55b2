// loadSafetensors frees the tensors it already made when a later tensor of the file is refused:
// the caller gets an error, never a half-built state dict, so nothing of it can be left alive.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsError, externalTensorBytes, liveTensorCount, loadSafetensors } from '../../src/torch/index.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-safetensors-leaks-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file whose header is valid; `data` is the whole data section. */
function fileWith(name: string, header: Record<string, unknown>, data: Uint8Array): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([len, json, data]));
  return p;
}

const MB = 1 << 20;

describe('loadSafetensors on a file refused part-way', () => {
  it('frees the tensors made before the bad one (a BOOL tensor holding 2, after 8 MiB of floats)', () => {
    // Header order is load order: two good F32 tensors, then the bad BOOL one.
    const floats = 1 * MB; // 4 MiB each
    const p = fileWith(
      'bad-bool-last.safetensors',
      {
        a: { dtype: 'F32', shape: [floats], data_offsets: [0, 4 * floats] },
        b: { dtype: 'F32', shape: [floats], data_offsets: [4 * floats, 8 * floats] },
        z: { dtype: 'BOOL', shape: [3], data_offsets: [8 * floats, 8 * floats + 3] },
      },
      Buffer.concat([Buffer.alloc(8 * floats), Buffer.from([0, 1, 2])]),
    );
    const start = liveTensorCount();
    const bytes = externalTensorBytes();
    assert.throws(
      () => loadSafetensors(p),
      (e: unknown) => e instanceof SafetensorsError && /"z" is BOOL/.test(e.message),
    );
    assert.equal(liveTensorCount(), start, 'tensors "a" and "b" were left alive');
    assert.equal(externalTensorBytes(), bytes);
  });

  it('frees nothing it was not asked for and still loads the good tensors by name', () => {
    const p = join(dir, 'bad-bool-last.safetensors');
    const start = liveTensorCount();
    const { tensors } = loadSafetensors(p, { names: ['a', 'b'] });
    assert.equal(tensors.size, 2);
    assert.equal(liveTensorCount(), start + 2);
    for (const t of tensors.values()) t.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('makes no tensor from a file whose data section is shorter than its header says', () => {
    const p = fileWith(
      'truncated.safetensors',
      {
        a: { dtype: 'F32', shape: [1024], data_offsets: [0, 4096] },
        b: { dtype: 'F32', shape: [1024], data_offsets: [4096, 8192] },
      },
      Buffer.alloc(6000),
    );
    const start = liveTensorCount();
    assert.throws(() => loadSafetensors(p), SafetensorsError);
    assert.equal(liveTensorCount(), start);
  });
});
