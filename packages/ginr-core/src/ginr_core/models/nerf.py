"""The NeRF-style IPC and TransINR of the paper's novel-view comparison (Fig. 4a).

The paper compares its light-field model (the colour of a ray predicted directly from its Plücker
coordinates) with the official novel-view baselines of ginr-ipc, which are NeRFs: the
Transformer encoder reads each support view as RGB plus the origin and direction of every pixel's
ray; the instance's MLP (IPC's or TransINR's weight modulation, unchanged) maps a 3-D point's
Fourier features to a colour and a density; and the colour of a query ray is the alpha composite
of ``points_per_ray`` points between ``near`` and ``far`` (``ginr_core.volume``), jittered within
their intervals in training. Per query ray this costs ``points_per_ray`` MLP evaluations where
the light-field decoder needs one.

Coordinates are rays as ``(origin, direction)`` (``ray_format = "origin_direction"``: the camera
centre and the unnormalised direction whose camera-frame depth is 1, so ``z`` is the depth along
the camera axis), ``d_in = 6``; outputs are colours, ``d_out = 3``. The official settings
(``configs/nvs/{low_rank_transinr_nerf,transinr_nerf}``): 128 points from depth 2 to 6, a 6-layer
width-256 MLP on ``[cos, sin]`` of ``2^linspace(0, 8, 20)`` times each coordinate (120 features,
no factor pi), output bias 0; IPC modulates layer 1 at rank 256, TransINR every layer with 32
tokens each (the 4-wide output layer gets 4): R = 164.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..checks import integer_at_least
from ..presets import NERF_PRESETS, transinr_presets
from ..volume import composite, ray_depths, ray_points
from .base import register_to_config
from .ipc import IPC
from .transinr import TransINR

__all__ = ["NeRFIPC", "NeRFTransINR", "VolumeRendering"]


def _depth_bounds(near: Any, far: Any) -> tuple[float, float]:
    for name, value in (("near", near), ("far", far)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite depth >= 0, got {value!r}")
    if not near < far:
        raise ValueError(f"near must be smaller than far, got near={near!r}, far={far!r}")
    return float(near), float(far)


class VolumeRendering:
    """Mixin that turns IPC or TransINR into a NeRF: put it first in the bases.

    It evaluates the family's MLP at ``points_per_ray`` points of every ray and composites them
    (``_decode``), and makes that MLP map 3-D points to colour and density (``_mlp_io``).
    """

    ray_format: ClassVar[str] = "origin_direction"
    near: float
    far: float
    points_per_ray: int

    def _setup_rendering(self, near: float, far: float, points_per_ray: int) -> None:
        name = type(self).__name__
        if (self.d_in, self.d_out) != (6, 3):
            raise ValueError(
                f"{name} renders rays (origin, direction) to colours: d_in=6 and d_out=3, got d_in={self.d_in}, "
                f"d_out={self.d_out}"
            )
        self.near, self.far = _depth_bounds(near, far)
        self.points_per_ray = integer_at_least("points_per_ray", points_per_ray, minimum=2)

    @staticmethod
    def _mlp_io(d_in: int, d_out: int) -> tuple[int, int, float]:
        return 3, 4, 1.0  # xyz -> RGB logits + density; the NeRF Fourier map has no factor pi

    @property
    def evaluations_per_coordinate(self) -> int:
        return self.points_per_ray

    def _decode(self, state: Any, rays: torch.Tensor) -> torch.Tensor:
        """``(b, n, 6)`` rays -> ``(B, n, 3)`` colours (Sec. 4.2's baselines, volume rendered)."""
        b, n, _ = rays.shape
        origins, directions = rays[..., :3].float(), rays[..., 3:].float()
        depths = ray_depths((b, n), self.near, self.far, self.points_per_ray, jitter=self.training, device=rays.device)
        points = ray_points(origins, directions, depths)  # (b, n, P, 3)
        raw = super()._decode(state, points.flatten(1, 2))  # (B, n * P, 4)
        return composite(raw.view(raw.shape[0], n, self.points_per_ray, 4), depths)


class NeRFIPC(VolumeRendering, IPC):
    """IPC as the official novel-view baseline: a NeRF whose layer 1 is composed per instance.

    Args: those of ``IPC`` (official NeRF values as defaults), plus
        near: depth where the points of a ray start (2 for learnit ShapeNet).
        far: depth of the last point (6).
        points_per_ray: points per ray (128), jittered within their intervals in training.
    """

    family = "ipc_nerf"
    presets = NERF_PRESETS

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 120,
        sigma: float = 256.0,
        num_layers: int = 6,
        modulated_layer: int = 1,
        near: float = 2.0,
        far: float = 6.0,
        points_per_ray: int = 128,
        tokenizer: str = "patches",
        image_size: int | tuple[int, int] = 128,
        patch_size: int = 8,
        padding: int | None = None,
        in_channels: int = 9,
        num_views: int = 5,
        d_in: int = 6,
        d_out: int = 3,
        num_latents: int = 256,
        encoder_width: int = 768,
        encoder_depth: int = 6,
        encoder_heads: int = 12,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        output_bias: float = 0.0,
    ):
        super().__init__(
            hidden_dim=hidden_dim,
            fourier_dim=fourier_dim,
            sigma=sigma,
            num_layers=num_layers,
            modulated_layer=modulated_layer,
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
        self._setup_rendering(near, far, points_per_ray)


class NeRFTransINR(VolumeRendering, TransINR):
    """TransINR as the official novel-view baseline: a NeRF with every layer modulated by its tokens.

    Args: those of ``TransINR`` (official NeRF values as defaults: 32 tokens per layer), plus
    ``near``, ``far`` and ``points_per_ray`` as ``NeRFIPC``.
    """

    family = "transinr_nerf"
    presets = transinr_presets(NERF_PRESETS)

    @register_to_config
    def __init__(
        self,
        *,
        hidden_dim: int = 256,
        fourier_dim: int = 120,
        sigma: float = 256.0,
        num_layers: int = 6,
        tokens_per_layer: int = 32,
        near: float = 2.0,
        far: float = 6.0,
        points_per_ray: int = 128,
        tokenizer: str = "patches",
        image_size: int | tuple[int, int] = 128,
        patch_size: int = 8,
        padding: int | None = None,
        in_channels: int = 9,
        num_views: int = 5,
        d_in: int = 6,
        d_out: int = 3,
        num_latents: int | None = None,
        encoder_width: int = 768,
        encoder_depth: int = 6,
        encoder_heads: int = 12,
        encoder_mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        output_bias: float = 0.0,
    ):
        super().__init__(
            hidden_dim=hidden_dim,
            fourier_dim=fourier_dim,
            sigma=sigma,
            num_layers=num_layers,
            tokens_per_layer=tokens_per_layer,
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
        self._setup_rendering(near, far, points_per_ray)
