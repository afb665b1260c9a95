"""Instance Pattern Composers (IPC), the baseline the paper builds on (Kim et al., CVPR 2023).

The decoder is a 5-layer ReLU MLP on Fourier features whose second layer (index 1) is
instance-specific: its weight is the low-rank product ``U V`` of a matrix ``U`` (fan_in x R) whose
column r is latent token r and a learned factor ``V`` (R x fan_out) shared by all instances. Every
weight, modulated or not, is L2-normalised per output unit over its fan-in; biases are shared; the
output is ``MLP(v) + 0.5`` with no squashing. These are the conventions of the official code
(kakaobrain/ginr-ipc), so that this baseline is the baseline the paper beat.

Because every token touches every column of the composed weight, IPC's latents carry global
information: permuting the tokens changes the output (contrast ``LocalityAwareINR``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import integer_at_least, positive_number
from ..coords import FourierFeatures
from ..presets import BASELINE_PRESETS
from .base import GeneralizableINR, float32_output, full, instance_linear, register_to_config
from .encoder import latent_projection

__all__ = [
    "IPC",
    "InstancePatternComposer",
    "ModulatedLinear",
    "NormalizedLinear",
    "baseline_init_",
]


def baseline_init_(weight: torch.Tensor) -> torch.Tensor:
    """Draw a ``(fan_out, fan_in)`` weight as the official baselines do: ``U(-b, b)`` with ``b = 1/sqrt(fan_out)``.

    ginr-ipc stores its weights as ``(fan_in, fan_out)`` and calls ``kaiming_uniform_(a=sqrt(5))``
    on them, which reads ``fan_out`` as the fan-in (``b = sqrt(6 / (1 + 5) / fan_out)``). The
    weights are normalised per output unit, so the scale does not change the function, but Adam's
    steps are the same size whatever the scale: it sets how fast the directions move.
    """
    bound = 1.0 / math.sqrt(weight.shape[0])
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


class NormalizedLinear(nn.Module):
    """A shared layer whose weight rows (one per output unit) are L2-normalised over the fan-in."""

    def __init__(self, fan_in: int, fan_out: int):
        super().__init__()
        self.weight = nn.Parameter(baseline_init_(torch.empty(fan_out, fan_in)))
        self.bias = nn.Parameter(torch.zeros(fan_out))

    def normalized_weight(self) -> torch.Tensor:
        """The ``(fan_out, fan_in)`` weight with unit rows."""
        return F.normalize(self.weight, dim=1)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., fan_in) -> (..., fan_out)``; ``weight``: ``normalized_weight()`` computed beforehand."""
        weight = self.normalized_weight() if weight is None else weight
        return F.linear(x.to(weight.dtype), weight, self.bias.to(weight.dtype))


class ModulatedLinear(nn.Module):
    """A layer whose weight is composed per instance (``compose``) and applied to its coordinates.

    ``compose(tokens) -> (B, fan_in, fan_out)``, normalised over the fan-in; ``forward(h, weight)``
    maps ``(b, n, fan_in)`` to ``(B, n, fan_out)`` with a shared bias (b is B, or 1 for a coordinate
    set shared by the batch).
    """

    bias: nn.Parameter

    def compose(self, tokens: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return instance_linear(h, weight, self.bias)


class InstancePatternComposer(ModulatedLinear):
    """IPC's instance-specific layer: ``W = normalize(U V)``.

    Args:
        rank: R, the number of latent tokens (columns of U, rows of V).
        fan_in: width of U's columns, i.e. of each latent token.
        fan_out: output units.
    """

    def __init__(self, rank: int, fan_in: int, fan_out: int):
        super().__init__()
        self.shared_factor = nn.Parameter(torch.randn(rank, fan_out) / math.sqrt(rank * fan_in))  # V
        self.bias = nn.Parameter(torch.zeros(fan_out))

    def compose(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, R, fan_in)`` latents (token r = column r of U) -> ``(B, fan_in, fan_out)``."""
        weight = tokens.transpose(1, 2) @ self.shared_factor.to(tokens.dtype)
        return F.normalize(weight, dim=1)


class IPC(GeneralizableINR):
    """Generalizable INR with Instance Pattern Composers (the IPC baseline).

    Shares the Transformer encoder of ``LocalityAwareINR``; the R latent tokens, after LayerNorm and
    a linear map to the modulated layer's fan-in, are the columns of U.

    Args (besides the shared ones, see ``ginr_core.models.base``; ``num_latents`` is R, the rank of the
    composed weight):
        hidden_dim: MLP width (256).
        fourier_dim: Fourier feature dimensionality (256).
        sigma: Fourier bandwidth (official: 64 for CelebA/FFHQ 178, 128 for ImageNette 178 and
            FFHQ 512, 256 for FFHQ 1024).
        num_layers: MLP layers including the output layer (5).
        modulated_layer: index of the instance-specific layer (1).
    """

    family = "ipc"
    presets = BASELINE_PRESETS

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 256,
        sigma: float = 64.0,
        num_layers: int = 5,
        modulated_layer: int = 1,
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
        d_in, d_out, num_latents = self.d_in, self.d_out, self.num_latents
        hidden_dim = integer_at_least("hidden_dim", hidden_dim)
        integer_at_least("num_layers", num_layers, minimum=2)
        if integer_at_least("modulated_layer", modulated_layer, minimum=0) >= num_layers:
            raise ValueError(f"modulated_layer must be a layer index in [0, {num_layers - 1}], got {modulated_layer!r}")
        point_dim, raw_dim, scale = self._mlp_io(d_in, d_out)
        self.fourier_features = FourierFeatures(point_dim, fourier_dim, positive_number("sigma", sigma), scale)
        dims = [fourier_dim] + [hidden_dim] * (num_layers - 1) + [raw_dim]
        self.modulated_layer = modulated_layer
        self.latent_proj = latent_projection(self.encoder_width, dims[modulated_layer])
        self.layers = nn.ModuleList(
            InstancePatternComposer(num_latents, dims[i], dims[i + 1])
            if i == modulated_layer
            else NormalizedLinear(dims[i], dims[i + 1])
            for i in range(num_layers)
        )

    @staticmethod
    def _mlp_io(d_in: int, d_out: int) -> tuple[int, int, float]:
        """What the MLP maps: ``(input dim, output dim, Fourier angle scale)``. Here the model's
        coordinates to its outputs; a volume-rendering variant (``nerf.py``) maps 3-D points to
        colour and density."""
        return d_in, d_out, math.pi

    @property
    def latent_dim(self) -> int:
        return self.latent_proj[1].out_features

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.latent_proj(tokens)

    def _prepare(self, latents: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's weight for this decode: the instance's composed one ``(B, fan_in, fan_out)`` and the
        shared layers' normalised ones ``(fan_out, fan_in)``, computed once rather than once per chunk."""
        return [
            layer.compose(latents) if i == self.modulated_layer else layer.normalized_weight()
            for i, layer in enumerate(self.layers)
        ]

    def _decode(self, weights: list[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        h = self.fourier_features(coords)
        for layer, weight in zip(self.layers[:-1], weights[:-1]):
            h = F.relu(layer(h, weight))
        with float32_output(h):  # the final layer and the prediction in float32, also under autocast
            h = self.layers[-1](full(h), full(weights[-1]))
        return h + self.output_bias
