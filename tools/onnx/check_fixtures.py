"""Checks omninet_torch against the golden fixtures, in float64, before anything is exported.

Usage: python3 tools/onnx/check_fixtures.py [FIXTURE_DIR]   (default: test/data/fixtures)
Exits 1 when an unmasked fixture misses its tolerance.
"""

import json
import pathlib
import sys

import torch

from omninet_torch import load_omninet
from safetensors_file import read_safetensors

def main():
    default = pathlib.Path(__file__).resolve().parents[2] / "test" / "data" / "fixtures"
    directory = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else default
    failures = 0
    for path in sorted(directory.glob("*.safetensors")):
        tensors, metadata = read_safetensors(path)
        config = json.loads(metadata["config"])
        if "__mask__" in tensors:
            print(f"{path.name}: skipped ({config['fixture_kind']}; masks are not implemented here)")
            continue
        tolerance = json.loads(metadata["tolerance"])

        model = load_omninet(tensors, config).double()
        with torch.no_grad():
            actual = model(tensors["__input__"].double())
        expected = tensors["__output__"].double()
        error = (actual - expected).abs()
        allowed = tolerance["abs"] + tolerance["rel"] * expected.abs()
        ok = bool((error <= allowed).all())
        failures += not ok
        print(f"{path.name}: max abs diff {error.max().item():.3g}, {'ok' if ok else 'FAILED'} (tolerance {tolerance})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
