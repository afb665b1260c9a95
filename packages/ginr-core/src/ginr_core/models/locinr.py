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

Shapes: B instances, b in {B, 1} coordinate sets, n coordinates, R tokens, d hidden width.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..checks import integer_at_least, positive_number
from ..coords import FourierFeatures
from .base import GeneralizableINR, batch_sum, broadcast_batch, float32_output, full_linear
from .encoder import latent_projection, merge_heads, split_heads
from .ipc import InstancePatternComposer

__all__ = ["CrossAttention", "FrequencyFeatures", "LocalityAwareINR", "MultiBandModulation"]

# the paper's decoder at 178 px (App. A.1), also used at 256 px
_LOCINR_178 = {"sigmas": (128.0, 32.0), "sigma_q": 16.0, "attention_heads": 2}


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
    ``forward`` then serves any number of query chunks through fused
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
        dim = latents.shape[-1]
        key, value = self.kv_proj(latents).split(dim, dim=-1)  # split, as the encoder's q, k, v
        return split_heads(key, self.heads), split_heads(value, self.heads)

    def forward(
        self, queries: torch.Tensor, keys_values: tuple[torch.Tensor, torch.Tensor], project: bool = True
    ) -> torch.Tensor:
        """``(b, n, d)`` queries -> ``(B, n, d)`` modulation vectors ``m_v`` (``project=False``: the heads'
        outputs before the output projection, which the caller then applies itself)."""
        key, value = keys_values
        q = split_heads(self.q_proj(queries), self.heads)  # (b, heads, n, d / heads)
        q = broadcast_batch(q, key.shape[0])  # one coordinate set for the whole batch: a view
        out = merge_heads(F.scaled_dot_product_attention(q, key, value))  # (B, n, d)
        return self.out_proj(out) if project else out


