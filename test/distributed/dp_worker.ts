// One rank of the data-parallel gradient test (data_parallel.test.ts): both ranks see the same
// global batch, each backpropagates its half, the gradients are averaged; rank 0 also runs one
// process on the concatenated batch (a second copy of the same weights) and reports the largest
// difference. argv[2]: 'eval' (BatchNorm on running statistics: pure gradient averaging) or
// 'syncbn' (training-mode BatchNorm, synchronised across ranks) or 'nosync' (training mode, each
// rank's own batch statistics: must differ, or the test could not tell).
import { F, Generator, fromTypedArray, noGrad, scope, type Tensor } from '../../src/torch/index.js';
import { createModel } from '../../src/models/index.js';
import { DataParallel } from '../../src/train/data_parallel.js';
import { ProcessGroup } from '../../src/distributed/index.js';
import { xorshift32 } from '../helpers/rng.js';

const mode = process.argv[2];
const pg = await ProcessGroup.init({ timeoutMs: 60000 });
const dp = new DataParallel(pg, { bucketBytes: 64 * 1024 }); // small buckets: several allreduces in flight
const N = 8;
const rnd = xorshift32(1234);
const xs = Float32Array.from({ length: N * 3 * 32 * 32 }, () => rnd() * 2 - 1);
const ys = BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 10));

async function model(seed: number) {
  // Different seeds per rank: the broadcast must make them equal.
  const g = new Generator(seed);
  const m = await createModel('tinynet_e', { numClasses: 10, generator: g } as never);
  g.dispose();
  return m;
}

const a = await model(100 + pg.rank);
if (mode === 'syncbn') {
  const n = dp.convertSyncBatchNorm(a);
  if (n === 0) throw new Error('no BatchNorm converted');
}
dp.broadcastModel(a);
const prepare = (m: Awaited<ReturnType<typeof model>>) => (mode === 'eval' ? m.eval() : m.train());
prepare(a);

const half = N / pg.worldSize;
const lossOf = (m: typeof a, lo: number, n: number): void =>
  scope(() => {
    const x = fromTypedArray(xs.subarray(lo * 3 * 1024, (lo + n) * 3 * 1024), [n, 3, 32, 32]);
    const y = fromTypedArray(ys.subarray(lo, lo + n), [n]);
    F.crossEntropy(m.forward(x), y).backward();
  });
lossOf(a, pg.rank * half, half);
const params = [...a.namedParameters()].map(([, p]) => p);
dp.afterBackward(params);

const out: Record<string, unknown> = { rank: pg.rank };
if (pg.rank === 0) {
  const b = await model(100);
  prepare(b);
  lossOf(b, 0, N);
  let maxDiff = 0;
  let maxGrad = 0;
  let maxRel = 0;
  let maxSmall = 0;
  let count = 0;
  const bp = new Map(b.namedParameters());
  for (const [name, p] of a.namedParameters()) {
    const ga = p.grad;
    const gb = bp.get(name)!.grad;
    if (!ga || !gb) continue;
    noGrad(() =>
      scope(() => {
        const d = ga.sub(gb).abs().max().item() as number;
        const m = gb.abs().max().item() as number;
        maxDiff = Math.max(maxDiff, d);
        maxGrad = Math.max(maxGrad, m);
        // Per tensor, relative to its own largest gradient; gradients that are zero up to float
        // noise (the bias of a BatchNorm another normalisation follows) are compared absolutely.
        if (m > 1e-3) maxRel = Math.max(maxRel, d / m);
        else maxSmall = Math.max(maxSmall, d);
      }),
    );
    count++;
  }
  // The running statistics too (SyncBatchNorm updates them from the global batch).
  let maxBufDiff = 0;
  const bb = new Map(b.namedBuffers());
  for (const [name, t] of a.namedBuffers()) {
    if (!name.endsWith('running_var') && !name.endsWith('running_mean')) continue;
    noGrad(() => scope(() => (maxBufDiff = Math.max(maxBufDiff, (t as Tensor).sub(bb.get(name)!).abs().max().item() as number))));
  }
  Object.assign(out, { maxDiff, maxGrad, maxRel, maxSmall, count, maxBufDiff });
}
console.log(JSON.stringify(out));
pg.close();
