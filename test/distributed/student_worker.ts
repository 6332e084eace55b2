// One rank (or the single process) of the data-parallel student test: the one trainer on labeled
// + pseudo-labeled batches (ratio 2, soft targets) through trainModel, which joins the launcher's
// group by itself. argv: output dir, batch size (per rank).
import { RecipeSchema, selectData, trainModel, type TargetSource } from '../../src/train/index.js';

const [out, batch] = [process.argv[2]!, Number(process.argv[3])];
const labeled = selectData({ spec: 'fashion-mnist', labelsPerClass: 2, part: 'labeled', seed: 1 });
const unlabeled = selectData({ spec: 'fashion-mnist', limit: 48 });
const C = 10;
// Fixed, uneven "teacher" probabilities per image id (no model: the test is about the batches).
const targets: TargetSource = {
  numClasses: C,
  row(id, o) {
    let s = 0;
    for (let c = 0; c < C; c++) s += o[c] = 1 + ((id * 7 + c * 3) % 5);
    for (let c = 0; c < C; c++) o[c]! /= s;
  },
  label: (id) => (id * 7 + 12) % C,
};
const recipe = RecipeSchema.parse({ epochs: 2, batchSize: batch, opt: 'sgd', lr: 0.01, sched: 'none', zeroHead: true, syncBn: true });
const r = await trainModel({
  model: 'tinynet_e',
  recipe,
  numClasses: C,
  labelNames: null,
  labeled: labeled.dataset,
  unlabeled: { images: unlabeled.dataset, ids: Array.from({ length: 48 }, (_, i) => i), ratio: 2, targets, kind: 'soft', temperature: 1 },
  dataDefaults: labeled.defaults,
  sizes: { imgSize: 32 },
  seed: 5,
  workers: 0,
  output: out,
  resume: false,
  key: 'student-dp-test',
  stage: 'student',
});
console.log(JSON.stringify({ steps: r.fit.steps, weights: r.weights }));
process.exit(0);
