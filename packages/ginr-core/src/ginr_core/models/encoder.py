"""The Transformer encoder shared by every ginr model (Sec. 3.2).

The model's tokenizer (``tokenizers.py``) turns the data into tokens: an image, or V posed views of a
scene, cut into non-overlapping patches, each embedded by one linear layer plus a learnable
positional embedding. R learnable latent tokens are appended after the data tokens, a stack of pre-norm
Transformer blocks mixes everything, and the last R outputs are the latent tokens of the instance.
Self-attention is permutation-equivariant, so nothing ties a latent token to a place in the data:
the decoder decides what the tokens come to mean.

Shapes: B batch, T data tokens, R latent tokens, E encoder width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LatentEncoder",
    "TransformerBlock",
    "latent_projection",
    "merge_heads",
    "split_heads",
]


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(B, T, width)`` -> ``(B, heads, T, width / heads)``, a view, as attention takes it."""
    return x.unflatten(-1, (heads, x.shape[-1] // heads)).transpose(1, 2)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """``(B, heads, T, head_dim)`` -> ``(B, T, heads * head_dim)``: ``split_heads`` undone."""
    return y.transpose(1, 2).flatten(-2)


class TransformerBlock(nn.Module):
    """Pre-norm block ``x += Attn(LN(x)); x += MLP(LN(x))`` with exact GELU and residual dropout.

    ``num_queries`` (used by the last block) computes outputs for the last ``num_queries`` tokens
    only, attending to all of them: the same numbers, without the work on tokens nobody reads.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if width % heads:
            raise ValueError(f"encoder_width={width} must be divisible by encoder_heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        hidden = round(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.dropout = nn.Dropout(dropout)

    def attention(self, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        width = x.shape[-1]
        if num_queries is None:
            q, k, v = self.qkv(x).split(width, dim=-1)
        else:
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x[:, -num_queries:], w[:width], b[:width])
            k, v = F.linear(x, w[width:], b[width:]).split(width, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, T_q, head_dim)
        return self.dropout(self.proj(merge_heads(y)))

    def forward(self, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
        attn = self.attention(self.norm1(x), num_queries)
        x = (x if num_queries is None else x[:, -num_queries:]) + attn
        return x + self.dropout(self.mlp(self.norm2(x)))


class LatentEncoder(nn.Module):
    """Data tokens + R learnable tokens -> Transformer -> ``(B, R, E)`` latent tokens (Sec. 3.2).

    No final LayerNorm: each decoder normalises and projects the tokens it reads.
    """

    def __init__(
        self,
        *,
        tokenizer: nn.Module,
        num_latents: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        dropout: float,
    ):
        super().__init__()
        self.tokenizer = tokenizer  # checked input -> (B, T, E) data tokens
        self.latent_tokens = nn.Parameter(torch.randn(num_latents, width))
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, mlp_ratio, dropout) for _ in range(depth))

    @property
    def num_latents(self) -> int:
        return self.latent_tokens.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The tokenizer's input (``(B, V, C, H, W)`` views for patches) -> ``(B, R, E)``."""
        tokens = self.tokenizer(x)
        latents = self.latent_tokens.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        x = torch.cat([tokens, latents], dim=1)
        if not self.blocks:
            return x[:, -self.num_latents :]
        for block in self.blocks[:-1]:
            x = block(x)
        return self.blocks[-1](x, num_queries=self.num_latents)


def latent_projection(width: int, dim: int) -> nn.Sequential:
    """``LayerNorm + Linear``: encoder outputs ``(..., E)`` -> decoder-side tokens ``(..., dim)``."""
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
