"""The locality-aware generalizable INR (Lee, Kim, Cho & Han, NeurIPS 2023; Sec. 3).

A Transformer encoder (``encoder.py``) turns an instance into R latent tokens ``Z = {z_k}``.
The locality-aware decoder evaluates a coordinate ``v`` in two steps:

1. Selective token aggregation (Sec. 3.3.1): frequency features of ``v`` query the tokens by
   multi-head cross-attention, which picks out the tokens relevant to that coordinate and returns
   one modulation vector ``m_v`` (Eq. 3-5). Attention is blind to the order of the tokens, so each
   token is free to specialise in a region of the data: the latents become local.
2. Multi-band feature modulation (Sec. 3.3.2): ``m_v`` is split into L modulation features, each
   gated by frequency features of its own bandwidth ``sigma_1 >= ... >= sigma_L`` (Eq. 6-7), and
   composed coarse-to-fine by a ReLU MLP whose deeper layers see the higher bands (Eq. 8); every
   level contributes to the output (Eq. 9).

``m_v = W_o a_v + b_o`` (the attention's output projection of the heads' outputs ``a_v``) is read
only by Eq. 7's products ``W_m^(l) m_v``, so ``W_o`` is folded into them once per decode:
``W_m^(l) W_o`` and ``b_m^(l) + W_m^(l) b_o``. The same function and gradients, with one ``d x d``
product per coordinate fewer; ``tests/core/test_locinr_equations.py`` holds the literal equations.

Shapes: B instances, b in {B, 1} coordinate sets, n coordinates, R tokens, d hidden width.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..checks import integer_at_least, positive_number
from ..coords import FourierFeatures
from ..presets import LOCINR_PRESETS
from .base import GeneralizableINR, float32_output, full_linear, register_to_config
from .encoder import latent_projection, merge_heads, split_heads
from .ipc import InstancePatternComposer

__all__ = ["CrossAttention", "FrequencyFeatures", "LocalityAwareINR"]


class FrequencyFeatures(nn.Module):
    """``h_F(v; sigma, W, b) = ReLU(W gamma_sigma(v) + b)`` (Eq. 3): ``(b, n, d_in)`` -> ``(b, n, d)``."""

    def __init__(self, d_in: int, d_f: int, sigma: float, dim: int):
        super().__init__()
        self.fourier = FourierFeatures(d_in, d_f, sigma)  # gamma_sigma, Eq. 2
        self.linear = nn.Linear(d_f, dim)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(self.fourier(coords).to(self.linear.weight.dtype)))


class CrossAttention(nn.Module):
    """Multi-head attention of coordinate queries over latent tokens (Eq. 5).

    Keys and values depend on the instance only: ``prepare`` computes them once per ``decode``;
    ``heads_output`` then serves any number of query chunks through fused
    ``scaled_dot_product_attention`` (no n x R score matrix is kept).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden_dim={dim} must be divisible by attention_heads={heads}")
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def prepare(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, R, d)`` tokens -> keys and values, each ``(B, heads, R, d / heads)``."""
        key, value = self.kv_proj(latents).split(latents.shape[-1], dim=-1)
        return split_heads(key, self.heads), split_heads(value, self.heads)

    def heads_output(self, queries: torch.Tensor, keys_values: tuple[torch.Tensor, torch.Tensor], twice=False):
        """``(b, n, d)`` queries -> ``(B, n, d)`` heads' outputs ``a_v``, concatenated, before ``W_o``.
        ``twice``: through the math kernel, whose backward is differentiable again (the fused ones' are not)."""
        key, value = keys_values
        q = split_heads(self.q_proj(queries), self.heads)  # (b, heads, n, d / heads)
        q = q.expand(key.shape[0], -1, -1, -1)  # one coordinate set for the whole batch: a view
        with sdpa_kernel(SDPBackend.MATH) if twice else contextlib.nullcontext():
            return merge_heads(F.scaled_dot_product_attention(q, key, value))

    def forward(self, queries: torch.Tensor, keys_values: tuple[torch.Tensor, torch.Tensor], twice=False):
        """``m_v = W_o a_v + b_o``: ``(b, n, d)`` queries -> ``(B, n, d)`` modulation vectors."""
        return self.out_proj(self.heads_output(queries, keys_values, twice))


class LocalityAwareINR(GeneralizableINR):
    """Transformer encoder + locality-aware INR decoder.

    The defaults are the paper's 178 x 178 image configuration (App. A.1): 9 px patches with 1 px
    of zero padding (400 tokens), a 6-block, 768-wide encoder with 12 heads, R = 256 latents,
    d = d_f = 256, two attention heads, L = 2 levels with ``(sigma_1, sigma_2) = (128, 32)`` and
    ``sigma_q = 16``. ``LocalityAwareINR.from_preset(name)`` builds the other configurations.

    Args (besides the shared ones, see ``ginr_core.models.base``):
        hidden_dim: d, width of the latents and of the decoder.
        fourier_dim: d_f, Fourier feature dimensionality (any even number >= 2 * d_in; the paper's
            256 for images and light fields alike, see ``FourierFeatures``).
        sigmas: bandwidths ``(sigma_1, ..., sigma_L)`` of the L levels of multi-band modulation,
            in the paper's order sigma_1 >= ... >= sigma_L; other orders are allowed (Table 4).
        sigma_q: bandwidth of the query frequency features (Eq. 4).
        attention_heads: heads of the selective token aggregation.
        selective_token_aggregation: ``False`` replaces the cross-attention by IPC's weight
            modulation (the "w/o STA" ablation of Table 3).
        multi_band_modulation: ``False`` replaces Eq. 6-9 by a plain ReLU MLP of L hidden layers
            on ``m_v`` (the "w/o multiFM" ablation). With both off the decoder has IPC's layout.
        highest_band: with ``multi_band_modulation=False``, the other reading of "w/o multiFM" that
            the paper allows: the MLP's first layer also receives the highest band's frequency
            features, ``ReLU(h_F(v; sigma_1) + W_m m_v + b_m)`` (Eq. 6-7 for one level), then L - 1
            plain layers; the default reading gives the MLP the query's features at sigma_q only.
    """

    family = "locinr"
    presets = LOCINR_PRESETS

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 256,
        sigmas: Sequence[float] = (128.0, 32.0),
        sigma_q: float = 16.0,
        attention_heads: int = 2,
        selective_token_aggregation: bool = True,
        multi_band_modulation: bool = True,
        highest_band: bool = False,
        tokenizer: str = "patches",
        image_size: int | tuple[int, int] = 178,
        patch_size: int = 9,
        padding: int | None = None,
        in_channels: int = 3,
        num_views: int = 1,
        d_in: int = 2,
        d_out: int = 3,
        num_latents: int = 256,
        encoder_width: int = 768,
        encoder_depth: int = 6,
        encoder_heads: int = 12,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        output_bias: float = 0.5,
    ):
        super().__init__(
            tokenizer=tokenizer,
            image_size=image_size,
            patch_size=patch_size,
            padding=padding,
            in_channels=in_channels,
            num_views=num_views,
            d_in=d_in,
            d_out=d_out,
            num_latents=num_latents,
            encoder_width=encoder_width,
            encoder_depth=encoder_depth,
            encoder_heads=encoder_heads,
            encoder_mlp_ratio=encoder_mlp_ratio,
            dropout=dropout,
            output_bias=output_bias,
        )
        d = integer_at_least("hidden_dim", hidden_dim)
        if isinstance(sigmas, (int, float)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
            raise ValueError(f"sigmas must list the bandwidths of L >= 1 levels, e.g. (128, 32); got {sigmas!r}")
        self.sigmas = tuple(positive_number(f"sigmas[{i}]", s) for i, s in enumerate(sigmas))
        self.sigma_q, self.num_levels = positive_number("sigma_q", sigma_q), len(sigmas)
        heads = integer_at_least("attention_heads", attention_heads)
        self.selective_token_aggregation = bool(selective_token_aggregation)
        self.multi_band_modulation = bool(multi_band_modulation)
        self.highest_band = bool(highest_band)
        if self.highest_band and self.multi_band_modulation:
            raise ValueError("highest_band is a reading of the w/o multiFM ablation: set multi_band_modulation=False")

        # Latent tokens z_k in R^d: LayerNorm + Linear on the encoder outputs.
        self.latent_proj = latent_projection(self.encoder_width, d)
        # Query q_v = h_F(v; sigma_q, W_q, b_q)  (Eq. 4).
        self.query_features = FrequencyFeatures(self.d_in, fourier_dim, self.sigma_q, d)
        # m_v = MultiHeadAttention(q_v, Z, Z)  (Eq. 5), or IPC's m_v = ReLU(normalize(Z^T V) q_v + b) (w/o STA).
        if self.selective_token_aggregation:
            self.token_aggregation = CrossAttention(d, heads)
        else:
            self.token_aggregation = InstancePatternComposer(self.num_latents, d, d)
        # The bands of Eq. 6-7: one per level, or the highest one alone (highest_band), or none.
        if self.multi_band_modulation:
            band_sigmas = self.sigmas
        else:
            band_sigmas = self.sigmas[:1] if self.highest_band else ()
        # (h_F)^(l) = h_F(v; sigma_l, W_F^(l), b_F^(l))  (Eq. 6) and W_m^(l), b_m^(l)  (Eq. 7).
        self.band_features = nn.ModuleList(FrequencyFeatures(self.d_in, fourier_dim, s, d) for s in band_sigmas)
        self.band_modulation = nn.ModuleList(nn.Linear(d, d) for _ in band_sigmas)
        # W^(l), b^(l) for l = 2..L  (Eq. 8); w/o multiFM: the MLP's L - 1 (highest_band) or L hidden layers.
        hidden = self.num_levels - 1 if self.multi_band_modulation or self.highest_band else self.num_levels
        self.hidden_layers = nn.ModuleList(nn.Linear(d, d) for _ in range(hidden))
        # f_out^(l), l = 1..L  (Eq. 9); w/o multiFM: one output layer.
        outputs = self.num_levels if self.multi_band_modulation else 1
        self.output_layers = nn.ModuleList(nn.Linear(d, self.d_out) for _ in range(outputs))

    @property
    def latent_dim(self) -> int:
        return self.latent_proj[1].out_features

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.latent_proj(tokens)

    def _prepare(self, latents: torch.Tensor):
        """Once per decode: keys and values (or w/o STA, IPC's modulated weight) and Eq. 7's ``(W, b)`` per band,
        with W_o folded in where the attention's output is read by them only."""
        bands = [(layer.weight, layer.bias) for layer in self.band_modulation]
        if not self.selective_token_aggregation:
            return self.token_aggregation.compose(latents), bands
        out_proj = self.token_aggregation.out_proj
        if bands:  # W_m^(l) W_o and b_m^(l) + W_m^(l) b_o
            bands = [(w @ out_proj.weight, torch.addmv(b, w, out_proj.bias)) for w, b in bands]
        return self.token_aggregation.prepare(latents), bands

    def _decode(self, state, coords: torch.Tensor) -> torch.Tensor:
        aggregation, bands = state
        q = self.query_features(coords)  # q_v, (b, n, d)  (Eq. 3-4)
        twice = coords.requires_grad and torch.is_grad_enabled()  # a coordinate gradient may be differentiated
        if not self.selective_token_aggregation:
            m = F.relu(self.token_aggregation(q, aggregation))  # IPC's m_v, (B, n, d)  (w/o STA)
        elif bands:
            m = self.token_aggregation.heads_output(q, aggregation, twice)  # a_v: W_o is in the bands' weights
        else:
            m = self.token_aggregation(q, aggregation, twice)  # m_v, (B, n, d)  (Eq. 5)

        if not self.multi_band_modulation:  # w/o multiFM: a ReLU MLP on m_v, one output layer
            h = m
            if self.highest_band:  # ReLU(h_F(v; sigma_1) + W_m m_v + b_m)
                (weight, bias), features = bands[0], self.band_features[0]
                h = F.relu(F.linear(m, weight) + (features(coords) + bias))
            for layer in self.hidden_layers:
                h = F.relu(layer(h))
            with float32_output(h):  # the final layer and the prediction in float32, also under autocast
                return full_linear(self.output_layers[0], h) + self.output_bias

        out = h = None
        for level, (weight, bias) in enumerate(bands):
            h_f = self.band_features[level](coords)  # (h_F)_v^(l), (b, n, d)  (Eq. 6)
            # m_v^(l) = ReLU((h_F)_v^(l) + W_m^(l) m_v + b_m^(l))  (Eq. 7); the bias joins the coordinate-only
            # term, computed once for a shared coordinate set
            m_l = F.relu(F.linear(m, weight) + (h_f + bias))
            if level == 0:
                h = m_l  # h_v^(1) = m_v^(1)
            else:
                h = F.relu(self.hidden_layers[level - 1](m_l + h))  # h_v^(l)  (Eq. 8)
            with float32_output(h):  # the output layers and their sum in float32, also under autocast
                y = full_linear(self.output_layers[level], h)  # f_out^(l)(h_v^(l))
                out = y if out is None else out + y  # sum over levels  (Eq. 9)
        return out + self.output_bias
