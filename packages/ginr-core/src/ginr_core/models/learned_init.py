"""Learned Init (Tancik et al., CVPR 2021), the optimisation-based baseline of Table 1.

No encoder: an instance is "encoded" by a few gradient steps on its own pixels, starting from a
meta-learned initialisation of a Fourier-feature MLP. The decoder is a 5-layer ReLU MLP on Fourier
features whose weights are all adapted per instance; every weight is L2-normalised per output unit
over its fan-in, biases are shared (learned in the outer loop only), and the output is
``MLP(v) + output_bias``. As in the official configurations (kakaobrain/ginr-ipc,
``configs/meta_learning/learned_init``): 2 inner steps of SGD at lr 3e-3 (FFHQ 256: 1e-3) on the
per-image MSE, each step scaled by the squared Frobenius norm of the weight it updates (the weights
are normalised, so a step's effect would otherwise shrink as they grow), all layers adapted.

Training goes through the inner loop: ``encode`` in training mode keeps the graph of the inner
steps (second order), so the outer Adam step moves the initialisation towards one from which two
steps fit an unseen image well. In evaluation the inner steps are first order (no graph kept).

The adapted weights are this family's latents: ``(B, 1, P)``, every layer's ``(fan_in, fan_out)``
weight flattened in turn (``P`` = the number of adapted weights), so that ``decode`` and the rest
of the ``GeneralizableINR`` API work as for the other families.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import integer_at_least, positive_number
from ..coords import FourierFeatures, pixel_targets
from ..presets import LEARNED_INIT_PRESETS
from .base import GeneralizableINR, float32_output, full, instance_linear, register_to_config

__all__ = ["LearnedInit"]


class LearnedInit(GeneralizableINR):
    """A meta-learned initialisation of a Fourier-feature MLP, adapted per image by a few gradient steps.

    Args (besides the shared ones, see ``ginr_core.models.base``; the encoder settings are unused, and
    ``num_latents`` is 1: the latents are the adapted weights):
        hidden_dim: MLP width (256).
        fourier_dim: Fourier feature dimensionality d_F (256: 128 frequencies' cosines and sines).
        sigma: Fourier bandwidth (official: 128; FFHQ 256: 64).
        num_layers: MLP layers including the output layer (5).
        inner_steps: gradient steps per instance (official: 2).
        inner_lr: their learning rate (official: 3e-3; FFHQ 256: 1e-3).
        inner_chunk_size: pixels per chunk of the inner-loop gradient (None: all at once). Bounds
            the memory of evaluation; in training the graph of every chunk is kept (second order).
    """

    family = "learned_init"
    uses_encoder = False
    presets = LEARNED_INIT_PRESETS

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 256,
        sigma: float = 128.0,
        num_layers: int = 5,
        inner_steps: int = 2,
        inner_lr: float = 3e-3,
        inner_chunk_size: int | None = None,
        tokenizer: str = "patches",
        image_size: int | tuple[int, int] = 178,
        patch_size: int = 9,
        padding: int | None = None,
        in_channels: int = 3,
        num_views: int = 1,
        d_in: int = 2,
        d_out: int = 3,
        num_latents: int = 1,
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
        if self.d_in != 2 or self.num_views != 1:
            raise ValueError(
                f"LearnedInit models images (d_in=2, num_views=1), got d_in={self.d_in}, num_views={self.num_views}"
            )
        if self.num_latents != 1:
            raise ValueError(
                f"LearnedInit: its latents are the adapted weights (num_latents=1), got {self.num_latents}"
            )
        hidden_dim = integer_at_least("hidden_dim", hidden_dim)
        integer_at_least("num_layers", num_layers, minimum=2)
        self.inner_steps = integer_at_least("inner_steps", inner_steps, minimum=0)
        self.inner_lr = positive_number("inner_lr", inner_lr)
        self.inner_chunk_size = (
            None if inner_chunk_size is None else integer_at_least("inner_chunk_size", inner_chunk_size)
        )
        self.fourier_features = FourierFeatures(self.d_in, fourier_dim, positive_number("sigma", sigma))
        dims = [fourier_dim] + [hidden_dim] * (num_layers - 1) + [self.d_out]
        self.shapes = list(itertools.pairwise(dims))
        # the meta-learned initialisation of every (fan_in, fan_out) weight, drawn as the official code does
        self.init_weights = nn.ParameterList(
            nn.Parameter(torch.randn(fan_in, fan_out) / math.sqrt(fan_in)) for fan_in, fan_out in self.shapes
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(fan_out)) for _, fan_out in self.shapes)

    @property
    def latent_dim(self) -> int:
        """P, the number of adapted weights."""
        return sum(fan_in * fan_out for fan_in, fan_out in self.shapes)

    @property
    def num_patches(self) -> int:
        raise AttributeError("LearnedInit has no encoder, hence no patches")

    # ------------------------------------------------------------------ the MLP on given weights
    def _mlp(self, features: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        """``(b, N, d_F)`` features through the MLP with per-instance weights ``(B, fan_in, fan_out)``."""
        h = features
        for w, bias in zip(weights[:-1], self.biases[:-1]):
            h = F.relu(instance_linear(h, F.normalize(w, dim=1), bias))  # unit-norm weights over each fan-in
        with float32_output(h):  # the final layer and the prediction in float32, also under autocast
            h = instance_linear(full(h), F.normalize(full(weights[-1]), dim=1), full(self.biases[-1]))
        return h + self.output_bias

    def _features(self, coords: torch.Tensor) -> torch.Tensor:
        return self.fourier_features(coords.float()).to(self.init_weights[0].dtype)

    # ------------------------------------------------------------------ encode: the inner loop
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> adapted weights ``(B, 1, P)``: ``inner_steps`` SGD steps on each
        image's MSE over its full pixel grid from the learned initialisation (second order while
        training with gradients enabled, first order otherwise)."""
        x = self.tokenizer_class.check(x, self)
        if x.shape[1] != 1:
            raise ValueError("LearnedInit encodes single images, not several views")
        images = x[:, 0].to(self.init_weights[0].dtype)
        batch = images.shape[0]
        coords, targets = pixel_targets(images)  # (1, N, 2), (B, N, C)
        features = self._features(coords)
        second_order = self.training and torch.is_grad_enabled()
        weights = [w.expand(batch, *w.shape) for w in self.init_weights]
        with torch.enable_grad():
            if not second_order:
                weights = [w.detach().requires_grad_(True) for w in weights]
            for _ in range(self.inner_steps):
                grads = self._inner_gradient(features, targets, weights, second_order)
                # SGD on each instance's own MSE, each step scaled by ||W||_F^2 of the weight it moves
                weights = [
                    w - self.inner_lr * w.pow(2).sum(dim=(1, 2), keepdim=True) * g for w, g in zip(weights, grads)
                ]
        if not second_order:
            weights = [w.detach() for w in weights]
        return torch.cat([w.flatten(1) for w in weights], dim=1).unsqueeze(1)

    def _inner_gradient(self, features, targets, weights, create_graph: bool) -> list[torch.Tensor]:
        """Gradient of ``sum_b MSE_b`` (each instance's mean over its pixels and channels), by chunks of pixels."""
        num = targets.shape[1]
        chunk = self.inner_chunk_size or num
        total = None
        for start in range(0, num, chunk):
            prediction = self._mlp(features[:, start : start + chunk], weights)
            error = (prediction - targets[:, start : start + chunk]).pow(2).sum(dim=(1, 2)) / (num * targets.shape[2])
            grads = torch.autograd.grad(error.sum(), weights, create_graph=create_graph)
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
        return list(total)

    # ------------------------------------------------------------------ decode
    def _prepare(self, latents: torch.Tensor) -> list[torch.Tensor]:
        flat, weights, start = latents[:, 0], [], 0
        for fan_in, fan_out in self.shapes:
            weights.append(flat[:, start : start + fan_in * fan_out].view(-1, fan_in, fan_out))
            start += fan_in * fan_out
        return weights

    def _decode(self, weights: list[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        return self._mlp(self._features(coords), weights)
