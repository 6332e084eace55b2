// Benchmark entry: `npm run bench -- <name>` (engine, ...). Each benchmark prints ratios against a
// reference run side by side on the same machine.
const benches: Record<string, () => Promise<{ main: () => Promise<void> }>> = {
  engine: () => import('./engine.js'),
  models: () => import('./models.js'),
  data: () => import('./data.js'),
  'data-train': () => import('./data.js').then((m) => ({ main: m.trainMain })),
  'data-plan': () => import('./data_plan.js'),
  train: () => import('./train.js'),
  'train-ab': () => import('./train_ab.js'),
  memory: () => import('./memory.js'),
  'train-memory': () => import('./train_memory.js'),
  fused: () => import('./fused.js'),
  inference: () => import('./inference.js'),
  'pseudo-label': () => import('./pseudo_label.js'),
  precision: () => import('./precision.js'),
  serve: () => import('./serve.js'),
};
const names = process.argv.slice(2);
for (const name of names.length ? names : Object.keys(benches)) {
  const load = benches[name];
  if (!load) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.log(`== ${name}`);
  await (await load()).main();
}
