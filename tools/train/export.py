"""Exports a trained language model to safetensors, with golden logits for the TypeScript tests.

Usage: /usr/bin/python3 tools/train/export.py [CHECKPOINT] [--output FILE] [--golden FILE] [--dtype f16|f32]

CHECKPOINT is train.py's model.pt (default tools/train/out/model.pt). The output contains the
OmniNet layers under omninet-pytorch's names plus the wrapper tensors, `__metadata__.config`
and `__metadata__.language_model` (vocabulary, max_seq_len, corpus, training record). With
float16 storage the golden logits come from the float16-rounded weights, computed in float64.
"""

import argparse
import json
import pathlib
import re
import sys

import torch

from corpus import read_bible_output, split_chapters, split_train_validation
from language_model import CharLanguageModel
from train import bits_per_char

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "onnx"))
from safetensors_file import write_safetensors  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN_PROMPT = "In the beginning God created the heaven and the earth.\n2 And the earth was without form"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=pathlib.Path, nargs="?", default=pathlib.Path(__file__).parent / "out" / "model.pt")
    parser.add_argument("--output", type=pathlib.Path, default=ROOT / "models" / "kjv-char.safetensors")
    parser.add_argument("--golden", type=pathlib.Path, default=ROOT / "test" / "data" / "language-model" / "golden.safetensors")
    parser.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    parser.add_argument("--log", type=pathlib.Path, help="train.py's log.jsonl, whose last line becomes the training record")
    args = parser.parse_args()

    saved = torch.load(args.checkpoint)
    config, vocabulary, max_seq_len = saved["config"], saved["vocabulary"], saved["max_seq_len"]
    storage = torch.float16 if args.dtype == "f16" else torch.float32
    state = {name: tensor.to(storage) for name, tensor in saved["state_dict"].items()}

    # The model as users get it: stored weights, float64 compute.
    model = CharLanguageModel(config, len(vocabulary), max_seq_len, torch.Generator().manual_seed(0)).double()
    model.load_state_dict({name: tensor.double() for name, tensor in state.items()})
    model.eval()

    index = {char: i for i, char in enumerate(vocabulary)}
    train_text, validation_text = split_train_validation(split_chapters(read_bible_output()))
    validation = bits_per_char(model, torch.tensor([index[c] for c in validation_text]), max_seq_len)
    print(f"validation loss of the stored weights ({args.dtype}, float64 compute): {validation:.4f} bits/char")

    record = {"steps": saved["args"]["steps"], "seconds": round(saved["seconds"]), "seed": saved["args"]["seed"], "arguments": saved["args"]}
    if args.log:
        last = json.loads(args.log.read_text().strip().split("\n")[-1])
        record |= {"train_bits_per_char": round(last["train_bits"], 4), "validation_bits_per_char_float32": round(last["validation_bits"], 4)}
    record["validation_bits_per_char_stored"] = round(validation, 4)
    language_model = {
        "name": "kjv-char",
        "vocabulary": list(vocabulary),
        "max_seq_len": max_seq_len,
        "positions": "learned",
        "corpus": "King James Bible from Debian's bible-kjv-text (public domain), one verse per line; every 40th chapter held out",
        "licence": "weights: CC0-1.0",
        "training": record,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.output, state, {"config": json.dumps(config), "language_model": json.dumps(language_model, ensure_ascii=False)})
    print(f"wrote {args.output}: {args.output.stat().st_size / 2**20:.2f} MiB")

    tokens = torch.tensor([[index[c] for c in GOLDEN_PROMPT]])
    with torch.no_grad():
        logits = model(tokens)[0]
    args.golden.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(
        args.golden,
        {"tokens": tokens[0].to(torch.uint8), "logits": logits.float()},
        {"prompt": GOLDEN_PROMPT, "model": args.output.name, "note": "logits [tokens, vocab] of the stored weights in float64, rounded to float32"},
    )
    print(f"wrote {args.golden}: logits of {tokens.shape[1]} tokens")

    # The corpus's words, so that a test can check that generated words are real ones.
    words = sorted(set(re.findall(r"[A-Za-z]+", train_text + validation_text)))
    (args.golden.parent / "words.txt").write_text("\n".join(words) + "\n")
    print(f"wrote {args.golden.parent / 'words.txt'}: {len(words)} words")


if __name__ == "__main__":
    main()
