"""Coordinates and their frequency encodings.

Conventions (shared by every ginr model and loader):

* pixel centres live in ``[-1, 1]``: ``c_i = -1 + 2 (i + 0.5) / N`` for ``i = 0 .. N-1``;
* image coordinates are in ``'ij'`` order: channel 0 is the row, channel 1 the column;
* decoding at another resolution simply asks for more (or fewer) centres over the same range.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["RENDER_CHUNK", "FourierFeatures", "image_coords", "pixel_centers", "pixel_targets", "render_image"]

# Coordinates per chunk of render_image by default: a bound on memory at any output resolution.
RENDER_CHUNK = 65536


def pixel_centers(n: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(n,)`` centres of ``n`` equal cells covering ``[-1, 1]``: ``-1 + 2 (i + 0.5) / n``."""
    if int(n) != n or n < 1:
        raise ValueError(f"the number of pixels must be a positive integer, got {n!r}")
    centers = (torch.arange(n, dtype=torch.float64) + 0.5).mul_(2.0 / n).sub_(1.0)  # exact in float64
    return centers.to(device=device, dtype=dtype)


def image_coords(height: int, width: int | None = None, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an image grid.

    Args:
        height: number of rows H.
        width: number of columns W (defaults to ``height``).

    Returns:
        ``(H, W, 2)`` tensor; ``[..., 0]`` is the row coordinate and ``[..., 1]`` the column
        coordinate, both in ``[-1, 1]`` ('ij' indexing). For a 178 px image the extreme centres are
        +-0.99438. Flatten with ``coords.view(1, -1, 2)`` to feed ``decode``.
    """
    width = height if width is None else width
    rows = pixel_centers(height, device=device, dtype=dtype)
    cols = pixel_centers(width, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)


def pixel_targets(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The full grid of ``(B, C, H, W)`` images: coordinates ``(1, H*W, 2)`` shared by the batch, targets
    ``(B, H*W, C)`` (row-major, as ``image_coords``)."""
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    coords = image_coords(height, width, device=images.device).view(1, -1, 2)
    return coords, images.permute(0, 2, 3, 1).reshape(batch, height * width, channels)


def render_image(
    model, latents: torch.Tensor, height: int, width: int | None = None, *, chunk_size: int | None = RENDER_CHUNK
) -> torch.Tensor:
    """Decode the full ``height x width`` pixel grid of a pixel-coordinate model (``d_in=2``): ``(B, d_out, H, W)``
    at any resolution, ``chunk_size`` coordinates at a time (as ``model.decode``'s; the default bounds memory).

    >>> big = render_image(model, model.encode(images), 356)   # (B, 3, 356, 356): decoded at 2x
    """
    if model.d_in != 2:
        raise ValueError(f"render_image needs a pixel-coordinate model (d_in=2); this one has d_in={model.d_in}")
    width = height if width is None else width
    coords = image_coords(height, width, device=latents.device).view(1, -1, 2)
    out = model.decode(latents, coords, chunk_size=chunk_size)
    return out.transpose(1, 2).reshape(latents.shape[0], out.shape[-1], height, width)


class FourierFeatures(nn.Module):
    """Deterministic Fourier features of a coordinate (Eq. 2).

    ``gamma_sigma(v) = [cos(pi w_j v_i), sin(pi w_j v_i)]``: ``d_f / 2`` frequency slots are shared
    out among the ``d_in`` input dimensions, ``n = d_f // (2 d_in)`` each, and the first
    ``(d_f / 2) mod d_in`` dimensions get one more. Dimension i's ``n_i`` frequencies
    ``w_j = sigma^(j / (n_i - 1))`` are log-spaced from 1 to ``sigma`` inclusive. So any even ``d_f``
    works for any ``d_in``: the paper's light-field decoder (``d_in = 6``, ``d_F = 256``) gets 22
    frequencies on two ray coordinates and 21 on the other four, 256 features in all; when ``2 d_in``
    divides ``d_f`` every dimension gets the same ``n`` (the official code's layout). The layout is
    ``[cos(all), sin(all)]`` where ``all`` runs over the input dimensions first and their
    frequencies second (``index = i * n + j`` when the counts are equal). The raw coordinate is
    not appended, and nothing here is trainable.

    The features are always computed in float32 (also under autocast or for a bf16 model): at
    ``sigma = 256`` a bf16 argument would be off by whole radians.

    Args:
        d_in: coordinate dimensionality (2 for pixels, 6 for Plücker rays, 3 for world points).
        d_f: feature dimensionality; an even number ``>= 2 * d_in``.
        sigma: bandwidth, the largest frequency (> 0).
        scale: the factor of every angle: ``pi`` (Eq. 2, coordinates in [-1, 1]) or 1 (the official
            NeRF baselines' map of world points: ``cos(w_j x_i)`` with ``w_j = 2^(8 j / 19)``, i.e.
            ``sigma = 256`` and 20 frequencies per axis).
    """

    def __init__(self, d_in: int, d_f: int, sigma: float, scale: float = math.pi):
        super().__init__()
        if isinstance(d_in, bool) or int(d_in) != d_in or d_in < 1:
            raise ValueError(f"FourierFeatures: d_in must be a positive integer, got {d_in!r}")
        if isinstance(d_f, bool) or int(d_f) != d_f or d_f < 2 * d_in or d_f % 2:
            raise ValueError(
                f"FourierFeatures: d_f={d_f!r} (a model's fourier_dim) must be an even number >= 2 * d_in = {2 * d_in} "
                f"(a cosine and a sine for at least one frequency per input dimension, Eq. 2)"
            )
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"FourierFeatures: the bandwidth sigma must be a positive number, got {sigma!r}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"FourierFeatures: scale must be a positive number, got {scale!r}")
        self.d_in, self.d_f, self.sigma, self.scale = int(d_in), int(d_f), float(sigma), float(scale)
        slots, extra = divmod(self.d_f // 2, self.d_in)
        self.num_frequencies = slots  # per input dimension (the first `extra` dimensions have one more)
        self.counts = [slots + (i < extra) for i in range(self.d_in)]
        self.uniform = extra == 0  # every dimension has n frequencies: one broadcast product

    @property
    def out_features(self) -> int:
        return self.d_f

    def frequencies(self, device=None, count: int | None = None) -> torch.Tensor:
        """``(n,)`` float32 frequencies ``w_j``, log-spaced from 1 to sigma (``count`` of them, default n)."""
        n = self.num_frequencies if count is None else count
        return torch.linspace(0.0, math.log(self.sigma), n, device=device, dtype=torch.float32).exp()

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., d_in)`` coordinates -> ``(..., d_f)`` float32 features."""
        if coords.shape[-1] != self.d_in:
            raise ValueError(
                f"FourierFeatures: expected coordinates with last dim {self.d_in}, got shape {tuple(coords.shape)}"
            )
        coords = coords.float()
        if self.uniform:
            angles = coords.unsqueeze(-1) * (self.scale * self.frequencies(coords.device))  # (..., d_in, n)
            angles = angles.flatten(-2)  # (..., d_in * n), input dimension major
        else:
            angles = torch.cat(
                [
                    coords[..., i : i + 1] * (self.scale * self.frequencies(coords.device, n))
                    for i, n in enumerate(self.counts)
                ],
                dim=-1,
            )
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)

    def extra_repr(self) -> str:
        scale = "" if self.scale == math.pi else f", scale={self.scale:g}"
        return f"d_in={self.d_in}, d_f={self.d_f}, sigma={self.sigma:g}{scale}"