def _relu_backward_(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``grad`` zeroed where the ReLU's ``output`` is 0, in place (``grad`` is a buffer of the caller's own): ~2x
    faster than the out-of-place ``threshold_backward`` on a (4096, 256) chunk, which writes fresh memory."""
    return torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)


class MultiBandModulation(torch.autograd.Function):
    """Eq. 7-9 for one chunk, forward and backward written out: the same numbers as the module code in
    ``LocalityAwareINR._decode`` (which stays the reference, and runs under autocast or for a half-precision
    model), with the ReLUs in place and the backward's sums accumulated into the matmuls (``addmm_``)
    instead of separate passes over ``(B * n, d)`` tensors: ~1.5 % of a paper-size CPU training step.

    ``apply(m, *coord_terms, *band_weights, *hidden_weights, *hidden_biases, *output_weights, *output_biases)``
    with ``m`` ``(B, n, d)`` and, per level l, ``coord_terms[l] = (h_F)^(l) + b_m^(l)`` ``(b, n, d)`` (b in {1, B})
    and ``band_weights[l] = W_m^(l)`` ``(d, d)``; per level l >= 2, ``W^(l)`` ``(d, d)`` and ``b^(l)`` ``(d,)``;
    per level, ``f_out^(l)``'s ``(d_out, d)`` weight and ``(d_out,)`` bias. Returns ``(B, n, d_out)``: Eq. 9's
    sum over the levels, before the output bias.
    """

    @staticmethod
    def _groups(flat: tuple) -> tuple[int, list[tuple]]:
        """``(L, [coord_terms, band_weights, hidden_weights, hidden_biases, output_weights, output_biases])``."""
        levels = (len(flat) + 2) // 6  # L coordinate terms, L band weights, 2 (L - 1) hidden, 2 L output
        sizes = (levels, levels, levels - 1, levels - 1, levels, levels)
        bounds = list(itertools.accumulate(sizes, initial=0))
        return levels, [tuple(flat[a:b]) for a, b in itertools.pairwise(bounds)]

    @staticmethod
    def forward(ctx, m, *flat):
        levels, (c, band_w, hidden_w, hidden_b, out_w, out_b) = MultiBandModulation._groups(flat)
        batch, n, d = m.shape
        rows = m.reshape(-1, d)
        band, summed, hidden = [], [], []
        h = y = None
        for level in range(levels):
            # m^(l) = ReLU((h_F)^(l) + b_m^(l) + W_m^(l) m)  (Eq. 7): the coordinate term is the accumulator
            m_l = rows.new_empty(rows.shape)
            m_l.view(batch, n, d).copy_(c[level].expand(batch, n, d))
            m_l.addmm_(rows, band_w[level].t()).relu_()
            if level == 0:
                s = h = m_l  # h^(1) = m^(1)
            else:
                s = m_l + h  # h^(l) = ReLU(W^(l) (m^(l) + h^(l-1)) + b^(l))  (Eq. 8)
                h = torch.addmm(hidden_b[level - 1], s, hidden_w[level - 1].t()).relu_()
            band.append(m_l)
            summed.append(s)
            hidden.append(h)
            if y is None:  # sum over levels of f_out^(l)(h^(l))  (Eq. 9)
                y = torch.addmm(out_b[level], h, out_w[level].t())
            else:
                y.addmm_(h, out_w[level].t()).add_(out_b[level])
        ctx.save_for_backward(m, *flat, *band, *summed, *hidden)
        ctx.num_inputs = len(flat)
        return y.view(batch, n, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        saved = ctx.saved_tensors  # unpacked once
        m, flat, acts = saved[0], saved[1 : 1 + ctx.num_inputs], saved[1 + ctx.num_inputs :]
        levels, (c, band_w, hidden_w, _, out_w, _) = MultiBandModulation._groups(flat)
        _, needs = MultiBandModulation._groups(ctx.needs_input_grad[1:])
        band, summed, hidden = acts[:levels], acts[levels : 2 * levels], acts[2 * levels :]
        batch, n, d = m.shape
        rows, g = m.reshape(-1, d), grad_y.reshape(-1, grad_y.shape[-1])
        grads = [[None] * len(group) for group in needs]  # per group, as _groups splits the inputs
        grad_c, grad_band_w, grad_hidden_w, grad_hidden_b, grad_out_w, grad_out_b = grads
        grad_m = carry = None  # carry: the gradient reaching h^(l) from level l + 1
        for level in reversed(range(levels)):
            if needs[5][level]:
                grad_out_b[level] = g.sum(0)
            grad_h = g @ out_w[level] if carry is None else carry.addmm_(g, out_w[level])  # our own buffer
            # f_out^(l)'s weight gradient right after the ReLU's backward has read h^(l): still in the caches
            if level > 0:
                grad_z = _relu_backward_(grad_h, hidden[level])
                if needs[4][level]:
                    grad_out_w[level] = g.t() @ hidden[level]
                if needs[2][level - 1]:
                    grad_hidden_w[level - 1] = grad_z.t() @ summed[level]
                if needs[3][level - 1]:
                    grad_hidden_b[level - 1] = grad_z.sum(0)
                carry = grad_z @ hidden_w[level - 1]  # reaches both m^(l) and h^(l-1)
                grad_a = torch.ops.aten.threshold_backward(carry, band[level], 0)  # carry reaches h^(l-1) too
            else:
                grad_a = _relu_backward_(grad_h, band[0])  # h^(1) = m^(1)
                if needs[4][0]:
                    grad_out_w[0] = g.t() @ hidden[0]
            if needs[0][level]:  # the coordinate term, summed over the batch when it is shared
                per_row = grad_a.view(batch, n, d)
                grad_c[level] = batch_sum(per_row) if c[level].shape[0] == 1 < batch else per_row
            if needs[1][level]:
                grad_band_w[level] = grad_a.t() @ rows
            if ctx.needs_input_grad[0]:
                grad_m = grad_a @ band_w[level] if grad_m is None else grad_m.addmm_(grad_a, band_w[level])
        return (None if grad_m is None else grad_m.view(batch, n, d), *(x for group in grads for x in group))


class _FoldedAttention(NamedTuple):
    """``LocalityAwareINR._prepare``'s state when the output projection W_o is folded into Eq. 7."""

    keys_values: tuple[torch.Tensor, torch.Tensor]
    band_weights: list[torch.Tensor]  # W_m^(l) W_o, (d, d) per level
    band_biases: list[torch.Tensor]  # b_m^(l) + W_m^(l) b_o, (d,) per level


