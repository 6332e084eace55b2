"""Reference side of bench/train.ts: a timm training step (forward, cross-entropy, backward, SGD)
for tf_efficientnet_b0 on Debian's Python torch, in float32 or under bfloat16 autocast (forward
and loss inside torch.autocast, backward outside, as timm's train.py --amp does). Needs TIMM_SRC on
PYTHONPATH. Prints images/s.
"""
import json
import sys
import time

import torch
import timm


def main():
    batch, size, steps, threads, cl = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    bf16 = len(sys.argv) > 6 and sys.argv[6] == "bf16"
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    model = timm.create_model("tf_efficientnet_b0", num_classes=10).train()
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, generator=g)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"ips": batch / times[len(times) // 2], "best": batch / times[0]}))


if __name__ == "__main__":
    main()
