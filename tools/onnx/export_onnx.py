"""Exports an omninet checkpoint (safetensors with __metadata__.config) to ONNX.

Usage: python3 tools/onnx/export_onnx.py MODEL.safetensors OUTPUT.onnx [--opset 17]

The graph takes input x [batch, seq, dim] float32 and returns y [batch, seq, dim], with batch and
seq dynamic. bench/peers.mjs runs this script itself; the .onnx is build output, so keep it out
of git (bench/results/ is ignored).
"""

import argparse
import json
import pathlib

import torch

from omninet_torch import load_omninet
from safetensors_file import read_safetensors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=pathlib.Path)
    parser.add_argument("output", type=pathlib.Path)
    # Opset 17 is the first with LayerNormalization, and the last that torch 1.13 exports.
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args()

    tensors, metadata = read_safetensors(args.checkpoint)
    if "config" not in metadata:
        raise SystemExit(f"{args.checkpoint}: no __metadata__.config; write it with Omninet#toSafetensors()")
    config = json.loads(metadata["config"])
    model = load_omninet(tensors, config)

    # Any length works for tracing; 2·P tokens exercise every omni layer's reshapes.
    example = torch.randn(1, 2 * config["pool_layer_tokens_every"], config["dim"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(args.output),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}},
            opset_version=args.opset,
            do_constant_folding=True,
        )

    try:
        import onnx

        onnx.checker.check_model(str(args.output))
    except ImportError:
        print("onnx is not installed, so the exported model was not checked")
    size = args.output.stat().st_size
    print(f"wrote {args.output}: {config['variant']}, dim {config['dim']}, depth {config['depth']}, {size / 2**20:.1f} MiB, opset {args.opset}")


if __name__ == "__main__":
    main()
