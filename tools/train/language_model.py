"""A character-level language model around the `omninet-causal-omni` OmniNet.

tokens → token_emb + pos_emb (learned absolute positions) → OmniNet layers → norm → to_logits.

The class extends OmniNet, so the layers keep the state-dict names of the checkpoints that the
TypeScript runtime loads (`layers.{i}...`). The wrapper adds `token_emb.weight`,
`pos_emb.weight`, `norm.weight|bias` and `to_logits.weight|bias`.
src/model/language-model/language-model.ts runs the same computation.
"""

import math
import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "onnx"))
from omninet_torch import OmniNet, omni_schedule  # noqa: E402


def model_config(dim, depth, heads, dim_head, pool_every, nb_features):
    """Returns the `__metadata__.config` of the exported checkpoint, in the fixtures' snake_case."""
    omni_layers, omni_pool_sizes = omni_schedule("omninet-causal-omni", depth, pool_every)
    return {
        "variant": "omninet-causal-omni",
        "dim": dim,
        "depth": depth,
        "heads": heads,
        "dim_head": dim_head,
        "pool_layer_tokens_every": pool_every,
        "omni_layers": omni_layers,
        "omni_pool_sizes": omni_pool_sizes,
        "nb_features": nb_features,
        "ff_mult": 4,
        "layernorm_eps": 1e-5,
        "gelu": "erf",
    }


def orthogonal_gaussian_projection(nb_features, dim_head, generator):
    """Performer's random features: blocks of orthogonal rows, each row scaled to a Gaussian norm."""
    blocks = []
    for _ in range(math.ceil(nb_features / dim_head)):
        gaussian = torch.randn(dim_head, dim_head, generator=generator)
        q, _ = torch.linalg.qr(gaussian)
        blocks.append(q.t())
    rows = torch.cat(blocks)[:nb_features]
    norms = torch.randn(nb_features, dim_head, generator=generator).norm(dim=1, keepdim=True)
    return rows * norms


class CharLanguageModel(OmniNet):
    def __init__(self, config, vocab_size, max_seq_len, generator):
        super().__init__(config)
        dim = config["dim"]
        self.max_seq_len = max_seq_len
        self.token_emb = nn.Embedding(vocab_size, dim)
        self.pos_emb = nn.Embedding(max_seq_len, dim)
        self.norm = nn.LayerNorm(dim, eps=config["layernorm_eps"])
        self.to_logits = nn.Linear(dim, vocab_size)

        nn.init.normal_(self.token_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        for index in self.omni_layers:
            projection = orthogonal_gaussian_projection(config["nb_features"], config["dim_head"], generator)
            self.layers[index][2].fast_attention.projection_matrix.copy_(projection)

    def forward(self, tokens):
        # tokens [batch, seq] int64 → logits [batch, seq, vocab]
        seq = tokens.shape[1]
        if seq > self.max_seq_len:
            raise ValueError(f"sequence of {seq} tokens is longer than max_seq_len {self.max_seq_len}")
        positions = torch.arange(seq, device=tokens.device)
        x = self.token_emb(tokens) + self.pos_emb(positions)
        return self.to_logits(self.norm(super().forward(x)))
