// The run config: presets validate; per-generation student entries override the shared student
// settings; a warm start across architectures is refused before anything trains.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, generationStudent, resolveNoisyStudentConfig, studentTrainingKey } from '../../src/noisy/index.js';

const base = {
  labeled: { data: 'fashion-mnist', perClass: 10 },
  teacher: { model: 'tinynet_e' },
  pseudoLabel: { perClass: 20 },
  student: { train: { epochs: 3, lr: 1e-3 }, warmStart: true },
};

describe('Noisy Student config', () => {
  it('every preset validates', () => {
    for (const [name, p] of Object.entries(PRESETS)) assert.doesNotThrow(() => resolveNoisyStudentConfig(p), name);
  });

  it('a string entry takes the shared student settings; an object entry overrides train fields and warmStart', () => {
    const cfg = resolveNoisyStudentConfig({
      ...base,
      students: ['tinynet_e', { model: 'tinynet_d', warmStart: false, train: { epochs: 10, lr: 2e-3 } }, { model: 'tinynet_d' }],
    });
    const [g1, g2, g3] = [0, 1, 2].map((g) => generationStudent(cfg, g));
    assert.deepEqual([g1!.model, g1!.warmStart, g1!.train.epochs, g1!.train.lr], ['tinynet_e', true, 3, 1e-3]);
    assert.deepEqual([g2!.model, g2!.warmStart, g2!.train.epochs, g2!.train.lr], ['tinynet_d', false, 10, 2e-3]);
    // Fields an entry leaves out are the shared ones (defaults included), not reset.
    assert.equal(g2!.train.batchSize, cfg.student.train.batchSize);
    assert.equal(g2!.train.weightDecay, 0.05);
    assert.deepEqual([g3!.model, g3!.warmStart, g3!.train.epochs], ['tinynet_d', true, 3]);
    assert.throws(() => generationStudent(cfg, 3), /no generation 4 \(the config has 3\)/);
  });

  it('an entry can set its own noise; a student without noise does not depend on the noise strengths', () => {
    const cfg = resolveNoisyStudentConfig({
      ...base,
      student: { ...base.student, randAugment: 'rand-m9-n2', dropRate: 0.2, dropPathRate: 0.2 },
      students: ['tinynet_e', { model: 'tinynet_e', randAugment: 'rand-m5-n2', dropRate: 0.1 }],
    });
    const [g1, g2] = [0, 1].map((g) => generationStudent(cfg, g));
    assert.deepEqual([g1!.randAugment, g1!.dropRate, g1!.dropPathRate], ['rand-m9-n2', 0.2, 0.2]);
    assert.deepEqual([g2!.randAugment, g2!.dropRate, g2!.dropPathRate], ['rand-m5-n2', 0.1, 0.2]);
    // With noise the strengths are part of what the student trains on; without, they are not.
    assert.notDeepEqual(studentTrainingKey(g1!), studentTrainingKey(g2!));
    const quiet = [g1!, g2!].map((g) => studentTrainingKey({ ...g, noise: false }));
    assert.deepEqual(quiet[0], quiet[1]);
    assert.equal('randAugment' in quiet[0]!, false);
    // Everything else still counts.
    assert.notDeepEqual(studentTrainingKey({ ...g1!, noise: false }), studentTrainingKey({ ...g1!, noise: false, ratio: 2 }));
  });

  it('refuses a warm start from a teacher of another architecture, naming the generation', () => {
    assert.throws(
      () => resolveNoisyStudentConfig({ ...base, students: ['tinynet_e', 'tinynet_d'] }),
      /students\.1: tinynet_d cannot warm-start from its teacher tinynet_e.*"warmStart": false/,
    );
    assert.throws(() => resolveNoisyStudentConfig({ ...base, students: [{ model: 'tinynet_e', train: { epochz: 1 } }] }), /epochz/);
  });

  it('the long preset: a larger student from scratch, then warm-started from it', () => {
    const cfg = resolveNoisyStudentConfig(PRESETS['fashion-mnist-full']);
    const gens = cfg.students.map((_, g) => generationStudent(cfg, g));
    assert.deepEqual(
      gens.map((g) => [g.model, g.warmStart]),
      [
        ['tinynet_d', false],
        ['tinynet_d', true],
      ],
    );
  });
});
