"""Per-image PSNR of a model on a dataset, at its native or any other resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ginr_core import GeneralizableINR, psnr

__all__ = ["psnr_per_image", "reconstruct", "source_index"]


def source_index(dataset, item: dict) -> int:
    """The index of the image an item was really read from (after skipping unreadable files)."""
    return (int(item["index"]) + int(item.get("skipped", 0))) % len(dataset)


@torch.no_grad()
def reconstruct(
    model: GeneralizableINR, images: torch.Tensor, resolution: int | None = None, chunk_size: int | None = 65536
) -> torch.Tensor:
    """Encode ``(B, 3, H, W)`` images and decode them at ``resolution`` (default H): ``(B, 3, r, r)`` in [0, 1]."""
    latents = model.encode(images)
    return model.render_image(latents, resolution or images.shape[-2], chunk_size=chunk_size).clamp(0.0, 1.0)


@torch.no_grad()
def psnr_per_image(
    model: GeneralizableINR,
    dataset,
    indices: Sequence[int],
    resolution: int | None = None,
    batch_size: int = 32,
    chunk_size: int | None = 65536,
    device: torch.device | str = "cpu",
) -> dict[int, float]:
    """``{index: PSNR}`` of the reconstructions of ``dataset[index]`` (outputs clamped to [0, 1]).

    The model encodes each image at the dataset's resolution and decodes at ``resolution``; the
    target at another resolution is ``dataset.render(index, resolution)``, the same image through
    the evaluation transform at that size.
    """
    was_training = model.training
    model.eval()
    results: dict[int, float] = {}
    for start in range(0, len(indices), batch_size):
        batch = [dataset[int(i)] for i in indices[start : start + batch_size]]
        images = torch.stack([item["image"] for item in batch]).to(device)
        native = images.shape[-1]
        if resolution is None or resolution == native:
            targets = images
        else:
            targets = torch.stack([dataset.render(source_index(dataset, item), resolution) for item in batch])
            targets = targets.to(device)
        values = psnr(reconstruct(model, images, resolution or native, chunk_size), targets)
        results.update({int(item["index"]): float(v) for item, v in zip(batch, values.tolist())})
    model.train(was_training)
    return results
