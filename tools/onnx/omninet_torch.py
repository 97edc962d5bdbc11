"""The omninet forward pass in PyTorch, with omninet-pytorch's state-dict names.

Written for export to ONNX: plain MatMul, ReduceMax and Softmax, no einsum and no Python control
flow that depends on tensor values, so the exported graph takes any batch and sequence length.
It implements the three variants without masks, as src/model/forward.ts does: pre-norm attention and feed-forward blocks, then at each omni layer
attention over the last L hidden states flattened position-major and a max over the L.
check_fixtures.py checks it against the golden fixtures. tools/train/ trains the
`omninet-causal-omni` variant with it; that variant's causal FAVOR+ uses a triangular mask, which
the ONNX export does not need.
"""

import torch
from torch import nn

FAVOR_EPS = 1e-4


def omni_schedule(variant, depth, pool_every):
    """Returns (layers, pool_sizes): the 0-based omni layers and how many hiddens each pools."""
    layers, pool_sizes = [], []
    for i in range(depth):
        if variant == "omninet-causal-omni":
            if (i + 1) % pool_every == 0:
                layers.append(i)
                pool_sizes.append(pool_every)
        elif (i + 1) % pool_every != 0:
            layers.append(i)
            pool_sizes.append(min(pool_every, i + 2))
    return layers, pool_sizes


def split_heads(x, heads):
    """[batch, tokens, heads·dim_head] → [batch, heads, tokens, dim_head]."""
    batch, tokens, inner = x.shape
    return x.reshape(batch, tokens, heads, inner // heads).transpose(1, 2)


def merge_heads(x):
    """[batch, heads, tokens, dim_head] → [batch, tokens, heads·dim_head]."""
    batch, heads, tokens, dim_head = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * dim_head)


