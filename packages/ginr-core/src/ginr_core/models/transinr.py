"""TransINR, the Transformer meta-learner baseline (Chen & Wang, ECCV 2022), as run by ginr-ipc.

Every layer of the 5-layer ReLU MLP is modulated: layer l owns ``g_l = min(tokens_per_layer,
fan_out)`` latent tokens; after LayerNorm and a linear map to the layer's fan-in they form a
``(fan_in, g_l)`` matrix that is tiled over the fan-out (output unit j uses token ``j mod g_l``),
multiplies the shared base weight element-wise, and the product is L2-normalised per output unit
over its fan-in. Biases are shared; the output is ``MLP(v) + 0.5``. With the image settings
(64 tokens per layer, four 256-wide layers and a 3-wide output) R = 4 * 64 + 3 = 259.

The latents of this model are the raw encoder outputs ``(B, R, encoder_width)``: each layer
normalises and projects its own share of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import integer_at_least, positive_number
from ..coords import FourierFeatures
from ..presets import BASELINE_PRESETS, transinr_presets
from .base import GeneralizableINR, float32_output, full, register_to_config
from .encoder import latent_projection
from .ipc import IPC, ModulatedLinear, baseline_init_

__all__ = ["TokenModulatedLinear", "TransINR"]


class TokenModulatedLinear(ModulatedLinear):
    """TransINR's layer: ``W = normalize(W_base * tile(x))`` with ``x`` from this layer's tokens."""

    def __init__(self, width: int, groups: int, fan_in: int, fan_out: int):
        super().__init__()
        if fan_out % groups:
            raise ValueError(f"TransINR: a layer with {fan_out} outputs cannot be tiled by {groups} tokens")
        self.groups = groups
        self.token_proj = latent_projection(width, fan_in)
        self.weight = nn.Parameter(baseline_init_(torch.empty(fan_out, fan_in)))
        self.bias = nn.Parameter(torch.zeros(fan_out))

    def compose(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, g, E)`` tokens -> ``(B, fan_in, fan_out)`` weight."""
        batch = tokens.shape[0]
        fan_out, fan_in = self.weight.shape
        x = self.token_proj(tokens).transpose(1, 2)  # (B, fan_in, g)
        base = self.weight.t().to(x.dtype).reshape(fan_in, fan_out // self.groups, self.groups)
        weight = (base * x.unsqueeze(2)).reshape(batch, fan_in, fan_out)  # output j uses token j % g
        return F.normalize(weight, dim=1)


class TransINR(GeneralizableINR):
    """Generalizable INR with TransINR's all-layer weight modulation (baseline).

    Its encoder and decoder settings are those of ``IPC``; what differs:

    Args:
        tokens_per_layer: latent tokens per modulated layer (ginr-ipc image configs: 64); a layer
            with fewer outputs gets one token per output.
        num_latents: R is derived from ``tokens_per_layer`` and the layer widths; pass ``None``
            (or the derived value) here.
    """

    family = "transinr"
    presets = transinr_presets(BASELINE_PRESETS)

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 256,
        sigma: float = 64.0,
        num_layers: int = 5,
        tokens_per_layer: int = 64,
        tokenizer: str = "patches",
        image_size: int | tuple[int, int] = 178,
        patch_size: int = 9,
        padding: int | None = None,
        in_channels: int = 3,
        num_views: int = 1,
        d_in: int = 2,
        d_out: int = 3,
        num_latents: int | None = None,
        encoder_width: int = 768,
        encoder_depth: int = 6,
        encoder_heads: int = 12,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        output_bias: float = 0.5,
    ):
        point_dim, raw_dim, scale = self._mlp_io(d_in, d_out)
        hidden_dim = integer_at_least("hidden_dim", hidden_dim)
        tokens_per_layer = integer_at_least("tokens_per_layer", tokens_per_layer)
        integer_at_least("num_layers", num_layers, minimum=2)
        dims = [fourier_dim] + [hidden_dim] * (num_layers - 1) + [raw_dim]
        groups = [min(tokens_per_layer, fan_out) for fan_out in dims[1:]]
        if num_latents is not None and num_latents != sum(groups):
            raise ValueError(
                f"TransINR derives R from tokens_per_layer={tokens_per_layer}: {groups} tokens for its {num_layers} "
                f"layers, R = {sum(groups)}; got num_latents={num_latents!r} (pass None)"
            )
        super().__init__(
            tokenizer=tokenizer,
            image_size=image_size,
            patch_size=patch_size,
            padding=padding,
            in_channels=in_channels,
            num_views=num_views,
            d_in=d_in,
            d_out=d_out,
            num_latents=sum(groups),
            encoder_width=encoder_width,
            encoder_depth=encoder_depth,
            encoder_heads=encoder_heads,
            encoder_mlp_ratio=encoder_mlp_ratio,
            dropout=dropout,
            output_bias=output_bias,
        )
        self.fourier_features = FourierFeatures(point_dim, fourier_dim, positive_number("sigma", sigma), scale)
        encoder_width = self.encoder_width
        self.layers = nn.ModuleList(
            TokenModulatedLinear(encoder_width, g, dims[i], dims[i + 1]) for i, g in enumerate(groups)
        )

    _mlp_io = staticmethod(IPC._mlp_io)  # the same hook: coordinates -> outputs, or points -> colour and density

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_tokens.shape[1]

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens

    def _prepare(self, latents: torch.Tensor) -> list[torch.Tensor]:
        weights, start = [], 0
        for layer in self.layers:
            weights.append(layer.compose(latents[:, start : start + layer.groups]))
            start += layer.groups
        return weights

    def _decode(self, weights: list[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        h = self.fourier_features(coords)
        for layer, weight in zip(self.layers[:-1], weights[:-1]):
            h = F.relu(layer(h, weight))
        with float32_output(h):  # the final layer and the prediction in float32, also under autocast
            return self.layers[-1](full(h), full(weights[-1])) + self.output_bias
