"""A ginr model family from another package: an MLP on Fourier features, FiLM-modulated by the mean latent."""

import torch
import torch.nn.functional as F
from torch import nn

from ginr_core import FourierFeatures, GeneralizableINR, register_to_config
from ginr_core.presets import family_presets


class MeanFiLMINR(GeneralizableINR):
    """``y = W_out ReLU((1 + a) * (W gamma(v)) + b) + 0.5`` with ``(a, b)`` from the mean of the latents."""

    family = "mean-film"  # registers the family: apps/train.py --model mean-film
    # complete configurations: a preset's shared settings (ginr_core.presets), then this family's own
    presets = family_presets({"photos-32": {"hidden_dim": 64, "sigma": 16.0}})

    @register_to_config  # the arguments below are the saved config.json
    def __init__(
        self,
        *,
        hidden_dim: int = 64,
        fourier_dim: int = 64,
        sigma: float = 16.0,
        image_size: int = 32,
        patch_size: int = 4,
        padding: int | None = None,
        in_channels: int = 3,
        num_views: int = 1,
        d_in: int = 2,
        d_out: int = 3,
        num_latents: int = 16,
        encoder_width: int = 64,
        encoder_depth: int = 2,
        encoder_heads: int = 4,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        output_bias: float = 0.5,
    ):
        super().__init__(  # checks the shared settings, builds the shared Transformer encoder
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
        self.fourier = FourierFeatures(self.d_in, fourier_dim, sigma)
        self.latent_proj = nn.Linear(self.encoder_width, 2 * hidden_dim)
        self.hidden = nn.Linear(fourier_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, self.d_out)

    @property
    def latent_dim(self) -> int:
        return self.latent_proj.out_features

    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.latent_proj(tokens)  # (B, R, E) -> (B, R, 2 d)

    def _prepare(self, latents: torch.Tensor):
        return latents.mean(dim=1, keepdim=True).chunk(2, dim=-1)  # FiLM scale and shift, (B, 1, d) each

    def _decode(self, state, coords: torch.Tensor) -> torch.Tensor:
        scale, shift = state
        h = F.relu(self.hidden(self.fourier(coords)) * (1 + scale) + shift)  # (B, n, d)
        return self.out(h) + self.output_bias
