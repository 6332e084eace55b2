// The package imports by its own name (exports map -> dist), as a user's code would.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/paths.js';
import { knownOps } from '../../src/torch/ops.js';
import '../../src/torch/index.js';

describe('package', () => {
  it("import('noisy-student') works from the repository after the build", () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        "import('noisy-student').then(t => { const x = t.tensor([1, 2, 3]); console.log(JSON.stringify(x.mul(2).toList()), t.getNumThreads() >= 1); })",
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    assert.equal(out.trim(), '[2,4,6] true');
  });

  it('the package exports the training and Noisy Student API the README names', () => {
    const names = [
      'createModel',
      'runNoisyStudent',
      'evaluateRun',
      'resolveNoisyStudentConfig',
      'pseudoLabel',
      'filterAndBalance',
      'studentStage',
      'teacherStage',
      'trainModel',
      'runTrainJob',
      'evaluateModelDir',
      'selectData',
      'fit',
      'trainStep',
      'ModelEma',
      'resolveDataSpec',
    ];
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `import('noisy-student').then(t => console.log(JSON.stringify([${names.map((n) => `typeof t.${n}`).join(',')}, Object.keys(t.PRESETS)])))`,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    assert.deepEqual(JSON.parse(out), [...names.map(() => 'function'), ['fashion-mnist', 'fashion-mnist-full', 'tiny']]);
  });

  it('every operator the typed layer names exists in this libtorch', () => {
    const ops = knownOps();
    assert.ok(ops.length > 100, `only ${ops.length} ops registered`);
    for (const op of ops) assert.doesNotThrow(() => op.get(), `${op.name}.${op.overload}`);
  });
});
