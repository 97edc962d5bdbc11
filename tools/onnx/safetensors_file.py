"""Reads safetensors files with the standard library and torch, without the safetensors package.

Layout: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON, then the data
section. Each JSON entry maps a tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
with offsets relative to the start of the data section; "__metadata__" maps strings to strings.
"""

import json
import struct

import torch

DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path):
    """Returns (tensors, metadata): a dict of name to tensor in header order, and __metadata__."""
    with open(path, "rb") as file:
        data = file.read()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = 8 + header_length

    tensors = {}
    for name, entry in header.items():
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        # A bytearray copy gives torch.frombuffer a writable, aligned buffer of its own.
        raw = bytearray(data[body + begin : body + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors, metadata
