"""Volume rendering along rays, as the NeRF-style baselines of the paper's Fig. 4a compute it.

A ray ``o + z d`` (camera centre ``o``, unnormalised direction ``d`` whose camera-frame depth
component is 1, so ``z`` is the depth along the camera axis) is sampled at ``P`` depths between
the scene's ``near`` and ``far`` bounds; a network predicts a colour and a density at each point,
and the colour of the ray is their alpha composite over a white background:

    z_k = near + k (far - near) / (P - 1)            (+ U[0, 1) of one interval in training)
    delta_k = z_{k+1} - z_k,   delta_{P-1} = 1e-3
    alpha_k = 1 - exp(-sigma_k delta_k)
    T_k = prod_{j<k} (1 - alpha_j + 1e-10), at most 1       (transmittance)
    w_k = alpha_k T_k
    C = sum_k w_k c_k + (1 - sum_k w_k) * background

with ``c = sigmoid(raw[:3])`` and ``sigma = relu(raw[3])``: the conventions of the official ginr-ipc
NeRF models (kakaobrain/ginr-ipc), written here from those facts.

Shapes: ``...`` any leading shape (batch, rays), P points per ray.
"""

from __future__ import annotations

import torch

__all__ = ["LAST_INTERVAL", "composite", "ray_depths", "ray_points"]

LAST_INTERVAL = 1e-3  # the length given to the last point's interval (the official code's value)


def ray_depths(
    shape: tuple[int, ...],
    near: float,
    far: float,
    num_points: int,
    *,
    jitter: bool = False,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``(*shape, P)`` depths: ``P`` evenly spaced from ``near`` to ``far``; with ``jitter`` (training,
    stratified sampling) each moved forward by ``U[0, 1)`` of one interval, independently per ray
    and point, drawn from ``generator`` (default: torch's global generator)."""
    if not 0 <= near < far:
        raise ValueError(f"ray depths need 0 <= near < far, got near={near!r}, far={far!r}")
    if num_points < 2:
        raise ValueError(f"a ray needs at least 2 points, got {num_points!r}")
    depths = torch.linspace(near, far, num_points, device=device, dtype=dtype).expand(*shape, num_points)
    if jitter:
        interval = (far - near) / (num_points - 1)
        where = generator.device if generator is not None else device
        noise = torch.rand((*shape, num_points), generator=generator, dtype=dtype, device=where)
        depths = depths + noise.to(depths.device) * interval
    return depths


def ray_points(origins: torch.Tensor, directions: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """``o + z d``: ``(..., 3), (..., 3), (..., P) -> (..., P, 3)``."""
    return origins.unsqueeze(-2) + directions.unsqueeze(-2) * depths.unsqueeze(-1)


def composite(raw: torch.Tensor, depths: torch.Tensor, background: float = 1.0) -> torch.Tensor:
    """The colour of each ray from the network's raw outputs at its points.

    Args:
        raw: ``(..., P, 4)``: three colour logits and a density logit per point.
        depths: ``(..., P)`` (broadcastable to ``raw[..., 0]``), increasing along each ray.
        background: the colour seen through empty space (1.0: white, as the learnit renderings).

    Returns:
        ``(..., 3)``. Computed in float32 at least whatever ``raw``'s dtype (the sums of many small
        weights lose too much in bf16).
    """
    raw = raw.to(torch.promote_types(raw.dtype, torch.float32))
    depths = depths.to(raw.dtype)
    rgb = torch.sigmoid(raw[..., :3])
    density = torch.relu(raw[..., 3])
    intervals = torch.cat([depths[..., 1:] - depths[..., :-1], torch.full_like(depths[..., :1], LAST_INTERVAL)], -1)
    alpha = 1.0 - torch.exp(-density * intervals)
    through = torch.clamp(1.0 - alpha + 1e-10, max=1.0)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(through[..., :1]), through[..., :-1]], -1), -1)
    weights = alpha * transmittance
    colour = (weights.unsqueeze(-1) * rgb).sum(-2)
    return colour + (1.0 - weights.sum(-1, keepdim=True)) * background
