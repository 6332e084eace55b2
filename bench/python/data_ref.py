"""Reference side of bench/data.ts: timm's eval transform (PIL + torchvision) over a folder of JPEGs,
decoded in a torch DataLoader with the given number of workers. Needs TIMM_SRC on PYTHONPATH.
Prints one JSON object: images per second (median of repeats).
"""
import json
import os
import sys
import time

import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config


class Folder(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".jpg"))
        self.transform = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.transform(Image.open(self.files[i]).convert("RGB"))


def main():
    root, workers, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    cfg = resolve_data_config({}, pretrained_cfg=dict(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
    ds = Folder(root, create_transform(**cfg))
    rates = []
    for _ in range(reps):
        loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=workers)
        t0 = time.perf_counter()
        n = sum(b.shape[0] for b in loader)
        rates.append(n / (time.perf_counter() - t0))
    rates.sort()
    print(json.dumps({"ips": rates[len(rates) // 2]}))


if __name__ == "__main__":
    main()
