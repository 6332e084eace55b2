"""timm's own ONNX export of a model (torch.onnx.export, the path timm's onnx_export.py takes), the
reference graph that bench/inference.ts runs in ONNX Runtime beside ours.
Usage: python3 timm_onnx_export.py MODEL OUT.onnx [IMG_SIZE] [OPSET]
Prints one JSON line: {"path", "opset", "seconds"}. Random weights: speed does not depend on them."""
import json
import sys
import time

import torch
import timm
from timm.layers import set_layer_config


def main() -> None:
    name, out = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 224
    opset = int(sys.argv[4]) if len(sys.argv) > 4 else 17
    t0 = time.time()
    # exportable=True is what timm's onnx_export.py sets: ONNX-friendly padding and activations.
    with set_layer_config(exportable=True):
        model = timm.create_model(name, pretrained=False)
    model.eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(
            model, x, out, input_names=["input"], output_names=["logits"], opset_version=opset,
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True,
        )
    print(json.dumps({"path": out, "opset": opset, "seconds": time.time() - t0}))


if __name__ == "__main__":
    main()
