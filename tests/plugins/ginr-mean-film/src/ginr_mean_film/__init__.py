"""A ginr model family from another package: an MLP on Fourier features, FiLM-modulated by the mean latent."""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ginr_core import FourierFeatures, GeneralizableINR


class MeanFiLMINR(GeneralizableINR):
    """``y = W_out ReLU((1 + a) * (W gamma(v)) + b) + 0.5`` with ``(a, b)`` from the mean of the latents."""

    family = "mean-film"  # registers the family: apps/train.py --model mean-film
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "photos-32": {"hidden_dim": 64, "sigma": 16.0}
    }  # over the shared part of each preset
    shared_defaults: ClassVar[dict[str, Any]] = {  # this family's defaults for the shared encoder settings
        "image_size": 32,
        "patch_size": 4,
        "num_latents": 16,
        "encoder_width": 64,
        "encoder_depth": 2,
        "encoder_heads": 4,
        "dropout": 0.0,
    }

    def __init__(self, *, hidden_dim: int = 64, fourier_dim: int = 64, sigma: float = 16.0, **shared):
        super().__init__(**shared)  # checks the shared settings, builds the shared Transformer encoder
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
