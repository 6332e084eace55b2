// Devices: parsing and the clear errors for devices this libtorch lacks, moving tensors (with
// autograd), factories on a device, moving modules and models. On a CPU-only libtorch the moves are
// to 'cpu'; the CUDA cases check the errors, and run for real where CUDA is there.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeviceError,
  Generator,
  cudaAvailable,
  cudaDeviceCount,
  environmentInfo,
  fromTypedArray,
  liveTensorCount,
  noGrad,
  ones,
  parseDevice,
  randn,
  scope,
  tensor,
  zeros,
  empty,
  full,
  arange,
  rand,
  zerosLike,
} from '../../src/torch/index.js';
import { BatchNorm2d, Linear, Module } from '../../src/nn/index.js';
import { createModel } from '../../src/models/index.js';

let start: number;
before(() => {
  start = liveTensorCount();
});
after(() => {
  assert.equal(liveTensorCount(), start);
});

const cuda = cudaAvailable();

class Tiny extends Module {
  readonly fc = this.registerModule('fc', new Linear(3, 2, { generator: new Generator(1) }));
  readonly bn = this.registerModule('bn', new BatchNorm2d(2));
}

describe('parseDevice', () => {
  it('normalises like torch', () => {
    assert.equal(parseDevice('cpu'), 'cpu');
    assert.equal(parseDevice('cpu:0'), 'cpu');
    if (cuda) {
      assert.equal(parseDevice('cuda'), 'cuda:0');
      assert.equal(parseDevice('cuda:0'), 'cuda:0');
    }
  });

  it('says clearly when this libtorch has no CUDA, and rejects junk', () => {
    assert.equal(cudaDeviceCount() > 0, cuda);
    if (!cuda) {
      for (const d of ['cuda', 'cuda:0']) {
        assert.throws(
          () => parseDevice(d),
          (e: unknown) =>
            e instanceof DeviceError &&
            e.code === 'E_DEVICE' &&
            e.message.startsWith(`device ${d}: this libtorch (`) &&
            /has no CUDA; build the addon against a CUDA libtorch with LIBTORCH=\/path\/to\/libtorch npm run build:native/.test(e.message),
        );
      }
    } else {
      const n = cudaDeviceCount();
      assert.throws(() => parseDevice(`cuda:${n}`), new RegExp(`only ${n} CUDA device`));
    }
    assert.throws(
      () => parseDevice('gpu'),
      (e: unknown) => e instanceof DeviceError && /'gpu' is not a device string/.test(e.message),
    );
    assert.throws(() => parseDevice('cuda:x'), DeviceError);
    assert.throws(() => parseDevice(''), DeviceError);
    assert.throws(() => parseDevice('cpu:1'), /one CPU device/);
    assert.throws(() => parseDevice('mps'), /runs on cpu and cuda devices, not mps/);
  });

  it('environmentInfo is plain JSON with the engine facts', () => {
    const info = environmentInfo();
    assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
    assert.match(info.libtorch, /^\d+\.\d+/);
    assert.equal(info.cuda, cuda);
    assert.equal(info.cudaDevices, cudaDeviceCount());
    assert.ok(info.threads >= 1);
    assert.equal(typeof info.cpu.model, 'string');
    assert.ok(Array.isArray(info.cpu.flags));
    assert.equal(typeof info.mkldnn, 'boolean');
  });
});

