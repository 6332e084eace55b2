// One rank of the collectives test (collectives.test.ts); the scenario is argv[2].
import { fromTypedArray, zeros, tensor } from '../../src/torch/index.js';
import { ProcessGroup } from '../../src/distributed/index.js';

const scenario = process.argv[2];
const timeoutMs = Number(process.env['TEST_TIMEOUT_MS'] ?? 20000);
const pg = await ProcessGroup.init({ timeoutMs });
const r = pg.rank;

if (scenario === 'basic') {
  // Values that differ per rank, so a wrong reduction shows.
  const a = fromTypedArray(Float32Array.from([1 + r, 10 * (r + 1), -r]), [3]);
  await pg.allreduce([a]);
  const mx = tensor([r * 2 + 1]);
  await pg.allreduce([mx], 'max');
  const b = fromTypedArray(Float64Array.from([100 + r, 200 + r]), [2]);
  await pg.broadcast([b], 1);
  const outs = Array.from({ length: pg.worldSize }, () => zeros([2]));
  await pg.allgather(outs, tensor([r, r * r]));
  await pg.barrier();
  const s = fromTypedArray(Float32Array.from([r + 0.5]), [1]);
  pg.allreduceSync([s]);
  const nums = await pg.allreduceNumbers([r, 1]);
  console.log(
    JSON.stringify({
      rank: r,
      world: pg.worldSize,
      sum: a.toArray(),
      max: mx.toArray(),
      bcast: b.toArray(),
      gathered: outs.map((t) => t.toArray()),
      sync: s.toArray(),
      nums,
    }),
  );
} else if (scenario === 'die') {
  // Rank DIE_RANK is killed (SIGKILL: no chance to say goodbye) after the rendezvous; the others
  // are in an allreduce.
  await pg.barrier();
  if (r === Number(process.env['DIE_RANK'] ?? 1)) process.kill(process.pid, 'SIGKILL');
  await new Promise((res) => setTimeout(res, 300));
  try {
    await pg.allreduce([tensor([1, 2, 3])]);
    console.log(JSON.stringify({ rank: r, ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ rank: r, error: (e as Error).message }));
    process.exit(3);
  }
} else if (scenario === 'hang') {
  // Rank 1 stays alive but never enters the collective (stuck elsewhere).
  await pg.barrier();
  if (r === 1) {
    await new Promise((res) => setTimeout(res, timeoutMs * 3));
    process.exit(0);
  }
  try {
    await pg.allreduce([tensor([1, 2, 3])]);
    console.log(JSON.stringify({ rank: r, ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ rank: r, error: (e as Error).message }));
    process.exit(3);
  }
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
pg.close();
