"""The latent denoiser: a Transformer over the R latent tokens of an INR (Sec. 4.4, App. A.3).

Latent tokens have no 2D layout (the locality-aware encoder decides what each token means), so the
denoiser is a plain stack of self-attention blocks over the R tokens with a learned position
embedding per token slot. The timestep and the optional class label are turned into one shared
conditioning vector ``c = emb(t) + emb(y)``; each block reads ``c`` through its own adaptive
LayerNorm (scale, shift and a zero-initialised gate per sub-layer, as in DiT's adaLN-Zero). The
class is replaced by a learned null label with probability ``class_dropout`` during training, which
classifier-free guidance needs. The network predicts the clean standardised latents (x0).

The standardisation statistics (per token, per channel) live in the model as buffers, so they are
saved and loaded with it: ``standardize`` before diffusion, ``destandardize`` before decoding.

Shapes: B batch, R latent tokens, D latent width, W denoiser width.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

from .convert import check_no_pickles, safetensors_only

__all__ = ["DENOISER_PRESETS", "LatentDenoiser", "x0_loss"]

DENOISER_PRESETS = {
    # App. A.3: 24 blocks of width 1024 with 16 heads (~458 M parameters with R = 256, D = 256)
    "paper": {"width": 1024, "depth": 24, "heads": 16},
    # a CPU-sized prior for the embedded default
    "tiny": {"width": 128, "depth": 4, "heads": 4},
}


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DenoiserBlock(nn.Module):
    """Pre-norm self-attention + MLP, each with adaptive LayerNorm and a gate from the condition."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be divisible by heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = round(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.modulation[1].weight)  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=-1)
        batch, tokens, width = x.shape
        h = _modulate(self.norm1(x), shift1, scale1)
        q, k, v = self.qkv(h).view(batch, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, width)
        x = x + gate1[:, None] * self.proj(attn)
        return x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class LatentDenoiser(ModelMixin, ConfigMixin):
    """x0-predicting Transformer over ``(B, R, D)`` standardised latent tokens.

    Args:
        num_latents: R, latent tokens per instance (the INR's ``num_latents``).
        latent_dim: D, their width (the INR's latent width).
        width: width of the Transformer (see ``DENOISER_PRESETS``).
        depth: its number of blocks.
        heads: its attention heads.
        mlp_ratio: its MLP width over ``width``.
        num_classes: class labels 0..num_classes-1 (0: unconditional); label ``num_classes`` is
            the null label of classifier-free guidance.
        class_dropout: probability of replacing a label by the null label in training.
    """

    @register_to_config
    def __init__(
        self,
        num_latents: int = 256,
        latent_dim: int = 256,
        width: int = 1024,
        depth: int = 24,
        heads: int = 16,
        mlp_ratio: float = 4.0,
        num_classes: int = 0,
        class_dropout: float = 0.1,
    ):
        super().__init__()
        if not 0.0 <= class_dropout < 1.0:
            raise ValueError(f"class_dropout must be in [0, 1), got {class_dropout!r}")
        self.input = nn.Linear(latent_dim, width)
        self.position = nn.Parameter(torch.randn(num_latents, width) * 0.02)
        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(width, width)
        self.class_embedding = nn.Embedding(num_classes + 1, width) if num_classes else None
        self.blocks = nn.ModuleList(DenoiserBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.output = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.final_modulation[1].weight)
        nn.init.zeros_(self.final_modulation[1].bias)
        # standardisation of the latents (Sec. 4.4): per token and channel, fitted on the training set
        self.register_buffer("latent_mean", torch.zeros(num_latents, latent_dim))
        self.register_buffer("latent_std", torch.ones(num_latents, latent_dim))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """``ModelMixin.from_pretrained`` from safetensors only: a pickled ``diffusion_pytorch_model.bin`` is
        refused with the command that converts it (``ginr_diffusion.convert``), never unpickled."""
        safetensors_only(kwargs)
        folder = os.path.join(os.fspath(pretrained_model_name_or_path), kwargs.get("subfolder") or "")
        if os.path.isdir(folder):
            check_no_pickles(folder)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # ------------------------------------------------------------------ standardisation
    def set_latent_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training set's per-token, per-channel mean and std ``(R, D)`` (see ``LatentStatistics``)."""
        shape = tuple(self.latent_mean.shape)
        if tuple(mean.shape) != shape or tuple(std.shape) != shape:
            raise ValueError(f"latent statistics must be {shape}, got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not (std > 0).all():
            raise ValueError("latent standard deviations must be positive")
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std)

    def standardize(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.latent_mean) / self.latent_std

    def destandardize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.latent_std + self.latent_mean

    # ------------------------------------------------------------------ the network
    @property
    def null_label(self) -> int:
        return self.config.num_classes

    def condition(self, timestep: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        """The shared conditioning vector ``(B, W)`` from timesteps ``(B,)`` and labels ``(B,)``."""
        c = self.time_embedding(self.time_proj(timestep).to(self.input.weight.dtype))
        if self.class_embedding is not None:
            if class_labels is None:
                class_labels = torch.full_like(timestep, self.null_label, dtype=torch.long)
            c = c + self.class_embedding(class_labels)
        elif class_labels is not None:
            raise ValueError("this denoiser is unconditional (num_classes=0) but class_labels were given")
        return c

    def drop_labels(self, class_labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training-time label dropout for classifier-free guidance: each label -> null with p = class_dropout."""
        drop = torch.rand(class_labels.shape, generator=generator, device="cpu").to(class_labels.device)
        return torch.where(
            drop < self.config.class_dropout, torch.full_like(class_labels, self.null_label), class_labels
        )

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, R, D)`` noisy standardised latents, timesteps, labels -> predicted clean latents ``(B, R, D)``."""
        batch = sample.shape[0]
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(batch)
        c = self.condition(timestep, class_labels)
        x = self.input(sample) + self.position
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.final_modulation(c).chunk(2, dim=-1)
        return self.output(_modulate(self.final_norm(x), shift, scale))

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> LatentDenoiser:
        if name not in DENOISER_PRESETS:
            raise ValueError(f"unknown denoiser preset {name!r}; available: {', '.join(DENOISER_PRESETS)}")
        return cls(**{**DENOISER_PRESETS[name], **kwargs})


def x0_loss(denoiser, scheduler, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, class_labels=None):
    """The prior's training objective (x0 prediction, Sec. 4.4): the mean squared error, in float32, between the
    clean standardised latents ``x0`` ``(B, R, D)`` and the denoiser's prediction from
    ``scheduler.add_noise(x0, noise, timesteps)``."""
    x_t = scheduler.add_noise(x0, noise, timesteps)
    return F.mse_loss(denoiser(x_t, timesteps, class_labels).float(), x0)
