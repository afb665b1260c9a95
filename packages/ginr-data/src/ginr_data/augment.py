"""Augmentation of training images: what photographs vary in, drawn per image from its own generator.

``augment_images(images, generators, ...)`` takes a ``(B, 3, H, W)`` batch in [0, 1] and one
``torch.Generator`` per image (so that what an image gets depends on its own seed only, not on the
batch or the number of processes), and applies, each when asked for:

* ``dihedral``: one of the 8 rotations and reflections of the square (photographs come any way up);
* ``channel_permutation``: a random RGB order (a colour model from half-grey training photographs);
* ``colour``: exposure, white balance, contrast (gamma) and saturation, each a log-uniform factor of
  strength ``colour`` (0: none; 0.3: exposure x0.74-1.35, and so on), then clamped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["augment_images"]

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as PIL's convert("L")


def augment_images(
    images: torch.Tensor,
    generators: Sequence[torch.Generator],
    *,
    dihedral: bool = False,
    channel_permutation: bool = False,
    colour: float = 0.0,
) -> torch.Tensor:
    """``(B, 3, H, W)`` images in [0, 1] -> the same, augmented (a new tensor; square images for ``dihedral``)."""
    if len(generators) != images.shape[0]:
        raise ValueError(f"augment_images needs one generator per image: {len(generators)} for {images.shape[0]}")
    if colour < 0:
        raise ValueError(f"colour strength must be >= 0, got {colour}")
    out = []
    luma = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(3, 1, 1)
    for image, g in zip(images, generators):
        if dihedral:
            if image.shape[-1] != image.shape[-2]:
                raise ValueError(f"dihedral augmentation needs square images, got {tuple(image.shape[-2:])}")
            turns, mirror = torch.randint(4, (2,), generator=g).tolist()
            image = torch.rot90(image, turns, dims=(-2, -1))
            image = image.flip(-1) if mirror % 2 else image
        if channel_permutation:
            image = image[torch.randperm(3, generator=g).to(image.device)]
        if colour:
            exposure, gamma, saturation, *balance = ((torch.rand(6, generator=g) * 2 - 1) * colour).exp().tolist()
            gains = torch.tensor(balance, dtype=image.dtype, device=image.device).view(3, 1, 1)
            image = (image * exposure * gains).clamp(0, 1) ** gamma
            grey = (image * luma).sum(0, keepdim=True)
            image = (grey + (image - grey) * saturation).clamp(0, 1)
        out.append(image)
    return torch.stack(out)