class LocalityAwareINR(GeneralizableINR):
    """Transformer encoder + locality-aware INR decoder.

    The defaults are the paper's 178 x 178 image configuration (App. A.1): 9 px patches with 1 px
    of zero padding (400 tokens), a 6-block, 768-wide encoder with 12 heads, R = 256 latents,
    d = d_f = 256, two attention heads, L = 2 levels with ``(sigma_1, sigma_2) = (128, 32)`` and
    ``sigma_q = 16``. ``LocalityAwareINR.from_preset(name)`` builds the other configurations.

    Args (besides the shared ones of ``GeneralizableINR``: image size, patches, views, ``d_in``,
    ``d_out``, ``num_latents``, the encoder's width, depth, heads and dropout, ``output_bias``):
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
    # Eq. 7-9 through MultiBandModulation, with W_o folded into Eq. 7, where it applies (float32/64, no
    # autocast); False: the module code
    fused_modulation: ClassVar[bool] = True
    # decoder settings per preset (the shared part is in ginr_core.presets)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "celeba-178": _LOCINR_178,
        "ffhq-178": _LOCINR_178,
        "imagenette-178": _LOCINR_178,
        "ffhq-256": _LOCINR_178,
        "ffhq-512": {**_LOCINR_178, "attention_heads": 4},
        # the paper's 48 px patches (16 px of padding per side -> 22 x 22 = 484 tokens) and doubled
        # bandwidths; attention heads at 1024 are not stated: assumed 4, as at 512.
        "ffhq-1024": {"patch_size": 48, "sigmas": (256.0, 64.0), "sigma_q": 32.0, "attention_heads": 4},
        "imagenet-256": {**_LOCINR_178, "attention_heads": 8},
        # d_F = 256 in the paper; with d_in = 6 the reference implementation's Fourier map computes
        # floor(128 / 6) = 21 frequencies per dimension, i.e. 252 features, which is what we use.
        # Attention heads are not stated: assumed 2.
        "shapenet-nvs": {"fourier_dim": 252, "sigmas": (8.0, 4.0), "sigma_q": 2.0, "attention_heads": 2},
        # bandwidths scaled to 32 px (Nyquist: w <= 16)
        "photos-32": {
            "hidden_dim": 128,
            "fourier_dim": 128,
            "num_latents": 32,
            "sigmas": (24.0, 6.0),
            "sigma_q": 3.0,
            "attention_heads": 2,
        },
        # the paper's ray bandwidths, 10 frequencies per ray coordinate
        "scenes-32": {
            "hidden_dim": 128,
            "fourier_dim": 120,
            "num_latents": 32,
            "sigmas": (8.0, 4.0),
            "sigma_q": 2.0,
            "attention_heads": 2,
        },
    }

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
        **shared,
    ):
        super().__init__(**shared)
        d_in, d_out, num_latents = self.d_in, self.d_out, self.num_latents
        d = integer_at_least("hidden_dim", hidden_dim)
        if isinstance(sigmas, (int, float)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
            raise ValueError(f"sigmas must list the bandwidths of L >= 1 levels, e.g. (128, 32); got {sigmas!r}")
        sigmas = tuple(positive_number(f"sigmas[{i}]", s) for i, s in enumerate(sigmas))
        sigma_q = positive_number("sigma_q", sigma_q)
        heads = integer_at_least("attention_heads", attention_heads)
        self.sigmas, self.sigma_q, self.num_levels = sigmas, sigma_q, len(sigmas)
        self.selective_token_aggregation = bool(selective_token_aggregation)
        self.multi_band_modulation = bool(multi_band_modulation)
        self.highest_band = bool(highest_band)
        if self.highest_band and self.multi_band_modulation:
            raise ValueError("highest_band is a reading of the w/o multiFM ablation: set multi_band_modulation=False")

        # Latent tokens z_k in R^d: LayerNorm + Linear on the encoder outputs.
        self.latent_proj = latent_projection(self.encoder_width, d)
        # Query q_v = h_F(v; sigma_q, W_q, b_q)  (Eq. 4).
        self.query_features = FrequencyFeatures(d_in, fourier_dim, sigma_q, d)
        # m_v = MultiHeadAttention(q_v, Z, Z)  (Eq. 5), or IPC's m_v = ReLU(normalize(Z^T V) q_v + b) (w/o STA).
        if self.selective_token_aggregation:
            self.token_aggregation = CrossAttention(d, heads)
        else:
            self.token_aggregation = InstancePatternComposer(num_latents, d, d)
        L = self.num_levels
        if self.multi_band_modulation:
            # (h_F)^(l) = h_F(v; sigma_l, W_F^(l), b_F^(l))  (Eq. 6), one per level.
            self.band_features = nn.ModuleList(FrequencyFeatures(d_in, fourier_dim, s, d) for s in sigmas)
            # W_m^(l), b_m^(l)  (Eq. 7), one per level.
            self.band_modulation = nn.ModuleList(nn.Linear(d, d) for _ in range(L))
            # W^(l), b^(l) for l = 2..L  (Eq. 8).
            self.hidden_layers = nn.ModuleList(nn.Linear(d, d) for _ in range(L - 1))
            # f_out^(l), l = 1..L  (Eq. 9).
            self.output_layers = nn.ModuleList(nn.Linear(d, d_out) for _ in range(L))
        elif self.highest_band:
            # one level of Eq. 6-7 at sigma_1, then L - 1 plain layers
            self.band_features = nn.ModuleList([FrequencyFeatures(d_in, fourier_dim, sigmas[0], d)])
            self.band_modulation = nn.ModuleList([nn.Linear(d, d)])
            self.hidden_layers = nn.ModuleList(nn.Linear(d, d) for _ in range(L - 1))
            self.output_layers = nn.ModuleList([nn.Linear(d, d_out)])
        else:
            self.hidden_layers = nn.ModuleList(nn.Linear(d, d) for _ in range(L))
            self.output_layers = nn.ModuleList([nn.Linear(d, d_out)])

    @property
    def latent_dim(self) -> int:
        return self.latent_proj[1].out_features

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.latent_proj(tokens)

    def _prepare(self, latents: torch.Tensor):
        if not self.selective_token_aggregation:
            return self.token_aggregation.compose(latents)  # IPC's modulated weight, once per instance
        keys_values = self.token_aggregation.prepare(latents)  # keys and values, once per instance
        if not (self.multi_band_modulation and self._fused_modulation_applies(latents)):
            return keys_values
        # m_v = W_o a_v + b_o (the attention's output projection) is read only by Eq. 7's products
        # W_m^(l) m_v, so W_o is folded into them once per decode: W_m^(l) W_o and b_m^(l) + W_m^(l) b_o.
        # The same function and gradients, and per coordinate one (B * n, d, d) product fewer forward and two
        # fewer backward (~4 % of a paper-size training step); the module code keeps W_o apart.
        out_proj = self.token_aggregation.out_proj
        return _FoldedAttention(
            keys_values,
            [modulation.weight @ out_proj.weight for modulation in self.band_modulation],
            [torch.addmv(modulation.bias, modulation.weight, out_proj.bias) for modulation in self.band_modulation],
        )

    def _fused_modulation_applies(self, m: torch.Tensor) -> bool:
        """Whether Eq. 7-9 run as ``MultiBandModulation``: float32/64 weights and activations, no autocast."""
        weight = self.band_modulation[0].weight
        return (
            self.fused_modulation
            and m.dtype == weight.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled(m.device.type)
        )

    def _fused_bands(self, m, coords, band_weights, band_biases) -> torch.Tensor:
        """Eq. 6-9 through ``MultiBandModulation``: ``(B, n, d)`` inputs of Eq. 7's products, with their
        ``(d, d)`` weights and ``(d,)`` biases per level -> ``(B, n, d_out)``."""
        coord_terms = [f(coords) + b for f, b in zip(self.band_features, band_biases)]  # Eq. 6, plus Eq. 7's bias
        y = MultiBandModulation.apply(
            m,
            *coord_terms,
            *band_weights,
            *(layer.weight for layer in self.hidden_layers),
            *(layer.bias for layer in self.hidden_layers),
            *(layer.weight for layer in self.output_layers),
            *(layer.bias for layer in self.output_layers),
        )
        return y + self.output_bias

    def _decode(self, state, coords: torch.Tensor) -> torch.Tensor:
        q = self.query_features(coords)  # q_v, (b, n, d)  (Eq. 3-4)
        if isinstance(state, _FoldedAttention):  # Eq. 5-9 with W_o folded into Eq. 7 (see _prepare)
            a = self.token_aggregation(q, state.keys_values, project=False)  # m_v before W_o, (B, n, d)
            return self._fused_bands(a, coords, state.band_weights, state.band_biases)
        if self.selective_token_aggregation:
            m = self.token_aggregation(q, state)  # m_v, (B, n, d)  (Eq. 5)
        else:
            m = F.relu(self.token_aggregation(q, state))
        if not self.multi_band_modulation:
            h = m
            if self.highest_band:  # ReLU(h_F(v; sigma_1) + W_m m_v + b_m)
                modulation = self.band_modulation[0]
                h = F.relu(F.linear(m, modulation.weight) + (self.band_features[0](coords) + modulation.bias))
            for layer in self.hidden_layers:
                h = F.relu(layer(h))
            with float32_output(h):  # the final layer and the prediction in float32, also under autocast
                return full_linear(self.output_layers[0], h) + self.output_bias

        if self._fused_modulation_applies(m):  # Eq. 6-9 in one function; the module code below is the reference
            modulation = self.band_modulation
            return self._fused_bands(m, coords, [w.weight for w in modulation], [w.bias for w in modulation])

        out, h = None, None
        for level in range(self.num_levels):
            h_f = self.band_features[level](coords)  # (h_F)_v^(l), (b, n, d)  (Eq. 6)
            # m_v^(l) = ReLU((h_F)_v^(l) + W_m^(l) m_v + b_m^(l))  (Eq. 7). The bias joins the coordinate-only
            # term, which is computed once for a shared coordinate set. Out of place: in-place ops on the
            # linear layers' (viewed) outputs cost more in the backward's copies than they save (~2 %).
            modulation = self.band_modulation[level]
            m_l = F.relu(F.linear(m, modulation.weight) + (h_f + modulation.bias))
            if level == 0:
                h = m_l  # h_v^(1) = m_v^(1)
            else:
                h = F.relu(self.hidden_layers[level - 1](m_l + h))  # h_v^(l)  (Eq. 8)
            with float32_output(h):  # the output layers and their sum in float32, also under autocast
                y = full_linear(self.output_layers[level], h)  # f_out^(l)(h_v^(l))
                out = y if out is None else out + y  # sum over levels  (Eq. 9)
        return out + self.output_bias
