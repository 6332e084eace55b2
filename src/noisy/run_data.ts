// The data of a Noisy Student run, resolved from its config through the one data resolver
// (train/data_spec.ts): the labeled split, the unlabeled images (with their true labels when they
// are the rest of a labeled set), the test set and the curve set. The pipeline, `evaluate` and
// `report` resolve it the same way, and the stage commands given the same spec and options get the
// same images and content keys. The test set is scored in the labeled classes' indices, matched by
// name (a test folder with a class the labeled data lacks is an error naming it).
import {
  firstN,
  mapSelectedClasses,
  selectData,
  type DataConfigOverrides,
  type DataDefaults,
  type SelectedData,
} from '../train/data_spec.js';
import type { NoisyStudentConfig } from './config.js';

export interface RunData {
  classes: readonly string[];
  labeled: SelectedData;
  unlabeled: SelectedData;
  test: SelectedData;
  /** The first `curveEvalLimit` test images, evaluated after each epoch for the curves. */
  curve: SelectedData;
  defaults: DataDefaults | null;
  sizes: DataConfigOverrides;
  /** Warnings about the sets (empty class folders, ignored files, test classes without images). */
  notes: readonly string[];
}

export function resolveRunData(cfg: NoisyStudentConfig): RunData {
  const seed = cfg.seed;
  const perClass = cfg.labeled.perClass;
  const labeled = selectData({ spec: cfg.labeled.data, labelsPerClass: perClass, part: perClass ? 'labeled' : 'all', seed });
  const classes = labeled.classes;
  if (!classes) throw new Error(`labeled data ${cfg.labeled.data} has no classes`);
  let unlabeled: SelectedData;
  if (cfg.unlabeled.data === 'rest') {
    if (!perClass) throw new Error("unlabeled.data 'rest' needs labeled.perClass (the rest of the labeled set)");
    unlabeled = selectData({ spec: cfg.labeled.data, labelsPerClass: perClass, part: 'unlabeled', seed, limit: cfg.unlabeled.limit });
  } else unlabeled = selectData({ spec: cfg.unlabeled.data, part: 'unlabeled', limit: cfg.unlabeled.limit });
  const testSpec = cfg.test.data === 'default' ? labeled.resolved?.defaultValSpec : cfg.test.data;
  if (!testSpec) throw new Error(`no test set: give test.data (the labeled data ${cfg.labeled.data} has no held-out split)`);
  const test = mapSelectedClasses(selectData({ spec: testSpec, limit: cfg.test.limit }), classes, `test data ${testSpec}`);
  const curveLimit = Math.min(cfg.curveEvalLimit, cfg.test.limit ?? Infinity);
  const curve: SelectedData = {
    ...test,
    dataset: firstN(test.dataset, cfg.curveEvalLimit),
    key: { ...test.key, limit: curveLimit },
  };
  const sizes: DataConfigOverrides = {
    ...(cfg.inChans !== undefined ? { inChans: cfg.inChans } : {}),
    ...(cfg.imgSize !== undefined ? { imgSize: cfg.imgSize } : {}),
  };
  const notes = [...labeled.notes, ...(cfg.unlabeled.data === 'rest' ? [] : unlabeled.notes), ...test.notes];
  return { classes, labeled, unlabeled, test, curve, defaults: labeled.defaults, sizes, notes };
}
