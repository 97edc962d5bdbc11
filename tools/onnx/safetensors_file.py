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


DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    """Writes tensors (a dict of name to tensor, in order) and string metadata as safetensors.

    The header is padded with spaces so the data section starts at a multiple of 8.
    """
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        raw = tensor.contiguous().numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, ensure_ascii=False).encode("utf-8")
    encoded += b" " * (-(8 + len(encoded)) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for chunk in chunks:
            file.write(chunk)
