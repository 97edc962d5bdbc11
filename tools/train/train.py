"""Trains the character-level OmniNet language model on the King James Bible.

Usage: /usr/bin/python3 tools/train/train.py [--steps N] [--out DIR] ...   (see --help)

Writes DIR/model.pt (weights, config, vocabulary) and DIR/log.jsonl (one line per evaluation),
and prints the final training and validation loss in bits per character. tools/train/README.md
records the command, seed, time and losses of the shipped model.
"""

import argparse
import json
import math
import pathlib
import time

import torch
import torch.nn.functional as F

from corpus import build_vocabulary, read_bible_output, split_chapters, split_train_validation
from language_model import CharLanguageModel, model_config

BITS_PER_NAT = 1 / math.log(2)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "out")
    parser.add_argument("--seed", type=int, default=1)
    # One thread: on a 2-core machine that also runs other work, two OpenMP threads stall each
    # other (3.7 s per step against 0.95 s with one, measured at these defaults).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--eval-every", type=int, default=400)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim-head", type=int, default=32)
    parser.add_argument("--pool-every", type=int, default=2)
    parser.add_argument("--nb-features", type=int, default=32)
    return parser.parse_args()


def learning_rate(step, args):
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def random_batch(data, batch, seq_len, generator):
    """`batch` random windows of seq_len + 1 tokens: inputs and next-token targets."""
    starts = torch.randint(0, len(data) - seq_len - 1, (batch,), generator=generator)
    windows = torch.stack([data[start : start + seq_len + 1] for start in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def bits_per_char(model, data, seq_len, batch=32):
    """Mean loss over consecutive windows of seq_len tokens that cover `data`, in bits per character."""
    model.eval()
    count = (len(data) - 1) // seq_len
    inputs = data[: count * seq_len].reshape(count, seq_len)
    targets = data[1 : count * seq_len + 1].reshape(count, seq_len)
    total = 0.0
    for begin in range(0, count, batch):
        logits = model(inputs[begin : begin + batch])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[begin : begin + batch].reshape(-1), reduction="sum").item()
    model.train()
    return total / (count * seq_len) * BITS_PER_NAT


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)

    train_text, validation_text = split_train_validation(split_chapters(read_bible_output()))
    vocabulary = build_vocabulary(train_text + validation_text)
    index = {char: i for i, char in enumerate(vocabulary)}
    train_data = torch.tensor([index[c] for c in train_text], dtype=torch.long)
    validation_data = torch.tensor([index[c] for c in validation_text], dtype=torch.long)
    print(f"corpus: {len(train_text)} training and {len(validation_text)} validation characters, {len(vocabulary)} symbols")

    config = model_config(args.dim, args.depth, args.heads, args.dim_head, args.pool_every, args.nb_features)
    model = CharLanguageModel(config, len(vocabulary), args.seq_len, generator)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {parameters} parameters, config {json.dumps(config)}")

    decay = [p for name, p in model.named_parameters() if p.dim() >= 2 and "emb" not in name]
    no_decay = [p for name, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in name)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )

    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "log.jsonl", "w")
    started = time.time()
    recent = []
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)

        inputs, targets = random_batch(train_data, args.batch, args.seq_len, generator)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if not torch.isfinite(loss):
            raise SystemExit(f"step {step}: loss is {loss.item()}; lower --lr")

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

        recent = (recent + [loss.item() * BITS_PER_NAT])[-100:]
        if step % 20 == 0:
            elapsed = time.time() - started
            print(f"step {step}: train {sum(recent) / len(recent):.3f} bits/char, {elapsed:.0f} s, {elapsed / (step + 1):.2f} s/step", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            validation = bits_per_char(model, validation_data, args.seq_len)
            entry = {"step": step + 1, "seconds": round(time.time() - started, 1), "train_bits": sum(recent) / len(recent), "validation_bits": validation}
            print(json.dumps(entry), flush=True)
            log.write(json.dumps(entry) + "\n")
            log.flush()

    seconds = time.time() - started
    torch.save(
        {"state_dict": model.state_dict(), "config": config, "vocabulary": "".join(vocabulary), "max_seq_len": args.seq_len, "args": vars(args) | {"out": str(args.out)}, "seconds": seconds},
        args.out / "model.pt",
    )
    print(f"done: {args.steps} steps in {seconds / 60:.1f} min; wrote {args.out / 'model.pt'}")


if __name__ == "__main__":
    main()
