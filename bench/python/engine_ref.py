"""Reference side of bench/engine.ts: the same measurements in Python torch (Debian python3-torch).

Prints one JSON object. Run by bench/engine.ts; not part of the library.
"""
import json
import sys
import time

import torch


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def add_overhead(n=200_000, reps=5):
    a = torch.tensor([1.0])
    b = torch.tensor([2.0])
    for _ in range(20_000):
        a + b
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            a + b
        runs.append((time.perf_counter_ns() - t0) / n / 1000)
    return median(runs)


def dwconv(threads, reps):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 32, 112, 112, generator=g)
    wdw = torch.randn(32, 1, 3, 3, generator=g)
    wpw = torch.randn(32, 32, 1, 1, generator=g)
    runs = []
    with torch.no_grad():
        for i in range(reps + 2):
            t0 = time.perf_counter_ns()
            y = torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, wdw, padding=1, groups=32), wpw)
            dt = (time.perf_counter_ns() - t0) / 1e6
            if i >= 2:
                runs.append(dt)
            del y
    return median(runs)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "add":
        print(json.dumps({"add_us": add_overhead()}))
    elif what == "dwconv":
        print(json.dumps({"dwconv_ms": dwconv(int(sys.argv[2]), int(sys.argv[3]))}))
