"""What each latent token controls: locality maps and scores (the paper's Fig. 5 and Fig. 12).

Replace latent token k of an instance by the zero vector, decode again, and look at where the
output changed: a locality-aware INR changes a small patch, IPC and TransINR change the whole
image. ``token_difference_maps`` computes those differences at any coordinates (a pixel grid, or
the rays of a rendered view of a light field); ``locality_scores`` turns them into numbers that
need no picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .coords import image_coords

__all__ = ["AREA_ENERGY", "locality_scores", "token_difference_maps"]

AREA_ENERGY = 0.9  # the share of a token's difference energy its area must hold


@torch.no_grad()
def token_difference_maps(
    model,
    latents: torch.Tensor,
    coords: torch.Tensor,
    tokens: Sequence[int] | torch.Tensor | None = None,
    chunk_size: int | None = 65536,
) -> torch.Tensor:
    """How much the output moves when one latent token is replaced by zeros.

    Args:
        model: a ``GeneralizableINR`` (any family).
        latents: ``(B, R, D)`` from ``model.encode``.
        coords: ``(B, N, d_in)`` or ``(1, N, d_in)`` coordinates to decode (a pixel grid, the rays
            of a view).
        tokens: the token indices ``k`` to probe (default: all ``R``).
        chunk_size: decode at most this many coordinates at a time.

    Returns:
        ``(B, K, N)``: ``|| decode(Z with z_k = 0) - decode(Z) ||_2`` over the output channels, per
        coordinate, in float32. Exactly zero where the decoder does not read token k.
    """
    if latents.ndim != 3:
        raise ValueError(f"latents must be (B, R, D), got shape {tuple(latents.shape)}")
    count = latents.shape[1]
    tokens = list(range(count)) if tokens is None else [int(k) for k in tokens]
    bad = [k for k in tokens if not 0 <= k < count]
    if bad:
        raise ValueError(f"token indices must lie in [0, {count}), got {bad}")
    reference = model.decode(latents, coords, chunk_size=chunk_size).float()
    maps = []
    for k in tokens:
        ablated = latents.clone()
        ablated[:, k] = 0
        maps.append((model.decode(ablated, coords, chunk_size=chunk_size).float() - reference).norm(dim=-1))
    return torch.stack(maps, dim=1)


def locality_scores(maps: torch.Tensor, height: int, width: int, energy: float = AREA_ENERGY) -> dict:
    """Scores of difference maps over an ``height x width`` pixel grid (row-major).

    * ``area`` ``(B, K)``: the smallest fraction of pixels that holds ``energy`` (90 %) of the
      token's difference energy (squared difference). In ``(0, 1]``: about ``1 / (H W)`` for a
      token that moves one pixel, about ``energy`` for one that moves every pixel alike (IPC's
      global tokens); 0 for a token the decoder does not read (no energy at all).
    * ``centre`` ``(B, K, 2)``: the energy's centre of mass in pixel-centre coordinates
      ``[-1, 1]^2`` (row, column; NaN for a token without energy).
    * ``spread`` ``(B,)``: the mean distance of an instance's token centres from their mean, in
      ``[0, sqrt(2)]``: large when the tokens share the image out between them.

    Args:
        maps: ``(B, K, H * W)`` from ``token_difference_maps``.
        energy: the share of the energy the area must hold, in (0, 1].
    """
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    if maps.ndim != 3 or maps.shape[-1] != height * width:
        raise ValueError(f"maps must be (B, K, {height} * {width}), got shape {tuple(maps.shape)}")
    e = maps.double().square()
    total = e.sum(-1)  # (B, K)
    ordered = e.sort(dim=-1, descending=True).values.cumsum(-1)
    needed = (ordered < energy * total.unsqueeze(-1) * (1 - 1e-12)).sum(-1) + 1  # pixels to reach the share
    area = torch.where(total > 0, needed.double() / (height * width), torch.zeros_like(total))
    grid = image_coords(height, width, dtype=torch.float64, device=maps.device).view(-1, 2)
    centre = (e @ grid) / total.unsqueeze(-1)  # NaN where there is no energy
    valid = total > 0
    mean = torch.nansum(centre * valid.unsqueeze(-1), dim=1) / valid.sum(1, keepdim=True).clamp_min(1)
    distance = (centre - mean.unsqueeze(1)).norm(dim=-1)
    spread = torch.nansum(distance * valid, dim=1) / valid.sum(1).clamp_min(1)
    return {"area": area.float(), "centre": centre.float(), "spread": spread.float()}
