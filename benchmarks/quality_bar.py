"""The image quality bar: does the default run learn spatial detail of photographs it never saw,
of its own kind and of other kinds?

    python benchmarks/quality_bar.py                   # runs `accelerate launch apps/train.py` (default run)
    python benchmarks/quality_bar.py --run-dir runs/default     # score an existing run instead

Prints the mean per-image PSNR (of the raw outputs, as the paper scores them) of:

* each crop's own flat average colour (knows the colour, no structure);
* 8 x 8 average pooling upsampled bilinearly (a 4 x 4 thumbnail per crop: coarse structure);
* the trained model, zero-shot (encode, decode the full grid);

on the run's held-out test crops (32 x 32 crops of embedded photographs never seen in training),
on each extra held-out split of the run (the default: ``smooth``, crops of the test photographs'
smooth regions, where a model's own grain shows), and on each held-out set of other kinds of
photographs in ``heldout_photos.py`` (outdoor scenes, close-ups, greyscale, a portrait, a
document, smooth crops), plus the run's training time. The bar: training under 10 minutes on 2 CPU
cores; the model beats the 8 x 8 pooling reference by at least 1 dB on every other kind of
photograph, and by any margin on the embedded sets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from _runs import timed_training_run
from heldout_photos import INSTALL, SETS

from ginr_apps.evaluation import psnr_per_image
from ginr_core import GeneralizableINR, psnr
from ginr_core.fitting import refine_latents
from ginr_data import image_dataset


def references(images: torch.Tensor) -> dict[str, float]:
    """Mean per-image PSNR of the flat-colour and 8 x 8-pooling references on ``(B, 3, H, W)`` images."""
    flat = images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    pooled = F.interpolate(F.avg_pool2d(images, 8), size=images.shape[-2:], mode="bilinear", align_corners=False)
    return {"flat colour": psnr(flat, images).mean().item(), "8x8 pooling": psnr(pooled, images).mean().item()}


OTHER_KINDS_MARGIN = 1.0  # dB over the 8 x 8 pooling on every held-out set of another kind


def score(model, name: str, test, size: int, refine_steps: int = 0) -> dict[str, float]:
    """The references' and the model's mean per-image PSNR on the first ``size`` items of ``test``; with
    ``refine_steps``, also after that many steps of test-time optimisation of the latents (all the crops as
    one batch, each its own loss: ``refine_latents``), outside the bar."""
    images = torch.stack([test[i]["image"] for i in range(size)])
    scores = psnr_per_image(model, test, list(range(size)))
    table = {**references(images), name: sum(scores.values()) / len(scores)}
    if refine_steps:
        fit = refine_latents(model, images.to(model.device, model.dtype), steps=refine_steps, progress=False)
        per_crop = fit.history[-1]["seconds"] / size
        table[f"after {refine_steps} TTO steps ({per_crop:.2f} s/crop)"] = fit.best_psnr
    return table


def report(title: str, table: dict[str, float], name: str) -> float:
    print(f"\n{title}")
    for label, value in table.items():
        print(f"  {label:<34} {value:6.2f} dB")
    margin = table[name] - table["8x8 pooling"]
    print(f"  margin over 8x8 pooling: {margin:+.2f} dB")
    return margin


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="an existing run of apps/train.py (default: train one now)")
    parser.add_argument("--crops", type=int, default=64, help="crops per held-out set of another kind")
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="also report each set after this many test-time optimisation steps (outside the bar)",
    )
    parser.add_argument("train_args", nargs="*", help="extra arguments for apps/train.py when training here")
    args = parser.parse_args(argv)

    seconds, run_dir = None, args.run_dir
    if run_dir is None:
        run_dir, seconds = timed_training_run("ginr-quality-bar-", args.train_args)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data = metrics["config"]["data"]
    model = GeneralizableINR.from_pretrained(run_dir / "model")
    name = f"{type(model).__name__} (default run)"
    tables, met = {}, True
    for split in [data["test_split"], *data.get("extra_test_splits", [])]:
        test = image_dataset(data["source"], split, resolution=data["resolution"], train=False)
        size = (
            len(test) if data["test_size"] is None or split != data["test_split"] else min(data["test_size"], len(test))
        )
        tables[split] = score(model, name, test, size, args.refine_steps)
        title = f"{size} held-out {data['resolution']} x {data['resolution']} crops, split {split!r} (embedded)"
        met = report(title, tables[split], name) > 0 and met
    for kind in SETS.values():
        if kind.missing():
            print(f"\nset {kind.name!r} skipped: {', '.join(map(str, kind.missing()))} missing ({INSTALL})")
            met = False
            continue
        test = kind.crops(resolution=data["resolution"], size=args.crops)
        tables[kind.name] = score(model, name, test, len(test), args.refine_steps)
        title = f"{len(test)} crops of {data['resolution']} px, {kind.description}"
        met = report(title, tables[kind.name], name) >= OTHER_KINDS_MARGIN and met
    minutes = metrics["train_minutes"]
    print(f"\ntraining: {metrics['steps']} steps, {minutes:.1f} min of training on {metrics['hardware']}")
    if seconds is not None:
        print(f"whole run (start-up, training, evaluation, outputs): {seconds / 60:.1f} min")
    verdict = "met" if met and minutes < 10 else "NOT met"
    print(f"bar (+{OTHER_KINDS_MARGIN:g} dB over 8x8 pooling on other kinds, > 0 on embedded, < 10 min): {verdict}")
    return {"references": tables, "run_seconds": seconds, "metrics": metrics}


if __name__ == "__main__":
    main()
