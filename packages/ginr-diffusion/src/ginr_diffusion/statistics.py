"""Per-token, per-channel statistics of latents over a dataset, in one streaming pass.

``LatentStatistics.update(batch)`` merges each batch's count, mean and sum of squared deviations
into the running ones with Chan et al.'s parallel formula, in float64: numerically stable (no
``E[x^2] - E[x]^2`` cancellation when the mean is large against the spread), exact for any batch
sizes, and mergeable across processes (``merge``).
"""

from __future__ import annotations

import torch

__all__ = ["LatentStatistics"]


class LatentStatistics:
    """Running mean and variance of ``(R, D)`` latents over batches ``(B, R, D)``."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, latents: torch.Tensor) -> LatentStatistics:
        x = latents.detach().to("cpu", torch.float64)
        if x.dim() != 3:
            raise ValueError(f"latents must be (B, R, D), got {tuple(x.shape)}")
        n = x.shape[0]
        if n == 0:
            return self
        mean = x.mean(0)
        m2 = ((x - mean) ** 2).sum(0)
        return self.merge_moments(n, mean, m2)

    def merge_moments(self, n: int, mean: torch.Tensor, m2: torch.Tensor) -> LatentStatistics:
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean.clone(), m2.clone()
            return self
        if mean.shape != self.mean.shape:
            raise ValueError(f"latents of shape {tuple(mean.shape)} after {tuple(self.mean.shape)}")
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total
        return self

    def merge(self, other: LatentStatistics) -> LatentStatistics:
        """Combine with statistics gathered elsewhere (another process, another shard)."""
        if other.mean is None:
            return self
        return self.merge_moments(other.count, other.mean, other.m2)

    @property
    def variance(self) -> torch.Tensor:
        if self.mean is None or self.count < 2:
            raise ValueError("statistics need at least two latents")
        return self.m2 / (self.count - 1)

    def std(self, eps: float = 1e-6) -> torch.Tensor:
        """Per-token, per-channel standard deviation (float32), floored at ``eps``."""
        return self.variance.sqrt().clamp_min(eps).float()

    def state_dict(self) -> dict:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.mean, self.m2 = int(state["count"]), state["mean"], state["m2"]