class PreNorm(nn.Module):
    def __init__(self, dim, fn, eps):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class Attention(nn.Module):
    """Softmax multi-head attention: `to_qkv` (no bias), then `to_out.0`."""

    def __init__(self, dim, heads, dim_head, causal):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.causal = causal
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim))

    def forward(self, x):
        q, k, v = (split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if self.causal:
            tokens = scores.shape[-1]
            hidden = torch.ones(tokens, tokens, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(hidden, float("-inf"))
        return self.to_out(merge_heads(torch.matmul(scores.softmax(dim=-1), v)))


class FeedForward(nn.Module):
    """`net.3(GELU(net.0(x)))` with the erf form of GELU; net.1 and net.2 hold no weights."""

    def __init__(self, dim, mult):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class FastAttention(nn.Module):
    """Non-causal FAVOR+ (performer-pytorch `softmax_kernel` and `linear_attention`)."""

    def __init__(self, nb_features, dim_head):
        super().__init__()
        self.register_buffer("projection_matrix", torch.zeros(nb_features, dim_head))

    def features(self, x, is_query):
        # x [batch, heads, tokens, dim_head] → [batch, heads, tokens, nb_features]
        nb_features, dim_head = self.projection_matrix.shape
        normalizer = dim_head**-0.25
        ratio = nb_features**-0.5
        projected = torch.matmul(x * normalizer, self.projection_matrix.t())
        half_norm = (x * x).sum(dim=-1, keepdim=True) * (normalizer**2 / 2)
        if is_query:
            stabiliser = projected.amax(dim=-1, keepdim=True)
        else:
            stabiliser = projected.amax(dim=(-1, -2), keepdim=True)
        return ratio * (torch.exp(projected - half_norm - stabiliser) + FAVOR_EPS)

    def causal(self, q, k, v):
        """Causal FAVOR+ of `omninet-causal-omni`: out_t = Σ_{s≤t} (φ_t·ψ_s) v_s / Σ_{s≤t} φ_t·ψ_s.

        ψ has no eps and no m^-0.5 (both cancel or are absent in that variant's definition). One
        constant per (batch, head), the largest exponent, is subtracted: it cancels in the ratio and
        keeps exp in range. The masked quadratic form costs tokens² per head, which is fine at
        training lengths; the runtime uses a scan instead.
        """
        nb_features, dim_head = self.projection_matrix.shape
        normalizer = dim_head**-0.25
        phi = self.features(q, is_query=True)
        projected = torch.matmul(k * normalizer, self.projection_matrix.t())
        exponent = projected - (k * k).sum(dim=-1, keepdim=True) * (normalizer**2 / 2)
        psi = torch.exp(exponent - exponent.amax(dim=(-1, -2), keepdim=True).detach())

        tokens = q.shape[-2]
        weights = torch.matmul(phi, psi.transpose(-1, -2))  # [batch, heads, tokens, tokens]
        future = torch.ones(tokens, tokens, dtype=torch.bool, device=q.device).triu(1)
        weights = weights.masked_fill(future, 0.0)
        # NOTE: the floor only matters when every ψ_s up to t underflows (float32 training).
        denominator = weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
        return torch.matmul(weights, v) / denominator

    def forward(self, q, k, v):
        phi = self.features(q, is_query=True)
        psi = self.features(k, is_query=False)
        key_sum = psi.sum(dim=-2, keepdim=True)  # [batch, heads, 1, nb_features]
        denominator = torch.matmul(phi, key_sum.transpose(-1, -2))  # [batch, heads, tokens, 1]
        context = torch.matmul(psi.transpose(-1, -2), v)  # [batch, heads, nb_features, dim_head]
        return torch.matmul(phi, context) / denominator


class PerformerAttention(nn.Module):
    """Omni attention of `omninet`: `to_q`, `to_k`, `to_v` (no bias), FAVOR+, `to_out`."""

    def __init__(self, dim, heads, dim_head, nb_features, causal=False):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.causal = causal
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        self.fast_attention = FastAttention(nb_features, dim_head)

    def forward(self, x):
        q, k, v = (split_heads(f(x), self.heads) for f in (self.to_q, self.to_k, self.to_v))
        attend = self.fast_attention.causal if self.causal else self.fast_attention
        return self.to_out(merge_heads(attend(q, k, v)))


class OmniNet(nn.Module):
    """The three variants, from a config in the snake_case of `__metadata__.config`."""

    def __init__(self, config):
        super().__init__()
        variant = config.get("variant", "omninet")
        if variant not in ("omninet", "omninet-causal-axial", "omninet-causal-omni"):
            raise ValueError(f"unknown variant {variant}; use omninet, omninet-causal-axial or omninet-causal-omni")
        dim, depth = config["dim"], config["depth"]
        heads, dim_head = config["heads"], config["dim_head"]
        eps = config.get("layernorm_eps", 1e-5)
        causal = variant != "omninet"

        self.variant = variant
        self.omni_layers, self.omni_pool_sizes = omni_schedule(variant, depth, config["pool_layer_tokens_every"])
        if variant == "omninet-causal-axial":
            self.layer_pos_emb = nn.Parameter(torch.zeros(depth + 1, dim))

        self.layers = nn.ModuleList()
        for i in range(depth):
            blocks = [
                PreNorm(dim, Attention(dim, heads, dim_head, causal), eps),
                PreNorm(dim, FeedForward(dim, config.get("ff_mult", 4)), eps),
            ]
            if i in self.omni_layers:
                if variant == "omninet-causal-axial":
                    blocks.append(Attention(dim, heads, dim_head, causal=False))
                else:
                    blocks.append(PerformerAttention(dim, heads, dim_head, config["nb_features"], causal))
            self.layers.append(nn.ModuleList(blocks))

    def forward(self, x):
        # x [batch, seq, dim] → [batch, seq, dim]
        axial = self.variant == "omninet-causal-axial"
        if axial:
            x = x + self.layer_pos_emb[0]
        hiddens = [x]
        for i, blocks in enumerate(self.layers):
            x = x + blocks[0](x)
            x = x + blocks[1](x)
            if axial:
                x = x + self.layer_pos_emb[i + 1]
            if i in self.omni_layers:
                layers = self.omni_pool_sizes[self.omni_layers.index(i)]
                x = x + self.omni(blocks[2], hiddens[len(hiddens) - (layers - 1) :] + [x], axial)
            hiddens.append(x)
        return x

    @staticmethod
    def omni(attention, hiddens, axial):
        """Attends over the hiddens flattened position-major (token p of hidden l at p·L + l) and max-pools back."""
        batch, seq, dim = hiddens[-1].shape
        layers = len(hiddens)
        stacked = torch.stack(hiddens, dim=2)  # [batch, seq, L, dim]
        if axial:
            # Softmax attention among the L tokens of each position.
            attended = attention(stacked.reshape(batch * seq, layers, dim))
        else:
            attended = attention(stacked.reshape(batch, seq * layers, dim))
        return attended.reshape(batch, seq, layers, dim).amax(dim=2)


def load_omninet(tensors, config):
    """Returns an OmniNet in eval mode with the checkpoint's weights; raises on a missing or extra tensor."""
    model = OmniNet(config)
    state = {name: t for name, t in tensors.items() if not name.startswith("__") and not name.endswith("calls_since_last_redraw")}
    model.load_state_dict(state, strict=True)
    return model.eval()
