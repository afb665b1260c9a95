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

from ..coords import FourierFeatures
from .base import GeneralizableINR, _int_at_least, _positive_float
from .encoder import latent_projection

__all__ = ["IPC", "InstancePatternComposer", "ModulatedLinear", "NormalizedLinear"]


class NormalizedLinear(nn.Module):
    """A shared layer whose weight rows (one per output unit) are L2-normalised over the fan-in."""

    def __init__(self, fan_in: int, fan_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(self.weight.dtype), F.normalize(self.weight, dim=1), self.bias)


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
        return torch.matmul(h.to(weight.dtype), weight) + self.bias


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

    Args:
        image_size: input size (see ``LocalityAwareINR`` for this and the other encoder inputs).
        patch_size: patch side in pixels.
        padding: zero padding around the image before patchifying.
        in_channels: channels per input view.
        num_views: input views (light fields: support views).
        d_in: coordinate dimensionality.
        d_out: output dimensionality.
        num_latents: R, the rank of the composed weight.
        hidden_dim: MLP width (256).
        fourier_dim: Fourier feature dimensionality (256).
        sigma: Fourier bandwidth (official: 64 for CelebA/FFHQ 178, 128 for ImageNette 178 and
            FFHQ 512, 256 for FFHQ 1024).
        num_layers: MLP layers including the output layer (5).
        modulated_layer: index of the instance-specific layer (1).
        encoder_width: width of the Transformer encoder.
        encoder_depth: its number of blocks.
        encoder_heads: its attention heads.
        encoder_mlp_ratio: its MLP width over ``encoder_width``.
        dropout: residual dropout in the encoder.
        output_bias: constant added to the output (0.5 for pixels in [0, 1]).
    """

    family = "ipc"

    def __init__(
        self,
        image_size: int | tuple[int, int] = 178,
        patch_size: int = 9,
        padding: int | None = None,
        in_channels: int = 3,
        num_views: int = 1,
        d_in: int = 2,
        d_out: int = 3,
        num_latents: int = 256,
        hidden_dim: int = 256,
        fourier_dim: int = 256,
        sigma: float = 64.0,
        num_layers: int = 5,
        modulated_layer: int = 1,
        encoder_width: int = 768,
        encoder_depth: int = 6,
        encoder_heads: int = 12,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        output_bias: float = 0.5,
    ):
        super().__init__()
        self._build_encoder(
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
        hidden_dim = _int_at_least("hidden_dim", hidden_dim)
        _int_at_least("num_layers", num_layers, minimum=2)
        if _int_at_least("modulated_layer", modulated_layer, minimum=0) >= num_layers:
            raise ValueError(f"modulated_layer must be a layer index in [0, {num_layers - 1}], got {modulated_layer!r}")
        self.fourier_features = FourierFeatures(d_in, fourier_dim, _positive_float("sigma", sigma))
        dims = [fourier_dim] + [hidden_dim] * (num_layers - 1) + [d_out]
        self.modulated_layer = modulated_layer
        self.latent_proj = latent_projection(encoder_width, dims[modulated_layer])
        self.layers = nn.ModuleList(
            InstancePatternComposer(num_latents, dims[i], dims[i + 1])
            if i == modulated_layer
            else NormalizedLinear(dims[i], dims[i + 1])
            for i in range(num_layers)
        )

    @property
    def latent_dim(self) -> int:
        return self.latent_proj[1].out_features

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.latent_proj(tokens)

    def _prepare(self, latents: torch.Tensor) -> torch.Tensor:
        return self.layers[self.modulated_layer].compose(latents)

    def _decode(self, weight: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        h = self.fourier_features(coords)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h, weight) if i == self.modulated_layer else layer(h)
            if i < last:
                h = F.relu(h, inplace=True)
        return h + self.output_bias
