"""Which coordinates a training step decodes: the full grid, a random subset, with optional jitter.

Coordinates follow ``ginr_core.image_coords`` (pixel centres in [-1, 1], 'ij' order). The paper's
256-1024 px runs decode a fresh random 10 % of the pixels of each image at each step; the
ginr-ipc ImageNette configs move each coordinate uniformly within its pixel (``jitter``), the
target staying that pixel's colour.

Randomness comes from one ``torch.Generator`` per image, so that what an image gets depends on its
own seed only, not on the batch it shares or the number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ginr_core import pixel_targets

__all__ = ["jitter_coords", "pixel_targets", "sample_pixels"]  # pixel_targets: ginr_core's, re-exported


def jitter_coords(coords: torch.Tensor, height: int, width: int, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Move each coordinate uniformly within its pixel: ``+ U(-0.5, 0.5) * (2/H, 2/W)``.

    ``coords`` is ``(B, N, 2)`` (or ``(1, N, 2)``, expanded to one set per generator).
    """
    coords = coords.expand(len(generators), -1, -1)
    cell = torch.tensor([2.0 / height, 2.0 / width], device=coords.device, dtype=coords.dtype)
    noise = torch.stack([torch.rand(coords.shape[1:], generator=g) for g in generators]).to(coords.device)
    return coords + (noise.to(coords.dtype) - 0.5) * cell


def sample_pixels(
    images: torch.Tensor,
    fraction: float | None,
    generators: Sequence[torch.Generator] | None = None,
    jitter: bool = False,
    batch_generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates and target colours for one training step.

    Args:
        images: ``(B, C, H, W)`` in [0, 1].
        fraction: decode a fresh random ``fraction`` of each image's pixels (e.g. 0.1); ``None``
            or 1 decodes the full grid (one coordinate set shared by the batch).
        generators: one per image (for subsampling, and for jitter without ``batch_generator``).
        jitter: move each coordinate uniformly within its pixel.
        batch_generator: with the full grid, jitter the grid once for the whole batch from this
            generator, so that the coordinates stay shared (the decoder then computes their
            features once); without it every image gets its own jitter.

    Returns:
        ``coords`` ``(B or 1, N, 2)`` and ``targets`` ``(B, N, C)``.
    """
    batch, _, height, width = images.shape
    coords, targets = pixel_targets(images)
    subsample = fraction is not None and fraction < 1.0
    shared_jitter = jitter and not subsample and batch_generator is not None
    if (subsample or (jitter and not shared_jitter)) and (generators is None or len(generators) != batch):
        raise ValueError(f"sample_pixels needs one torch.Generator per image ({batch}) to subsample or jitter")
    if subsample:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"the fraction of pixels must be in (0, 1], got {fraction!r}")
        count = max(1, round(fraction * height * width))
        index = torch.stack([torch.randperm(height * width, generator=g)[:count] for g in generators])
        index = index.to(images.device)
        coords = coords[0][index]  # (B, n, 2)
        targets = torch.gather(targets, 1, index.unsqueeze(-1).expand(-1, -1, targets.shape[-1]))
    if shared_jitter:
        coords = jitter_coords(coords, height, width, [batch_generator])
    elif jitter:
        coords = jitter_coords(coords, height, width, generators)
    return coords, targets