describe('Tensor.to(device)', () => {
  it("round-trips through to('cpu'), with and without a dtype", () =>
    scope(() => {
      const a = tensor([
        [1, 2],
        [3, 4.5],
      ]);
      const same = a.to('cpu');
      assert.equal(same.device, 'cpu');
      assert.ok(same.isSame(a), "to('cpu') of a CPU tensor is the tensor itself, like torch");
      assert.ok(!a.to('cpu', { copy: true }).isSame(a));
      const d = a.to({ device: 'cpu', dtype: 'float64' });
      assert.equal(d.dtype, 'float64');
      assert.deepEqual(d.toArray(), [1, 2, 3, 4.5]);
      assert.equal(a.to({ dtype: 'int64' }).dtype, 'int64');
      assert.deepEqual(a.cpu().toArray(), [1, 2, 3, 4.5]);
      assert.throws(() => a.to('cuda:x'), DeviceError);
      if (!cuda) assert.throws(() => a.to('cuda'), /has no CUDA/);
    }));

  it('is differentiable', () =>
    scope(() => {
      const x = tensor([1, 2, 3], { requiresGrad: true });
      const y = x.to({ device: 'cpu', dtype: 'float64' });
      assert.ok(y.requiresGrad);
      y.mul(tensor([2, 3, 4], { dtype: 'float64' }))
        .sum()
        .backward();
      assert.equal(x.grad!.dtype, 'float32');
      assert.deepEqual(x.grad!.toArray(), [2, 3, 4]);
      if (cuda) {
        const z = tensor([1, 2], { requiresGrad: true });
        z.to('cuda').mul(3).sum().backward();
        assert.equal(z.grad!.device, 'cpu');
        assert.deepEqual(z.grad!.toArray(), [3, 3]);
      }
    }));

  it('factories take a device', () =>
    scope(() => {
      const made = [
        zeros([2], { device: 'cpu' }),
        ones([2], { device: 'cpu' }),
        empty([2], { device: 'cpu' }),
        full([2], 3, { device: 'cpu' }),
        arange(3, undefined, 1, { device: 'cpu' }),
        rand([2], { device: 'cpu' }),
        randn([2], { device: 'cpu', generator: new Generator(3) }),
        tensor([1, 2], { device: 'cpu' }),
        fromTypedArray(new Float32Array([1, 2]), [2], { device: 'cpu' }),
        zerosLike(ones([2]), { device: 'cpu' }),
      ];
      for (const t of made) assert.equal(t.device, 'cpu');
      assert.deepEqual(made[8]!.toArray(), [1, 2]);
      assert.ok(ones([2], { device: 'cpu', requiresGrad: true }).isLeaf);
      if (!cuda) {
        assert.throws(() => zeros([2], { device: 'cuda' }), DeviceError);
        assert.throws(() => fromTypedArray(new Float32Array([1]), [1], { device: 'cuda:0' }), DeviceError);
      } else {
        const g = fromTypedArray(new Float32Array([1, 2]), [2], { device: 'cuda' });
        assert.equal(g.device, 'cuda:0');
        assert.deepEqual(g.toTypedArray(), new Float32Array([1, 2]));
        assert.equal(g.sum().item(), 3);
        assert.throws(() => g.dataView(), /zero-copy view needs a CPU tensor/);
        assert.throws(() => randn([2], { device: 'cuda', generator: new Generator(1) }), /Generator draws on the CPU/);
      }
    }));
});

/** A module's live tensor by state-dict key. */
const sd = (m: Module, key: string) => m.stateDict().get(key)!;

describe('Module.to(device)', () => {
  it("keeps the state dict and trainable parameters through to('cpu')", () => {
    const m = new Tiny();
    assert.equal(m.device, 'cpu');
    sd(m, 'fc.bias').requiresGrad = false;
    const before = new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray()]));
    assert.equal(m.to('cpu'), m);
    assert.deepEqual(new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray()])), before);
    assert.equal(sd(m, 'fc.weight').requiresGrad, true);
    assert.equal(sd(m, 'fc.bias').requiresGrad, false, 'a frozen parameter stays frozen');
    scope(() => {
      const loss = m.fc.forward(ones([4, 3])).sum();
      loss.backward();
      assert.deepEqual(sd(m, 'fc.weight').grad!.toArray(), [4, 4, 4, 4, 4, 4]);
    });
    if (!cuda) {
      assert.throws(() => m.to('cuda'), DeviceError);
      assert.equal(m.device, 'cpu');
    } else {
      const w = sd(m, 'fc.weight');
      m.to('cuda');
      assert.ok(w.isDisposed, 'the CPU tensors are released');
      assert.equal(m.device, 'cuda:0');
      for (const [, t] of m.stateDict()) assert.equal(t.device, 'cuda:0');
      assert.equal(sd(m, 'fc.weight').grad!.device, 'cuda:0', 'gradients move with their parameters');
      assert.equal(sd(m, 'fc.bias').requiresGrad, false);
      m.to('cpu');
      assert.deepEqual(new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray()])), before);
    }
    m.dispose();
  });

  it("also still converts dtypes (to('float64'))", () => {
    const m = new Tiny();
    m.to('float64');
    assert.equal(sd(m, 'fc.weight').dtype, 'float64');
    assert.equal(m.device, 'cpu');
    m.dispose();
  });
});

describe('createModel({ device })', () => {
  it("gives the same logits on 'cpu' as without a device", async () => {
    const a = await createModel('tinynet_e', { numClasses: 5, generator: new Generator(7) });
    const b = await createModel('tinynet_e', { numClasses: 5, generator: new Generator(7), device: 'cpu' });
    assert.equal(b.device, 'cpu');
    a.eval();
    b.eval();
    noGrad(() =>
      scope(() => {
        const x = randn([1, 3, 32, 32], { generator: new Generator(11) });
        assert.deepEqual(b.forward(x).toArray(), a.forward(x).toArray());
      }),
    );
    a.dispose();
    b.dispose();
  });

  it('fails on a device this libtorch lacks before building anything', async () => {
    const live = liveTensorCount();
    if (!cuda) await assert.rejects(createModel('tinynet_e', { device: 'cuda' }), DeviceError);
    await assert.rejects(createModel('tinynet_e', { device: 'tpu' }), DeviceError);
    assert.equal(liveTensorCount(), live);
  });
});
