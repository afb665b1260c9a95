"""What a run shows a person: picture grids, the model card, the command that made it."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

__all__ = ["command_line", "image_grid", "save_gif", "save_png", "write_model_card"]


def command_line() -> str:
    """The command that started this process, as a user would type it again."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    script = sys.argv[0] if sys.argv and sys.argv[0] else "apps/train.py"
    launched = "accelerate launch" if os.environ.get("ACCELERATE_MIXED_PRECISION") is not None else "python"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if launched == "accelerate launch" and world > 1:
        launched += f" --num_processes {world}"
    return f"{launched} {script} {args}".strip()


def _to_pil(image: torch.Tensor) -> Image.Image:
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
            tile = _to_pil(panel).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(tile, (pad + c * (cell + pad), top + pad + r * (cell + pad)))
    return canvas


def save_png(image: Image.Image, path: str | Path) -> None:
    """Save atomically (a partial PNG never replaces a good one)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def save_gif(frames: list[torch.Tensor], path: str | Path, milliseconds: int = 80) -> None:
    """``(3, h, w)`` frames in [0, 1] as a looping animated GIF, saved atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    images = [_to_pil(frame) for frame in frames]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
    os.replace(tmp, path)


_REPRODUCE = """## Reproduce

```bash
{command}
```
"""
_TRAINING_CONFIGURATION = """## Training configuration

```yaml
{config_yaml}```
"""

CARD = (
    """
# {class_name} trained with ginr

A generalizable implicit neural representation ([ginr](https://arxiv.org/abs/2310.05624) family
`{family}`): its encoder turns a {resolution} x {resolution} image into {num_latents} latent tokens,
and its decoder renders them at any resolution.

## Results

| data | split | images | resolution | PSNR (dB) |
| --- | --- | --- | --- | --- |
| {data} | {split} | {count} | {resolution} | {psnr:.2f} |

PSNR is the mean over images of each image's PSNR, with outputs clamped to [0, 1].
Trained for {steps} steps ({minutes:.1f} minutes on {hardware}).

"""
    + _REPRODUCE
    + """
## Use

```python
import torch
from ginr_core import {class_name}

model = {class_name}.from_pretrained("{repo_or_path}")
images = torch.rand(1, 3, {resolution}, {resolution})   # your images, pixels in [0, 1]
latents = model.encode(images)
x2 = model.render_image(latents, {resolution2})            # (1, 3, {resolution2}, {resolution2})
```

"""
    + _TRAINING_CONFIGURATION
)


NVS_CARD = (
    """
# {class_name} trained with ginr for novel view synthesis

A generalizable implicit neural representation ([ginr](https://arxiv.org/abs/2310.05624) family
`{family}`) of light fields: its encoder turns 1 to {num_views} posed {resolution} x {resolution} views of
an object (RGB plus the Plücker coordinates of each pixel's ray) into {num_latents} latent tokens,
and its decoder predicts the colour of any ray, i.e. renders unseen views, with no volume rendering.

## Results

Novel-view PSNR on held-out objects ({data}, split {split}, {count} test items: each test object
with seeded random support and query views), by number of support views:

| support views | PSNR (dB) |
| --- | --- |
{rows}

PSNR is the mean over items of each predicted view's PSNR, with outputs clamped to [0, 1].
Trained for {steps} steps ({minutes:.1f} minutes on {hardware}).

"""
    + _REPRODUCE
    + """
## Use

```python
import torch
from ginr_core import {class_name}, plucker_rays

model = {class_name}.from_pretrained("{repo_or_path}")
rgb = torch.rand(2, 3, {resolution}, {resolution})            # two support views, pixels in [0, 1]
poses = torch.eye(4).repeat(2, 1, 1)                      # their camera-to-world matrices (Blender/NeRF)
rays = plucker_rays(poses, focal=40.0, height={resolution}, width={resolution})   # (2, H, W, 6)
support = torch.cat([rgb, rays.permute(0, 3, 1, 2)], 1)[None]   # (1, V, 9, H, W)
novel = plucker_rays(torch.eye(4), 40.0, 64, 64).view(1, -1, 6)  # any camera, any resolution
colours = model(support, novel)                            # (1, 64 * 64, 3)
```

"""
    + _TRAINING_CONFIGURATION
)


def write_model_card(model_dir: str | Path, *, model, metrics: dict, command: str, config_yaml: str) -> None:
    """Replace the default card of ``save_pretrained`` with one that states what was measured and how."""
    from huggingface_hub import ModelCard, ModelCardData

    data_source = metrics["data"]["source"]
    card_data = ModelCardData(
        library_name="ginr",
        license="apache-2.0",
        tags=["ginr", "implicit-neural-representation", model.family],
        metrics=["psnr"],
        datasets=[data_source] if "/" in data_source and not Path(data_source).exists() else None,
    )
    nvs = metrics["data"].get("task") == "nvs"
    rows = "\n".join(f"| {k.split()[0]} | {v:.2f} |" for k, v in metrics["test"].get("by_setting", {}).items())
    text = (NVS_CARD if nvs else CARD).format(
        rows=rows,
        num_views=model.num_views,
        class_name=type(model).__name__,
        family=model.family,
        resolution=model.image_size[0],
        resolution2=2 * model.image_size[0],
        num_latents=model.num_latents,
        data=data_source,
        split=metrics["data"]["test_split"],
        count=metrics["test"]["images"],
        psnr=metrics["test"]["psnr"],
        steps=metrics["steps"],
        minutes=metrics["train_minutes"],
        hardware=metrics["hardware"],
        command=command,
        repo_or_path="<user>/<model> or a local folder",
        config_yaml=config_yaml,
    )
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n{text}")
    card.save(Path(model_dir) / "README.md")
