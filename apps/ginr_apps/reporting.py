"""What a run shows a person: picture grids, the model card, the command that made it."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, ImageDraw

__all__ = [
    "command_line",
    "dataset_label",
    "image_grid",
    "inr_model_card",
    "prior_model_card",
    "save_gif",
    "save_png",
    "write_model_card",
]


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


PRIOR_CARD = (
    """
# Latent diffusion prior trained with ginr

A `LatentINRPipeline` ([ginr](https://arxiv.org/abs/2310.05624), Sec. 4.4 of the paper): a diffusion
prior (`LatentDenoiser`, {parameters:,} parameters, {conditioning}) over the {num_latents} latent tokens
of a frozen `{inr_class}` trained on {inr_data}. It samples latents with DDIM and classifier-free
guidance, and the INR decodes them into images at any resolution.

## Results

{results}

{training}

"""
    + _REPRODUCE
    + """
## Use

```python
import torch
from ginr_diffusion import LatentINRPipeline

pipe = LatentINRPipeline.from_pretrained("{repo_or_path}")
images = pipe({call}, guidance_scale=2.5, num_inference_steps=50,
              resolution={resolution2}, generator=torch.Generator().manual_seed(0)).images   # PIL images
images[0].save("sample.png")
```
"""
)

PLACEHOLDER_REPO = "<user>/<model> or a local folder"


def dataset_label(source: str) -> str:
    """What a card may say about training data: a Hub dataset id or an embedded name as is, a local path by its name."""
    if source.startswith(("/", ".", "~")) or Path(source).exists() or "\\" in source:
        return Path(source).name or "local images"
    return source


def _is_hub_dataset(source: str) -> bool:
    return "/" in source and dataset_label(source) == source


def _card(text: str, *, tags: list[str], metrics: list[str], datasets: list[str], results, model_name: str):
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="ginr",
        license="apache-2.0",
        tags=tags,
        metrics=metrics or None,
        datasets=datasets or None,
        model_name=model_name if results else None,
        eval_results=results or None,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{text}")


def _views(setting: str) -> str:
    """ "1 views" -> "1 support view", "3 views" -> "3 support views"."""
    count = int(setting.split()[0])
    return f"{count} support view{'' if count == 1 else 's'}"


def inr_model_card(model, metrics: dict, repo_id: str | None = None):
    """The card of an INR trained by ``apps/train.py``: results table, command, usage, configuration.

    Its metadata is Hub metadata (``library_name``, ``tags``, ``license``, ``datasets`` when the data is
    a Hub dataset) with the measured test PSNR as ``model-index`` results.
    """
    from huggingface_hub import EvalResult

    source, split = metrics["data"]["source"], metrics["data"]["test_split"]
    label = dataset_label(source)
    nvs = metrics["data"].get("task") == "nvs"
    by_setting = metrics["test"].get("by_setting", {})
    common = {"dataset_type": label, "dataset_name": label, "dataset_split": split, "metric_type": "psnr"}
    if nvs:
        results = [
            EvalResult(
                task_type="image-to-3d",
                task_name="Novel view synthesis",
                metric_name=f"PSNR (dB), {_views(setting)}",
                metric_value=round(value, 2),
                **common,
            )
            for setting, value in by_setting.items()
        ]
    else:
        results = [
            EvalResult(
                task_type="image-to-image",
                task_name="Image reconstruction",
                metric_name=f"PSNR (dB) at {model.image_size[0]} px",
                metric_value=round(metrics["test"]["psnr"], 2),
                **common,
            )
        ]
    rows = "\n".join(f"| {k.split()[0]} | {v:.2f} |" for k, v in by_setting.items())
    config_yaml = (
        yaml.safe_dump(json.loads(json.dumps(metrics["config"])), sort_keys=False) if "config" in metrics else ""
    )
    text = (NVS_CARD if nvs else CARD).format(
        rows=rows,
        num_views=model.num_views,
        class_name=type(model).__name__,
        family=model.family,
        resolution=model.image_size[0],
        resolution2=2 * model.image_size[0],
        num_latents=model.num_latents,
        data=label,
        split=split,
        count=metrics["test"]["images"],
        psnr=metrics["test"]["psnr"],
        steps=metrics["steps"],
        minutes=metrics["train_minutes"],
        hardware=metrics["hardware"],
        command=metrics["command"],
        repo_or_path=repo_id or PLACEHOLDER_REPO,
        config_yaml=config_yaml,
    )
    task_tag = "novel-view-synthesis" if nvs else "image-reconstruction"
    return _card(
        text,
        tags=["ginr", "implicit-neural-representation", model.family, task_tag],
        metrics=["psnr"],
        datasets=[source] if _is_hub_dataset(source) else [],
        results=results,
        model_name=(repo_id or type(model).__name__).split("/")[-1],
    )


def write_model_card(model_dir: str | Path, *, model, metrics: dict) -> None:
    """Replace the default card of ``save_pretrained`` with one that states what was measured and how."""
    inr_model_card(model, metrics).save(Path(model_dir) / "README.md")


def prior_model_card(
    pipeline, metrics: dict, fid: dict | None = None, repo_id: str | None = None, samples: dict | None = None
):
    """The card of a ``LatentINRPipeline`` trained by ``apps/train_prior.py``. FID from
    ``apps/evaluate_prior.py`` (``fid``) and the class accuracy of samples from
    ``benchmarks/prior_quality_bar.py`` (``samples``) go into the table and the ``model-index``."""
    from huggingface_hub import EvalResult

    denoiser, inr = pipeline.denoiser, pipeline.inr.inr
    classes = denoiser.config.num_classes
    results, table = [], "Not evaluated yet: `python apps/evaluate_prior.py PIPELINE` measures FID."
    if samples is not None:
        label = dataset_label(samples["reference"])
        results += [
            EvalResult(
                task_type="image-generation",
                task_name="Class-conditional image generation",
                dataset_type=label,
                dataset_name=label,
                dataset_split=samples["split"],
                metric_type="accuracy",
                metric_name=f"class accuracy of samples, guidance {guidance}",
                metric_value=round(value, 4),
            )
            for guidance, value in samples["class_accuracy"].items()
        ]
        rows = "\n".join(
            f"| class accuracy of samples, guidance {g} | {v:.1%} |" for g, v in samples["class_accuracy"].items()
        )
        table = (
            f"| measure ({samples['num_samples']} samples, {samples['num_inference_steps']} DDIM steps) | value |\n"
            f"| --- | --- |\n{rows}\n"
            f"| Fréchet distance of sample latents to held-out latents (diagonal Gaussian: "
            f"{samples['latent_frechet_diagonal_gaussian']:.1f}) | {samples['latent_frechet']:.1f} |\n"
            f"| nearest training image, RMS per pixel, closest sample (closest held-out image: "
            f"{samples['nearest_training_rms_min_held_out']:.3f}) | {samples['nearest_training_rms_min']:.3f} |\n\n"
            f"Classes judged by a {samples['classifier']}."
        )
    if fid is not None:
        label = dataset_label(fid["reference"])
        results += [
            EvalResult(
                task_type="unconditional-image-generation" if not classes else "image-generation",
                task_name="Class-conditional image generation" if classes else "Image generation",
                dataset_type=label,
                dataset_name=label,
                dataset_split=fid["split"],
                metric_type="fid",
                metric_name=f"FID ({fid['num_samples']} samples, guidance {fid['guidance_scale']})",
                metric_value=round(fid["fid"], 2),
            )
        ]
        table = ("" if samples is None else table + "\n\n") + (
            "| FID | samples | reference | guidance | DDIM steps |\n| --- | --- | --- | --- | --- |\n"
            f"| {fid['fid']:.2f} | {fid['num_samples']} | {label} ({fid['split']}, {fid['reference_images']} images) "
            f"| {fid['guidance_scale']} | {fid['num_inference_steps']} |\n\n"
            "FID on Inception-v3 pool features (the pytorch-fid weights); with fewer than 10k samples it is biased "
            "upwards, so compare runs at equal sample counts."
        )
    call = "class_labels=[0, 1]" if classes else "batch_size=2"
    text = PRIOR_CARD.format(
        parameters=sum(p.numel() for p in denoiser.parameters()),
        conditioning=f"{classes} classes" if classes else "unconditional",
        num_latents=denoiser.config.num_latents,
        inr_class=type(inr).__name__,
        inr_data=dataset_label(str(metrics.get("data", "its images"))),
        results=table,
        training=f"Trained for {metrics['steps']} steps ({metrics['train_minutes']:.1f} minutes)." if metrics else "",
        command=metrics.get("command", ""),
        repo_or_path=repo_id or PLACEHOLDER_REPO,
        call=call,
        resolution2=2 * inr.image_size[0],
    )
    return _card(
        text,
        tags=["ginr", "implicit-neural-representation", "diffusion", "latent-diffusion", "image-generation"],
        metrics=(["fid"] if fid is not None else []) + (["accuracy"] if samples is not None else []),
        datasets=[fid["reference"]] if fid is not None and _is_hub_dataset(fid["reference"]) else [],
        results=results,
        model_name=(repo_id or "LatentINRPipeline").split("/")[-1],
    )
