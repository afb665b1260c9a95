"""Scores of a model on test data: per-image PSNR (and SSIM) at any resolution, novel-view PSNR (and SSIM) per
number of views."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from ginr_core import GeneralizableINR, psnr, render_image, silhouette_iou

__all__ = [
    "ACCELERATOR_CHUNK",
    "CPU_CHUNK_ROWS",
    "check_scores",
    "evaluation_chunk_size",
    "nearest_support_view",
    "novel_views",
    "nvs_psnr",
    "psnr_per_image",
    "reconstruct",
    "resolve_chunk_size",
    "source_index",
    "ssim",
    "support_mean_colour",
]


# Rows (instances x coordinate evaluations) per decoding chunk of "auto" on CPU: a (4096 x 256) float32
# activation is 4 MB, which stays in the last-level cache, where the decoder's tall, thin matmuls run
# near the square-matmul rate (benchmarks/train_step.py, benchmarks/RESULTS.md).
CPU_CHUNK_ROWS = 4096
# Coordinates per chunk when scoring on an accelerator: a bound on memory, not a cache size.
ACCELERATOR_CHUNK = 65536


def _first_non_finite(value, path: str = "") -> tuple[str, float] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_non_finite(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def check_scores(results: dict, model: str) -> None:
    """``SystemExit`` naming ``model`` when a score in ``results`` is NaN or infinite (its outputs are not finite):
    such a score is an error, never a ``null`` in eval.json."""
    found = _first_non_finite(results)
    if found:
        raise SystemExit(
            f"error: {model}: its score {found[0]} is {found[1]} (its outputs are not finite); no eval.json was "
            "written. Retrain it (lower train.lr, set train.grad_clip) or score another model"
        )


def resolve_chunk_size(chunk_size: int | str | None, batch: int, device: torch.device | str) -> int | None:
    """``decode``'s ``chunk_size`` for a setting: ``"auto"`` is ``CPU_CHUNK_ROWS // batch`` coordinates on CPU
    (cache-sized chunks) and one go on accelerators; a number or ``None`` is kept."""
    if chunk_size != "auto":
        return chunk_size
    return max(1, CPU_CHUNK_ROWS // batch) if torch.device(device).type == "cpu" else None


def evaluation_chunk_size(setting: int | str | None, device: torch.device | str) -> int | str:
    """``train.decode_chunk_size`` for scoring whole test batches: ``"auto"`` (or ``None``) is cache-sized
    chunks on CPU (``"auto"``) and ``ACCELERATOR_CHUNK`` coordinates at a time on accelerators, where
    training's one go over a whole test batch would not fit; a number is kept."""
    if setting is None or setting == "auto":
        return "auto" if torch.device(device).type == "cpu" else ACCELERATOR_CHUNK
    return setting


