"""Reference side of bench/train_memory.ts: peak RSS (VmHWM) of a timm training run of
tf_efficientnet_b0 on Debian's Python torch: `steps` SGD steps (forward, cross-entropy, backward,
update) on a fresh random batch each step. Needs TIMM_SRC on PYTHONPATH. Prints one JSON line:
the RSS after importing torch and timm, after building the model, and the peak, in MiB.
"""
import json
import sys

import torch
import timm


def status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    batch, size, steps, threads = (int(a) for a in sys.argv[1:5])
    bf16 = len(sys.argv) > 5 and sys.argv[5] == "bf16"
    torch.set_num_threads(threads)
    imported = status_mib("VmRSS")
    g = torch.Generator().manual_seed(0)
    model = timm.create_model("tf_efficientnet_b0", num_classes=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    built = status_mib("VmRSS")
    for _ in range(steps):
        x = torch.randn(batch, 3, size, size, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    print(json.dumps({"importedMb": imported, "builtMb": built, "peakMb": status_mib("VmHWM"), "endMb": status_mib("VmRSS")}))


if __name__ == "__main__":
    main()
