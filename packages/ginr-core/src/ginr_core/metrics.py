"""Metrics: reconstruction (PSNR) and distribution distance (the Fréchet distance behind FID)."""

from __future__ import annotations

import torch

__all__ = ["frechet_distance", "gaussian_statistics", "psnr", "silhouette", "silhouette_iou"]


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio, one value per sample.

    ``PSNR_b = 10 log10(data_range^2 / MSE_b)`` where ``MSE_b`` averages over every dimension but
    the first. A dataset's PSNR is the mean of these per-sample values (the protocol of the paper
    and its baselines), not the PSNR of the mean MSE. A perfect reconstruction gives ``inf``.

    Args:
        pred: predictions ``(B, ...)``, values in ``[0, data_range]``.
        target: targets of the same shape.
        data_range: the largest possible value (1 for pixels in [0, 1]).

    Returns:
        ``(B,)`` float32 tensor in dB.
    """
    if pred.shape != target.shape:
        raise ValueError(f"psnr: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim < 1 or pred.shape[0] == 0:
        raise ValueError(f"psnr: expected a batch of samples (B, ...), got shape {tuple(pred.shape)}")
    mse = (pred.float() - target.float()).square().reshape(pred.shape[0], -1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def silhouette(pixels: torch.Tensor, background: float = 1.0, threshold: float = 0.1) -> torch.Tensor:
    """Which pixels ``(..., C)`` show the object: ``(...)`` booleans, true where any channel differs from the
    ``background`` colour (white) by more than ``threshold``."""
    return ((pixels.float() - background).abs() > threshold).any(-1)


def silhouette_iou(
    pred: torch.Tensor, target: torch.Tensor, background: float = 1.0, threshold: float = 0.1
) -> torch.Tensor:
    """Intersection over union of the object's silhouettes in two renderings, one value per sample.

    A pixel belongs to the silhouette when any of its channels differs from the ``background``
    colour (white) by more than ``threshold`` (``silhouette``); the IoU is ``|S_pred & S_true| / |S_pred | S_true|``
    (1 when neither view shows anything).

    Args:
        pred: predicted pixels ``(B, N, C)`` (``N`` pixels of ``C`` channels), raw outputs allowed.
        target: true pixels of the same shape.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(
            f"silhouette_iou: expected pred and target of one shape (B, N, C), got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    inside_pred, inside_true = silhouette(pred, background, threshold), silhouette(target, background, threshold)
    union = (inside_pred | inside_true).sum(-1)
    both = (inside_pred & inside_true).sum(-1)
    return torch.where(union > 0, both / union.clamp_min(1), torch.ones_like(union, dtype=torch.float32))


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``(N, D)`` features, in float64."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"gaussian_statistics: expected (N >= 2, D) features, got shape {tuple(features.shape)}")
    x = features.double()
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues -> 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(
    a: torch.Tensor | tuple[torch.Tensor, torch.Tensor], b: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    ``d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``, where the last trace
    equals ``tr((S_a S_b)^1/2)``; computed in float64 through symmetric eigendecompositions, so it
    stays real and exact for the singular covariances of fewer samples than dimensions.

    Args:
        a: ``(N, D)`` features, or a ``(mean, covariance)`` pair from ``gaussian_statistics``.
        b: the same for the other set.
    """
    mu_a, cov_a = gaussian_statistics(a) if isinstance(a, torch.Tensor) else (a[0].double(), a[1].double())
    mu_b, cov_b = gaussian_statistics(b) if isinstance(b, torch.Tensor) else (b[0].double(), b[1].double())
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"frechet_distance: feature dimensions differ: {tuple(mu_a.shape)} vs {tuple(mu_b.shape)}")
    root_a = _sqrt_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    distance = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return float(distance.clamp(min=0))