def ssim(prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(B,)`` SSIM of ``(B, C, H, W)`` images, the prediction clamped to [0, 1] (Wang et al. 2004: a Gaussian
    window of sigma 1.5 and 11 px, or the largest odd size a smaller image has; data range 1), as torchmetrics
    computes it (a well-kept implementation of the usual definition; ginr_core keeps to PSNR)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    side = min(prediction.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)
    return structural_similarity_index_measure(
        prediction.float().clamp(0.0, 1.0),
        targets.float(),
        data_range=1.0,
        kernel_size=kernel,
        sigma=1.5,
        reduction="none",
    )


def _record(store: dict[int, float] | None, batch: list[dict], values: torch.Tensor) -> None:
    """``store[item index] = value`` for a batch (nothing when ``store`` is None)."""
    if store is not None:
        store.update({int(item["index"]): float(v) for item, v in zip(batch, values.tolist())})


def source_index(dataset, item: dict) -> int:
    """The index of the image an item was really read from (after skipping unreadable files)."""
    return (int(item["index"]) + int(item.get("skipped", 0))) % len(dataset)


@torch.no_grad()
def reconstruct(
    model: GeneralizableINR,
    images: torch.Tensor,
    resolution: int | None = None,
    chunk_size: int | str | None = 65536,
    clamp: bool = True,
) -> torch.Tensor:
    """Encode ``(B, 3, H, W)`` images and decode them at ``resolution`` (default H): ``(B, 3, r, r)``,
    clamped to [0, 1] unless ``clamp=False`` (the raw outputs, which the paper's PSNR uses)."""
    latents = model.encode(images)
    chunk_size = resolve_chunk_size(chunk_size, latents.shape[0], latents.device)
    output = render_image(model, latents, resolution or images.shape[-2], chunk_size=chunk_size)
    return output.clamp(0.0, 1.0) if clamp else output


@torch.no_grad()
def psnr_per_image(
    model: GeneralizableINR,
    dataset,
    indices: Sequence[int],
    resolution: int | None = None,
    batch_size: int = 32,
    chunk_size: int | None = 65536,
    device: torch.device | str = "cpu",
    clamped: dict[int, float] | None = None,
    ssim_store: dict[int, float] | None = None,
    progress: str | None = None,
) -> dict[int, float]:
    """``{index: PSNR}`` of the reconstructions of ``dataset[index]``, on the raw outputs (the paper's
    protocol, as the official code computes it); ``clamped``, if given, receives the PSNR of the
    outputs clamped to [0, 1] from the same decode, ``ssim_store`` their SSIM. ``progress``: a progress bar
    with this description.

    The model encodes each image at the dataset's resolution and decodes at ``resolution``; the
    target at another resolution is ``dataset.render(index, resolution)``, the same image through
    the evaluation transform at that size.
    """
    was_training = model.training
    model.eval()
    results: dict[int, float] = {}
    for start in tqdm(range(0, len(indices), batch_size), desc=progress, disable=progress is None):
        batch = [dataset[int(i)] for i in indices[start : start + batch_size]]
        images = torch.stack([item["image"] for item in batch]).to(device)
        native = images.shape[-1]
        if resolution is None or resolution == native:
            targets = images
        else:
            targets = torch.stack([dataset.render(source_index(dataset, item), resolution) for item in batch])
            targets = targets.to(device)
        output = reconstruct(model, images, resolution or native, chunk_size, clamp=False)
        _record(results, batch, psnr(output, targets))
        if clamped is not None:
            _record(clamped, batch, psnr(output.clamp(0.0, 1.0), targets))
        if ssim_store is not None:
            _record(ssim_store, batch, ssim(output, targets))
    model.train(was_training)
    return results


# ------------------------------------------------------------------------------------ novel views
@torch.no_grad()
def novel_views(
    model: GeneralizableINR,
    support: torch.Tensor,
    rays: torch.Tensor,
    chunk_size: int | str | None = 65536,
    clamp: bool = True,
) -> torch.Tensor:
    """Colours ``(B, N, 3)`` of rays ``(B, N, 6)`` given support views ``(B, V, 9, H, W)``, clamped
    to [0, 1] unless ``clamp=False``."""
    latents = model.encode(support)
    chunk_size = resolve_chunk_size(chunk_size, latents.shape[0], latents.device)
    output = model.decode(latents, rays, chunk_size=chunk_size)
    return output.clamp(0.0, 1.0) if clamp else output


def support_mean_colour(item: dict, views: int) -> torch.Tensor:
    """Trivial baseline: every ray of the novel view gets the mean colour of the first ``views`` support views."""
    colour = item["support"][:views, :3].mean(dim=(0, 2, 3))
    return colour.expand_as(item["query_rgb"])


def nearest_support_view(item: dict, views: int) -> torch.Tensor:
    """Trivial baseline: the support view whose optical axis is closest to the novel view's, as the prediction."""
    axes = -item["support_poses"][:views, :3, 2]  # cameras look along -z
    query_axis = -item["query_pose"][:3, 2]
    nearest = int((axes @ query_axis).argmax())
    return item["support"][nearest, :3].permute(1, 2, 0).reshape(-1, 3)


@torch.no_grad()
def nvs_psnr(
    model: GeneralizableINR | None,
    dataset,
    indices: Sequence[int],
    views: Iterable[int],
    batch_size: int = 32,
    chunk_size: int | None = 65536,
    device: torch.device | str = "cpu",
    predict=None,
    clamped: dict[int, dict[int, float]] | None = None,
    ssim_store: dict[int, dict[int, float]] | None = None,
    iou_store: dict[int, dict[int, float]] | None = None,
    progress: str | None = None,
) -> dict[int, dict[int, float]]:
    """``{v: {index: PSNR}}``: the novel view of each item predicted from its first v support views,
    on the raw outputs (the paper's protocol); ``clamped``, if given, receives the PSNR of the
    outputs clamped to [0, 1], ``ssim_store`` their SSIM (for square novel views: ``r * r`` rays),
    ``iou_store`` the silhouette IoU against the true view (``ginr_core.silhouette_iou``: pixels that
    differ from the white background by more than 0.1).

    Every item holds a fixed random choice of support views and a novel view (the paper's test
    protocol: each test object repeated with seeded picks), and the first v support views are a
    subset of the first v + 1: scores for different v are paired. ``predict(item, v)`` replaces
    the model by a baseline that maps an item to ``(N, 3)`` colours.
    """
    views = list(views)
    if model is not None:
        was_training = model.training
        model.eval()
    results: dict[int, dict[int, float]] = {v: {} for v in views}
    for start in tqdm(range(0, len(indices), batch_size), desc=progress, disable=progress is None):
        batch = [dataset[int(i)] for i in indices[start : start + batch_size]]
        targets = torch.stack([item["query_rgb"] for item in batch]).to(device)
        for v in views:
            if predict is not None:
                prediction = torch.stack([predict(item, v) for item in batch]).to(device)
            else:
                support = torch.stack([item["support"][:v] for item in batch]).to(device)
                rays = torch.stack([item["query_rays"] for item in batch]).to(device)
                prediction = novel_views(model, support, rays, chunk_size, clamp=False)
            _record(results[v], batch, psnr(prediction, targets))
            if clamped is not None:
                _record(clamped.setdefault(v, {}), batch, psnr(prediction.clamp(0.0, 1.0), targets))
            if iou_store is not None:
                _record(iou_store.setdefault(v, {}), batch, silhouette_iou(prediction, targets))
            side = math.isqrt(targets.shape[1])
            if ssim_store is not None and side * side == targets.shape[1]:
                as_images = [t.transpose(1, 2).reshape(len(batch), -1, side, side) for t in (prediction, targets)]
                _record(ssim_store.setdefault(v, {}), batch, ssim(*as_images))
    if model is not None:
        model.train(was_training)
    return results
