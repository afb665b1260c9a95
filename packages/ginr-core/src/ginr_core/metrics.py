"""Reconstruction metrics."""

from __future__ import annotations

import torch

__all__ = ["psnr"]


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio, one value per sample.

    ``PSNR_b = 10 log10(data_range^2 / MSE_b)`` where ``MSE_b`` averages over every dimension but
    the first. A dataset's PSNR is the mean of these per-sample values (the protocol of the paper
    and its baselines), not the PSNR of the mean MSE. A perfect reconstruction gives ``inf``.

    Args:
        pred, target: tensors of the same shape ``(B, ...)``, values in ``[0, data_range]``.

    Returns:
        ``(B,)`` float32 tensor in dB.
    """
    if pred.shape != target.shape:
        raise ValueError(f"psnr: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim < 1 or pred.shape[0] == 0:
        raise ValueError(f"psnr: expected a batch of samples (B, ...), got shape {tuple(pred.shape)}")
    mse = (pred.float() - target.float()).square().reshape(pred.shape[0], -1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)
