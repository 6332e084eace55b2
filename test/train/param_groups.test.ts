// timm's param_groups_weight_decay rule on named parameters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, scope, zeros } from '../../src/torch/index.js';
import { paramGroupsWeightDecay } from '../../src/train/param_groups.js';
import { SGD } from '../../src/train/optim/index.js';

describe('paramGroupsWeightDecay', () => {
  it('no decay for 1-D params, .bias names and listed names; frozen params skipped; timm group order', () => {
    const start = liveTensorCount();
    scope(() => {
      const named = [
        ['conv_stem.weight', zeros([8, 3, 3, 3]).requiresGrad_(true)],
        ['bn1.weight', zeros([8]).requiresGrad_(true)],
        ['bn1.bias', zeros([8]).requiresGrad_(true)],
        ['blocks.0.0.conv_dw.weight', zeros([8, 1, 3, 3]).requiresGrad_(true)],
        ['pos_embed', zeros([1, 4, 8]).requiresGrad_(true)],
        ['frozen.weight', zeros([4, 4])],
        ['classifier.weight', zeros([10, 8]).requiresGrad_(true)],
        ['classifier.bias', zeros([10]).requiresGrad_(true)],
      ] as const;
      const groups = paramGroupsWeightDecay(named, { weightDecay: 1e-5, noWeightDecay: ['pos_*'] });
      assert.deepEqual(
        groups.map((g) => [g.weightDecay, g.params.map(([n]) => n)]),
        [
          [0, ['bn1.weight', 'bn1.bias', 'pos_embed', 'classifier.bias']],
          [1e-5, ['conv_stem.weight', 'blocks.0.0.conv_dw.weight', 'classifier.weight']],
        ],
      );
      const none = paramGroupsWeightDecay(named, { weightDecay: 0 });
      assert.equal(none.length, 1);
      assert.equal(none[0]!.params.length, 7);
      // Groups feed an optimizer directly; a name given twice is refused.
      const opt = new SGD(groups, { lr: 0.1, weightDecay: 0.5 });
      assert.deepEqual(
        opt.paramGroups.map((g) => g.weightDecay),
        [0, 1e-5],
      );
      assert.throws(() => new SGD([...named, named[0]], { lr: 0.1 }), /twice/);
    });
    assert.equal(liveTensorCount(), start);
  });
});
