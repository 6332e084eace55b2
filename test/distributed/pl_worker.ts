// One rank (or the single process) of the sharded pseudo-labelling test: a seeded tinynet_e
// teacher labels the first 45 Fashion-MNIST images in shards of 8 into argv[2] (dense) and argv[3]
// (top-3), then filters and balances them; the selections are printed (the files are compared by
// the test). Under RANK/WORLD_SIZE the ranks split the shards.
import { Generator } from '../../src/torch/index.js';
import { createModel } from '../../src/models/index.js';
import { selectData, trainingDataConfig } from '../../src/train/index.js';
import { pseudoLabel } from '../../src/noisy/stages/pseudo_label.js';
import { filterAndBalance } from '../../src/noisy/filter.js';

const g = new Generator(7);
const model = await createModel('tinynet_e', { numClasses: 10, inChans: 1, generator: g } as never);
model.eval();
const data = selectData({ spec: 'fashion-mnist', limit: 45 });
// The set's own preprocessing (1 channel, its mean/std) at 32 px, as training would use it.
const dc = trainingDataConfig(model, data.defaults, { imgSize: 32 });
const out: Record<string, unknown> = {};
for (const [dir, topk] of [
  [process.argv[2]!, undefined],
  [process.argv[3]!, 3],
] as const) {
  const pl = await pseudoLabel(model, data.dataset, dc, { dir, shardSize: 8, batchSize: 4, workers: 0, topk });
  const sel = filterAndBalance(pl.columns ?? pl.records, { numClasses: 10, perClass: 5, threshold: 0.1, seed: 3 });
  out[topk ? 'topk' : 'dense'] = { fingerprint: pl.fingerprint, ids: sel.ids, entries: sel.entries, stats: sel.stats };
}
console.log(JSON.stringify(out));
process.exit(0);
