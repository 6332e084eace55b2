// Engine benchmarks (issue 2): per-call overhead, a depthwise + pointwise conv against Python
// torch on the same machine, and RSS growth when making and dropping 10,000 x 1 MiB tensors.
// Usage: npm run bench -- engine     (reference needs Debian's python3-torch)
import { fileURLToPath } from 'node:url';
import {
  F,
  blasInUse,
  buildInfo,
  liveTensorCount,
  noGrad,
  randn,
  scope,
  setNumThreads,
  tensor,
  zeros,
  Generator,
} from '../src/torch/index.js';
import { hrMs, median, pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const REF = fileURLToPath(new URL('./python/engine_ref.py', import.meta.url));

function addOverheadUs(): number {
  const a = tensor([1]);
  const b = tensor([2]);
  const n = 200_000;
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    // Scoped, as library code makes temporaries: the cost includes releasing each result.
    for (let k = 0; k < n / 1000; k++) {
      scope(() => {
        for (let i = 0; i < 1000; i++) a.add(b);
      });
    }
    if (r >= 2) runs.push((hrMs(t0) * 1000) / n);
  }
  a.dispose();
  b.dispose();
  return median(runs);
}

function dwconvMs(threads: number, reps: number): number {
  setNumThreads(threads);
  return scope(() => {
    const g = new Generator(0);
    const x = randn([32, 32, 112, 112], { generator: g });
    const wdw = randn([32, 1, 3, 3], { generator: g });
    const wpw = randn([32, 32, 1, 1], { generator: g });
    const runs: number[] = [];
    noGrad(() => {
      for (let i = 0; i < reps + 2; i++) {
        const t0 = process.hrtime.bigint();
        scope(() => {
          F.conv2d(F.conv2d(x, wdw, { padding: 1, groups: 32 }), wpw);
        });
        if (i >= 2) runs.push(hrMs(t0));
      }
    });
    g.dispose();
    return median(runs);
  });
}

// Each scope holds `perScope` tensors at once before releasing them.
function rssGrowthMb(perScope: number): { mb: number; seconds: number } {
  const before = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 10_000 / perScope; i++) {
    scope(() => {
      for (let j = 0; j < perScope; j++) zeros([262144]).add_(1); // 1 MiB of float32
    });
  }
  const seconds = hrMs(t0) / 1000;
  return { mb: (process.memoryUsage().rss - before) / 2 ** 20, seconds };
}

export async function main(): Promise<void> {
  const info = buildInfo();
  console.log(`libtorch ${info.torchVersion}; mkldnn=${info.mkldnn}; BLAS in use: ${blasInUse()}`);
  const live = liveTensorCount();
  const ref = pythonTorchAvailable();
  if (!ref) console.log('Python torch not found at /usr/bin/python3 (apt-get install python3-torch): reference columns skipped');

  // interleave ours and the reference so machine noise hits both alike
  const oursAdd: number[] = [];
  const refAdd: number[] = [];
  for (let r = 0; r < 3; r++) {
    oursAdd.push(addOverheadUs());
    if (ref) refAdd.push(runPython<{ add_us: number }>(REF, ['add']).add_us);
  }
  const a = median(oursAdd);
  console.log(
    `1-element add, per call: ours ${a.toFixed(3)} us` +
      (ref ? `, Python torch ${median(refAdd).toFixed(3)} us, ratio ${(a / median(refAdd)).toFixed(2)}` : '') +
      ' (target <= 2 us)',
  );

  // The addon keeps freed memory in the heap (see native/src/addon.cc); Python with glibc's
  // defaults page-faults its 51 MiB outputs in on every call. The second reference column gives
  // Python the same malloc settings, so it compares the kernels alone.
  for (const threads of [2, 1]) {
    const ours: number[] = [];
    const theirs: number[] = [];
    const theirsSame: number[] = [];
    for (let r = 0; r < 3; r++) {
      ours.push(dwconvMs(threads, 5));
      if (ref) {
        const env = { OMP_NUM_THREADS: String(threads) };
        theirs.push(runPython<{ dwconv_ms: number }>(REF, ['dwconv', String(threads), '5'], env).dwconv_ms);
        theirsSame.push(runPython<{ dwconv_ms: number }>(REF, ['dwconv', String(threads), '5'], { ...env, ...SAME_MALLOC }).dwconv_ms);
      }
    }
    const o = median(ours);
    console.log(
      `depthwise 3x3 + 1x1 conv on [32,32,112,112], ${threads} thread(s): ours ${o.toFixed(1)} ms` +
        (ref
          ? `; Python torch ${median(theirs).toFixed(1)} ms (ratio ${(o / median(theirs)).toFixed(3)}),` +
            ` with our malloc settings ${median(theirsSame).toFixed(1)} ms (ratio ${(o / median(theirsSame)).toFixed(3)})`
          : '') +
        (threads === 2 ? ' (target ratio <= 1.05)' : ''),
    );
  }
  setNumThreads(2);

  for (const perScope of [1, 10, 100]) {
    const rss = rssGrowthMb(perScope);
    console.log(
      `10,000 x 1 MiB tensors made and dropped in scopes of ${perScope}: RSS +${rss.mb.toFixed(1)} MB (cumulative) in ${rss.seconds.toFixed(2)} s (target <= 100 MB)`,
    );
  }
  console.log(`live tensors back to start: ${liveTensorCount() === live}`);
}
