"""Reference side of bench/models.ts: timm eager on Debian's Python torch.

Needs timm's source on PYTHONPATH (TIMM_SRC, a checkout of huggingface/pytorch-image-models made
for the measurement, never committed). Prints one JSON object.
"""
import json
import sys
import time

import torch
import timm


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run(name, batch, size, reps, mode):
    torch.set_num_threads(int(sys.argv[5]))
    model = timm.create_model(name).eval()
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    ctx = torch.inference_mode if mode == "inference" else torch.no_grad
    times = []
    with ctx():
        for i in range(reps + 2):
            t0 = time.perf_counter_ns()
            model(x)
            if i >= 2:
                times.append((time.perf_counter_ns() - t0) / 1e6)
    return median(times)


if __name__ == "__main__":
    name, batch, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[6] if len(sys.argv) > 6 else "no_grad"
    print(json.dumps({"ms": run(name, batch, size, reps, mode)}))
