#!/usr/bin/python3
"""Generates test/fixtures/train/*.safetensors: reference values for src/train/.

Run with Debian's Python torch (NOT the `python3` on PATH, which has no torch):
    /usr/bin/python3 scripts/gen_train_fixtures.py

Every expected value here comes from torch itself (torch.optim.SGD/AdamW,
torch.nn.utils.clip_grad_norm_, autograd) or from a Python transcription of the
published formula (timm's RMSpropTF, LabelSmoothingCrossEntropy,
SoftTargetCrossEntropy, CosineLRScheduler/StepLRScheduler, ModelEmaV3 decay, the
TF EfficientNet exponential schedule). timm is not installed here, so those are
re-derived from timm's/TF's source text, never from our TypeScript.

safetensors is not installed either, so a minimal writer is included (the format is
an 8-byte little-endian header length, a JSON header, then raw little-endian bytes).
"""
import json
import math
import os
import struct

import torch

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'train'))

_ST_DTYPE = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.uint8: 'U8'}


def save_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.numel() > 0 else b''
        header[name] = {'dtype': _ST_DTYPE[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(',', ':')).encode('utf8')
    hjson += b' ' * ((8 - len(hjson) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


# ----------------------------------------------------------------------------- optimizers

class RMSpropTFRef(torch.optim.Optimizer):
    """TensorFlow's RMSProp as timm's `rmsproptf` applies it, written from the formula:
        ms  <- ms + (1 - decay) * (g^2 - ms)          (ms starts at ONES, TF's default)
        mom <- momentum * mom + lr * g / sqrt(ms + eps)   (eps INSIDE the sqrt, lr in momentum)
        p   <- p - mom
    weight decay either L2 (g += wd * p) or decoupled (p *= 1 - lr * wd, before the update).
    """

    def __init__(self, params, lr=1e-2, alpha=0.9, eps=1e-3, weight_decay=0.0, momentum=0.9, decoupled_decay=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      decoupled_decay=decoupled_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                g = p.grad
                st = self.state[p]
                if not st:
                    st['step'] = 0
                    st['square_avg'] = torch.ones_like(p)
                    if group['momentum'] > 0:
                        st['momentum_buffer'] = torch.zeros_like(p)
                st['step'] += 1
                wd = group['weight_decay']
                if wd != 0:
                    if group['decoupled_decay']:
                        p.mul_(1.0 - group['lr'] * wd)
                    else:
                        g = g.add(p, alpha=wd)
                ms = st['square_avg']
                ms.add_(g.pow(2) - ms, alpha=1.0 - group['alpha'])
                denom = ms.add(group['eps']).sqrt_()
                if group['momentum'] > 0:
                    mom = st['momentum_buffer']
                    mom.mul_(group['momentum'])
                    mom.addcdiv_(g, denom, value=group['lr'])
                    p.add_(-mom)
                else:
                    p.addcdiv_(g, denom, value=-group['lr'])


PARAM_SHAPES = {'w': (5, 4), 'b': (5,), 'g': (5,)}
NSTEPS = 4
LRS = [0.1, 0.05, 0.08, 0.02]
WD = 0.05
# Param 'g' gets no gradient at this step (torch skips it: no update, no state change).
SKIP = {(2, 'g')}

OPT_CASES = {
    'sgd': lambda groups: torch.optim.SGD(groups, lr=LRS[0]),
    'sgd_momentum': lambda groups: torch.optim.SGD(groups, lr=LRS[0], momentum=0.9),
    'sgd_dampening': lambda groups: torch.optim.SGD(groups, lr=LRS[0], momentum=0.8, dampening=0.3),
    'sgd_nesterov': lambda groups: torch.optim.SGD(groups, lr=LRS[0], momentum=0.9, nesterov=True),
    'adamw': lambda groups: torch.optim.AdamW(groups, lr=LRS[0], betas=(0.9, 0.999), eps=1e-8),
    'adamw_amsgrad': lambda groups: torch.optim.AdamW(groups, lr=LRS[0], betas=(0.8, 0.99), eps=1e-6, amsgrad=True),
    'rmsproptf': lambda groups: RMSpropTFRef(groups, lr=LRS[0], alpha=0.9, eps=1e-3, momentum=0.9),
    'rmsproptf_decoupled': lambda groups: RMSpropTFRef(groups, lr=LRS[0], alpha=0.9, eps=1e-3, momentum=0.9, decoupled_decay=True),
    'rmsproptf_nomomentum': lambda groups: RMSpropTFRef(groups, lr=LRS[0], alpha=0.9, eps=1e-3, momentum=0.0),
}


def gen_optim():
    out = {}
    gen = torch.Generator().manual_seed(1234)
    init = {n: torch.randn(s, generator=gen, dtype=torch.float64) for n, s in PARAM_SHAPES.items()}
    grads = [{n: torch.randn(s, generator=gen, dtype=torch.float64) for n, s in PARAM_SHAPES.items()} for _ in range(NSTEPS)]
    for n, t in init.items():
        out[f'init.{n}'] = t
    for k, gs in enumerate(grads):
        for n, t in gs.items():
            out[f'grad.{k}.{n}'] = t
    for dtype, dname in ((torch.float32, 'f32'), (torch.float64, 'f64')):
        for case, make in OPT_CASES.items():
            params = {n: init[n].to(dtype).clone().requires_grad_(True) for n in PARAM_SHAPES}
            # timm's param_groups_weight_decay order: the no-decay group first, then the decay group.
            groups = [{'params': [params['b'], params['g']], 'weight_decay': 0.0},
                      {'params': [params['w']], 'weight_decay': WD}]
            opt = make(groups)
            for k in range(NSTEPS):
                for g in opt.param_groups:
                    g['lr'] = LRS[k]
                for n, p in params.items():
                    p.grad = None if (k, n) in SKIP else grads[k][n].to(dtype).clone()
                opt.step()
                for n, p in params.items():
                    out[f'{case}.{dname}.step{k}.{n}'] = p.detach().clone()
            for n, p in params.items():
                for key, v in opt.state[p].items():
                    if v is None:
                        continue
                    if torch.is_tensor(v) and v.dim() > 0:
                        out[f'{case}.{dname}.state.{n}.{key}'] = v.detach().clone()
                    else:  # the step count (a 0-dim tensor in AdamW, an int in ours)
                        out[f'{case}.{dname}.state.{n}.{key}'] = torch.tensor([float(v)], dtype=torch.float64)
    meta = {'lrs': json.dumps(LRS), 'weight_decay': json.dumps(WD), 'skip': json.dumps(sorted(list(SKIP))),
            'steps': str(NSTEPS), 'cases': json.dumps(list(OPT_CASES))}
    return out, meta


# ----------------------------------------------------------------------------- losses, metrics, clipping, EMA

def label_smoothing_ce(x, target, smoothing):
    # timm LabelSmoothingCrossEntropy: (1-s) * NLL + s * mean over classes of -log p.
    logprobs = torch.log_softmax(x, dim=-1)
    nll = -logprobs.gather(dim=-1, index=target.unsqueeze(1)).squeeze(1)
    smooth = -logprobs.mean(dim=-1)
    return ((1.0 - smoothing) * nll + smoothing * smooth)


def soft_target_ce(x, target):
    # timm SoftTargetCrossEntropy: sum over classes of -q log p, per sample.
    return torch.sum(-target * torch.log_softmax(x, dim=-1), dim=-1)


def sharpen(p, temperature):
    q = p.pow(1.0 / temperature)
    return q / q.sum(dim=-1, keepdim=True)


def gen_losses():
    out = {}
    gen = torch.Generator().manual_seed(99)
    n_lab, n_unl, c = 3, 5, 7
    for dtype, dname in ((torch.float32, 'f32'), (torch.float64, 'f64')):
        logits = (torch.randn(n_lab + n_unl, c, generator=gen, dtype=torch.float64) * 2).to(dtype)
        hard = torch.randint(0, c, (n_lab + n_unl,), generator=gen)
        soft = torch.softmax(torch.randn(n_unl, c, generator=gen, dtype=torch.float64) * 1.5, dim=-1).to(dtype)
        out[f'{dname}.logits'] = logits
        out[f'{dname}.hard'] = hard
        out[f'{dname}.soft'] = soft
        for s in (0.0, 0.1):
            x = logits.clone().requires_grad_(True)
            loss = label_smoothing_ce(x, hard, s).mean()
            loss.backward()
            out[f'{dname}.ls{s}.loss'] = loss.detach().reshape(1)
            out[f'{dname}.ls{s}.grad'] = x.grad
        # The same thing through torch's own cross_entropy(label_smoothing=...), as a second witness.
        out[f'{dname}.torch_ce_ls0.1'] = torch.nn.functional.cross_entropy(logits, hard, label_smoothing=0.1).reshape(1)
        x = logits[n_lab:].clone().requires_grad_(True)
        loss = soft_target_ce(x, soft).mean()
        loss.backward()
        out[f'{dname}.soft.loss'] = loss.detach().reshape(1)
        out[f'{dname}.soft.grad'] = x.grad
        out[f'{dname}.soft_t2.loss'] = soft_target_ce(logits[n_lab:], sharpen(soft, 2.0)).mean().reshape(1)
        out[f'{dname}.soft_t0.5.loss'] = soft_target_ce(logits[n_lab:], sharpen(soft, 0.5)).mean().reshape(1)
        # Noisy Student batch (main.py): labeled rows first (hard, smoothed), then unlabeled rows.
        # data_loss = (lab_loss * B_lab + unl_loss * B_unl) / B_lab, each a per-group mean.
        for unl_kind in ('soft', 'hard'):
            x = logits.clone().requires_grad_(True)
            lab = label_smoothing_ce(x[:n_lab], hard[:n_lab], 0.1).mean()
            if unl_kind == 'soft':
                unl = soft_target_ce(x[n_lab:], soft).mean()
            else:
                unl = label_smoothing_ce(x[n_lab:], hard[n_lab:], 0.1).mean()
            ns = (lab * n_lab + unl * n_unl) / n_lab
            ns.backward()
            out[f'{dname}.ns_{unl_kind}.loss'] = ns.detach().reshape(1)
            out[f'{dname}.ns_{unl_kind}.lab'] = lab.detach().reshape(1)
            out[f'{dname}.ns_{unl_kind}.unl'] = unl.detach().reshape(1)
            out[f'{dname}.ns_{unl_kind}.grad'] = x.grad
            mean = (lab * n_lab + unl * n_unl) / (n_lab + n_unl)
            out[f'{dname}.ns_{unl_kind}.mean'] = mean.detach().reshape(1)
        # Temperature-sharpened soft targets in the combined loss.
        lab = label_smoothing_ce(logits[:n_lab], hard[:n_lab], 0.1).mean()
        unl = soft_target_ce(logits[n_lab:], sharpen(soft, 2.0)).mean()
        out[f'{dname}.ns_soft_t2.loss'] = ((lab * n_lab + unl * n_unl) / n_lab).reshape(1)
    meta = {'n_lab': str(n_lab), 'n_unl': str(n_unl), 'classes': str(c)}
    return out, meta


def gen_metrics_clip_ema():
    out = {}
    gen = torch.Generator().manual_seed(7)
    # top-k accuracy, timm's accuracy(output, target, topk=(1, 5)): percent of rows whose target is
    # among the k largest logits (topk sorted, largest first).
    output = torch.randn(16, 10, generator=gen)
    target = torch.randint(0, 10, (16,), generator=gen)
    target[:6] = output[:6].argmax(dim=1)  # make top-1 non-trivial
    _, pred = output.topk(5, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.reshape(1, -1).expand_as(pred))
    out['acc.output'] = output
    out['acc.target'] = target
    out['acc.top1'] = (correct[:1].reshape(-1).float().sum(0) * 100. / 16).reshape(1).double()
    out['acc.top5'] = (correct[:5].reshape(-1).float().sum(0) * 100. / 16).reshape(1).double()
    # clip_grad_norm_ from torch itself, 2-norm and inf-norm, clipping and non-clipping.
    for dtype, dname in ((torch.float32, 'f32'), (torch.float64, 'f64')):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in ((3, 4), (4,), (2, 2, 2))]
        for i, g in enumerate(grads):
            out[f'clip.{dname}.grad{i}'] = g
        for norm_type, tag in ((2.0, 'l2'), (math.inf, 'inf')):
            for max_norm in (0.5, 100.0):
                ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
                for p, g in zip(ps, grads):
                    p.grad = g.clone()
                total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
                out[f'clip.{dname}.{tag}.{max_norm}.total'] = total.reshape(1)
                for i, p in enumerate(ps):
                    out[f'clip.{dname}.{tag}.{max_norm}.grad{i}'] = p.grad
    # EMA: ModelEmaV3-style lerp of floating tensors, int buffers copied. Decay per update from the
    # TF/Noisy Student num_updates rule min(decay, (1 + n) / (10 + n)), n = step.
    model = {'w': torch.randn(3, 3, generator=gen), 'rm': torch.randn(3, generator=gen), 'nbt': torch.tensor(0)}
    ema = {k: v.clone() for k, v in model.items()}
    for k, v in model.items():
        out[f'ema.init.{k}'] = v.clone()
    decays = []
    for step in range(4):
        model['w'] = model['w'] - 0.1 * torch.randn(3, 3, generator=gen)
        model['rm'] = model['rm'] * 0.9 + 0.1 * torch.randn(3, generator=gen)
        model['nbt'] = model['nbt'] + 1
        for k, v in model.items():
            out[f'ema.model{step}.{k}'] = v.clone()
        decay = min(0.9999, (1.0 + step) / (10.0 + step))
        decays.append(decay)
        for k in ema:
            if ema[k].is_floating_point():
                ema[k].lerp_(model[k], 1.0 - decay)
            else:
                ema[k].copy_(model[k])
        for k, v in ema.items():
            out[f'ema.ema{step}.{k}'] = v.clone()
    return out, {'ema_decays': json.dumps(decays)}


# ----------------------------------------------------------------------------- schedules

def timm_cosine(t, base, t_initial, lr_min=0.0, warmup_t=0, warmup_lr_init=0.0, warmup_prefix=False,
                cycle_mul=1.0, cycle_decay=1.0, cycle_limit=1, k_decay=1.0):
    # CosineLRScheduler._get_lr, transcribed from timm/scheduler/cosine_lr.py.
    if t < warmup_t:
        return warmup_lr_init + t * ((base - warmup_lr_init) / warmup_t)
    if warmup_prefix:
        t = t - warmup_t
    if cycle_mul != 1:
        i = math.floor(math.log(1 - t / t_initial * (1 - cycle_mul), cycle_mul))
        t_i = cycle_mul ** i * t_initial
        t_curr = t - (1 - cycle_mul ** i) / (1 - cycle_mul) * t_initial
    else:
        i = t // t_initial
        t_i = t_initial
        t_curr = t - (t_initial * i)
    lr_max = base * (cycle_decay ** i)
    if i < cycle_limit:
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr ** k_decay / t_i ** k_decay))
    return lr_min


def timm_step(t, base, decay_t, decay_rate, warmup_t=0, warmup_lr_init=0.0, warmup_prefix=True):
    # StepLRScheduler._get_lr, transcribed from timm/scheduler/step_lr.py.
    if t < warmup_t:
        return warmup_lr_init + t * ((base - warmup_lr_init) / warmup_t)
    if warmup_prefix:
        t = t - warmup_t
    return base * (decay_rate ** (t // decay_t))


def tf_efficientnet_exp(step, initial_lr, steps_per_epoch, decay_epochs=2.4, decay_factor=0.97, warmup_epochs=5):
    # EfficientNet/Noisy Student utils.build_learning_rate('exponential'): staircase
    # initial_lr * decay_factor ** floor(step / (steps_per_epoch * decay_epochs)); linear warmup from 0
    # over int(warmup_epochs * steps_per_epoch) steps, counted from step 0 (no warmup prefix).
    decay_steps = steps_per_epoch * decay_epochs
    lr = initial_lr * decay_factor ** math.floor(step / decay_steps)
    if warmup_epochs:
        warmup_steps = int(warmup_epochs * steps_per_epoch)
        if step < warmup_steps:
            lr = initial_lr * step / warmup_steps
    return lr


SCHED_CASES = {
    'cosine_warmup': (60, lambda t: timm_cosine(t, 0.1, t_initial=50, lr_min=1e-4, warmup_t=5, warmup_lr_init=1e-5)),
    'cosine_prefix': (60, lambda t: timm_cosine(t, 0.1, t_initial=50, lr_min=1e-4, warmup_t=5, warmup_lr_init=1e-5, warmup_prefix=True)),
    'cosine_cycles': (80, lambda t: timm_cosine(t, 0.05, t_initial=10, lr_min=1e-3, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3)),
    'cosine_restarts': (45, lambda t: timm_cosine(t, 0.05, t_initial=10, cycle_decay=0.7, cycle_limit=4, k_decay=1.5)),
    'step': (40, lambda t: timm_step(t, 0.1, decay_t=7, decay_rate=0.5, warmup_t=3, warmup_lr_init=1e-4)),
    'step_frac': (40, lambda t: timm_step(t, 0.016, decay_t=2.4, decay_rate=0.97, warmup_t=3, warmup_lr_init=1e-6, warmup_prefix=False)),
    'tf_exp_steps': (400, lambda t: tf_efficientnet_exp(t, 0.128, steps_per_epoch=13)),
    'tf_exp_epochs': (40, lambda t: tf_efficientnet_exp(t, 0.128, steps_per_epoch=1)),
}


def timm_ema_warmup_decay(step, decay=0.9999, min_decay=0.0, update_after_step=0, use_warmup=True, gamma=1.0, power=2 / 3):
    # ModelEmaV3.get_decay, transcribed.
    step = max(0, step - update_after_step - 1)
    if step <= 0:
        return 0.0
    if use_warmup:
        d = 1 - (1 + step / gamma) ** -power
        return max(min(d, decay), min_decay)
    return decay


def gen_schedules():
    out = {}
    for name, (n, f) in SCHED_CASES.items():
        out[name] = torch.tensor([f(t) for t in range(n)], dtype=torch.float64)
    out['ema_timm_warmup'] = torch.tensor([timm_ema_warmup_decay(s, decay=0.999) for s in range(30)] +
                                          [timm_ema_warmup_decay(s, decay=0.9999) for s in (100, 1000, 10 ** 6)], dtype=torch.float64)
    out['ema_timm_after'] = torch.tensor([timm_ema_warmup_decay(s, decay=0.99, update_after_step=5, use_warmup=False) for s in range(10)], dtype=torch.float64)
    out['ema_tf'] = torch.tensor([min(0.9999, (1.0 + s) / (10.0 + s)) for s in range(30)] + [min(0.9999, (1.0 + s) / (10.0 + s)) for s in (10 ** 5, 10 ** 6)], dtype=torch.float64)
    return out, {}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    meta_common = {'torch': torch.__version__, 'generator': 'scripts/gen_train_fixtures.py'}
    for fname, fn in (('optim', gen_optim), ('losses', gen_losses), ('metrics_clip_ema', gen_metrics_clip_ema), ('schedules', gen_schedules)):
        tensors, meta = fn()
        path = os.path.join(OUT, f'{fname}.safetensors')
        save_safetensors(path, tensors, {**meta_common, **meta})
        print(f'{path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes')


if __name__ == '__main__':
    main()
