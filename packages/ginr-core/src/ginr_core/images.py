"""Whole images in and out: the preprocessing a model was trained with, and its reconstructions at any size.

>>> from PIL import Image
>>> from ginr_core import GeneralizableINR, reconstruct
>>> model = GeneralizableINR.from_pretrained("<user>/locinr-ffhq")
>>> big = reconstruct(model, Image.open("photo.jpg"), scale=3)   # a PIL image, 3x the model's input size

``preprocess`` takes PIL images, numpy arrays (``(H, W)`` or ``(H, W, C)``, uint8 or floats in [0, 1]) or
tensors (``(C, H, W)`` / ``(B, C, H, W)``, uint8 or floats in [0, 1]) of any size, and prepares them as the
model's training data was: the shorter side resized to the model's input size (bilinear, antialiased), the
centre cropped to it, RGB values in [0, 1]. A model records that recipe in ``model.preprocessing``
(``config.json``'s ``_preprocessing``, written by ``save_pretrained``); a model without one uses this default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .coords import RENDER_CHUNK, render_image
from .fitting import refine_latents
from .rays import posed_rays, ray_format_of

__all__ = ["DEFAULT_PREPROCESSING", "novel_view", "preprocess", "preprocessing_of", "reconstruct"]

# resize the shorter side to the input size, crop the centre, values in [0, 1] (ginr_data's evaluation transform)
DEFAULT_PREPROCESSING = {"resize": "shorter_side", "crop": "center", "value_range": [0.0, 1.0]}


def preprocessing_of(model) -> dict[str, Any]:
    """The recipe ``model`` was trained with (``model.preprocessing``), or ``DEFAULT_PREPROCESSING``."""
    recipe = {**DEFAULT_PREPROCESSING, **(getattr(model, "preprocessing", None) or {})}
    if recipe["resize"] != "shorter_side" or recipe["crop"] != "center":
        raise ValueError(f"unsupported preprocessing {recipe}: ginr_core knows resize=shorter_side, crop=center")
    return recipe


def _as_tensor(image: Any) -> torch.Tensor:
    """One image -> ``(C, H, W)`` float32 in [0, 1] (uint8 scaled by 1/255; 16-bit PIL modes by 1/65535)."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        if image.getexif().get(0x0112, 1) not in (1, None):  # EXIF orientation: upright, as the data loaders do
            from PIL import ImageOps

            image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # on white, as the data loaders do
            from PIL import Image

            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        width, height = image.size
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit and float greyscale, as the loaders
            values = torch.frombuffer(bytearray(image.convert("F").tobytes()), dtype=torch.float32).view(height, width)
            top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
            top = 1.0 if image.mode == "F" and values.max() <= 1.0 else top
            return (values / top).clamp(0.0, 1.0).expand(3, -1, -1)
        rgb = image.convert("RGB")
        pixels = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(height, width, 3)
        return pixels.permute(2, 0, 1) / 255.0
    if not isinstance(image, torch.Tensor):
        if type(image).__module__.split(".")[0] != "numpy":
            raise TypeError(f"expected PIL images, numpy arrays or tensors, got {type(image).__name__}")
        image = torch.from_numpy(image.copy())
        image = image.unsqueeze(0) if image.ndim == 2 else image.permute(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    if image.ndim != 3:
        raise ValueError(f"an image must be (C, H, W) (or (H, W[, C]) as an array), got shape {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        image = image / 255.0
    elif not image.is_floating_point():
        raise TypeError(f"image values must be uint8 or floats in [0, 1], got dtype {image.dtype}")
    channels = image.shape[0]
    if channels == 1:
        image = image.expand(3, -1, -1)
    elif channels == 4:
        image = image[:3]  # RGBA arrays: the colour channels
    elif channels != 3:
        raise ValueError(f"an image needs 1, 3 or 4 channels, got {channels}")
    return image.float()


def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(3, h, w)`` -> ``(3, H, W)``: the shorter side resized to cover ``size`` (bilinear, antialiased), the
    centre cropped."""
    (height, width), (h, w) = size, image.shape[-2:]
    factor = max(height / h, width / w)
    resized = (max(height, round(h * factor)), max(width, round(w * factor)))
    if resized != (h, w):
        image = F.interpolate(image[None], size=resized, mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (resized[0] - height) // 2, (resized[1] - width) // 2
    return image[:, top : top + height, left : left + width].clamp(0.0, 1.0)


def preprocess(images: Any, model) -> torch.Tensor:
    """PIL images, arrays or tensors of any size (one, a list, or a ``(B, C, H, W)`` batch) -> ``(B, 3, H, W)``
    float32 inputs of ``model`` (its ``image_size``), on its device, prepared as ``preprocessing_of(model)`` says."""
    preprocessing_of(model)
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images)
    elif not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        images = [images]
    if not images:
        raise ValueError("preprocess needs at least one image")
    batch = torch.stack([_fit(_as_tensor(image), tuple(model.image_size)) for image in images])
    return batch.to(device=model.device, dtype=model.dtype)


def _to_pil(image: torch.Tensor):
    from PIL import Image

    pixels = (image.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu()
    return Image.frombytes("RGB", (pixels.shape[1], pixels.shape[0]), bytes(pixels.untyped_storage()))


@torch.no_grad()
def reconstruct(
    model,
    images: Any,
    *,
    scale: float | None = None,
    size: tuple[int, int] | int | None = None,
    output: str | None = None,
    chunk_size: int | None = RENDER_CHUNK,
    refine_steps: int = 0,
):
    """Encode images of any size (``preprocess``) and decode each at ``size`` (``(H, W)`` or a side), or at
    ``scale`` times the model's input size (default 1): the reconstructions, clamped to [0, 1].

    ``output``: ``"pil"`` (a PIL image per input), ``"tensor"`` (a ``(B, 3, H, W)`` tensor) or None (PIL when the
    inputs were PIL images, else a tensor). One PIL image in, one PIL image out.
    ``refine_steps``: test-time optimisation before decoding: this many Adam steps on the latent tokens
    against the model's input (``ginr_core.fitting.refine_latents``, the decoder fixed; the best state of
    its history is kept, so never below the zero-shot fit). 0 (the default): zero-shot, one forward pass.
    """
    if scale is not None and size is not None:
        raise ValueError("pass scale or size, not both")
    if isinstance(refine_steps, bool) or int(refine_steps) != refine_steps or refine_steps < 0:
        raise ValueError(f"refine_steps must be a whole number >= 0, got {refine_steps!r}")
    if size is None:
        factor = 1.0 if scale is None else float(scale)
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        size = tuple(max(1, round(side * factor)) for side in model.image_size)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    single_pil = hasattr(images, "convert") and hasattr(images, "size")
    first = images if single_pil else (images[0] if isinstance(images, Sequence) and images else None)
    output = output or ("pil" if hasattr(first, "convert") else "tensor")
    if output not in ("pil", "tensor"):
        raise ValueError(f"output must be 'pil', 'tensor' or None, got {output!r}")
    was_training = model.training
    model.eval()
    try:
        inputs = preprocess(images, model)
        latents = model.encode(inputs)
        if refine_steps:
            with torch.enable_grad():
                latents = refine_latents(model, inputs, latents, steps=int(refine_steps), progress=False).latents
        decoded = render_image(model, latents, int(height), int(width), chunk_size=chunk_size).float().clamp(0.0, 1.0)
    finally:
        model.train(was_training)
    if output == "tensor":
        return decoded
    pictures = [_to_pil(image) for image in decoded]
    return pictures[0] if single_pil else pictures


@torch.no_grad()
def novel_view(
    model,
    views: Any,
    poses: torch.Tensor,
    focal: float,
    camera: torch.Tensor,
    *,
    size: int | None = None,
    output: str | None = None,
    chunk_size: int | None = RENDER_CHUNK,
):
    """The view of a new camera from posed views of an object: the light-field counterpart of ``reconstruct``.

    Args:
        model: a light-field or volume-rendering model (``d_in = 6``).
        views: the support views (PIL images, arrays or tensors of any size, as ``preprocess`` takes them).
        poses: ``(V, 4, 4)`` camera-to-world matrices of the views (``ginr_core.rays``' conventions).
        focal: the views' focal length in pixels, at their own size (scaled with them).
        camera: ``(4, 4)`` camera-to-world matrix of the new view (e.g. ``orbit_around(poses, 8)[k]``).
        size: the new view's side in pixels (default: the model's input size), focal scaled to it.
        output: as ``reconstruct``'s (PIL when the views were PIL images).
    """
    if model.d_in != 6:
        raise ValueError(f"novel_view needs a model of rays (d_in=6); this one has d_in={model.d_in}")
    items = views if isinstance(views, Sequence) or (isinstance(views, torch.Tensor) and views.ndim == 4) else [views]
    first = items[0]
    if hasattr(first, "convert"):  # PIL: (width, height)
        height, width = first.size[1], first.size[0]
    elif isinstance(first, torch.Tensor):  # (C, H, W)
        height, width = first.shape[-2:]
    else:  # an array: (H, W[, C])
        height, width = first.shape[:2]
    rgb = preprocess(items, model)  # (V, 3, r, r): the shorter side resized to r, the centre cropped
    poses = torch.as_tensor(poses, dtype=torch.float32)
    if poses.shape != (len(rgb), 4, 4):
        raise ValueError(f"poses must be ({len(rgb)}, 4, 4) for {len(rgb)} views, got {tuple(poses.shape)}")
    r, fmt = model.image_size[0], ray_format_of(model)
    focal_r = float(focal) * r / min(height, width)  # the resize of the shorter side scales the focal
    rays = posed_rays(poses, focal_r, r, r, fmt).permute(0, 3, 1, 2).to(rgb)  # (V, 6, r, r)
    side = size or r
    query = posed_rays(torch.as_tensor(camera, dtype=torch.float32), focal_r * side / r, side, side, fmt)
    was_training = model.training
    model.eval()
    try:
        latents = model.encode(torch.cat([rgb, rays], 1)[None])
        colours = model.decode(latents, query.reshape(1, -1, 6).to(rgb), chunk_size=chunk_size)
    finally:
        model.train(was_training)
    image = colours[0].T.reshape(3, side, side).float().clamp(0.0, 1.0)
    if (output or ("pil" if hasattr(items[0], "convert") else "tensor")) == "tensor":
        return image
    return _to_pil(image)
