"""Pictures a run shows a person: grids of panels, PNG and GIF files (written atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .files import write_atomically

__all__ = ["image_grid", "learning_curve", "save_gif", "save_png", "stack_vertically", "to_pil"]


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``(3, h, w)`` tensor in [0, 1] (clamped) as an 8-bit RGB image."""
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(array)


def image_grid(
    rows: list[list[torch.Tensor]], cell: int | None = None, pad: int = 4, titles: list[str] | None = None
) -> Image.Image:
    """Rows of ``(3, h, w)`` panels on a white canvas, each shown at ``cell`` px (nearest), titled columns."""
    cell = cell or max(max(p.shape[-2:]) for row in rows for p in row)
    columns = max(len(row) for row in rows)
    top = 16 if titles else 0
    canvas = Image.new("RGB", (columns * (cell + pad) + pad, top + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(titles or []):
        draw.text((pad + c * (cell + pad), 2), title, fill="black")
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            tile = to_pil(panel).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(tile, (pad + c * (cell + pad), top + pad + r * (cell + pad)))
    return canvas


def stack_vertically(pictures: list[Image.Image], captions: list[str] | None = None, pad: int = 8) -> Image.Image:
    """Pictures one above the other on a white canvas (left-aligned), each under its caption if given."""
    if len(pictures) == 1 and not captions:
        return pictures[0]
    line = 16 if captions else 0
    height = sum(p.height + line for p in pictures) + pad * (len(pictures) - 1)
    canvas = Image.new("RGB", (max(p.width for p in pictures), height), "white")
    draw = ImageDraw.Draw(canvas)
    top = 0
    for k, picture in enumerate(pictures):
        if captions:
            draw.text((4, top + 2), captions[k], fill="black")
        canvas.paste(picture, (0, top + line))
        top += picture.height + line + pad
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Save atomically (a partial PNG never replaces a good one)."""
    return write_atomically(path, lambda f: image.save(f, format="PNG"))


def save_gif(frames: list[torch.Tensor], path: str | Path, milliseconds: int = 80) -> Path:
    """``(3, h, w)`` frames in [0, 1] as a looping animated GIF, saved atomically."""
    images = [to_pil(frame) for frame in frames]
    return write_atomically(
        path,
        lambda f: images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=milliseconds, loop=0
        ),
    )


def learning_curve(points: list[tuple[float, float]], ylabel: str, title: str, log_y: bool = False) -> Image.Image:
    """A run's curve, ``(step, value)`` points (its test score at each evaluation, or its logged loss)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.2), dpi=100)
    if points:
        steps, values = zip(*points)
        axis.plot(steps, values, marker="o" if len(points) < 30 else None, lw=1.5)
    axis.set(xlabel="step", ylabel=ylabel, title=title)
    if log_y and points and min(v for _, v in points) > 0:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.canvas.draw()
    picture = Image.frombuffer("RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba()).convert("RGB")
    plt.close(figure)
    return picture
