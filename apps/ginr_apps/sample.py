"""Generate images with a saved latent prior: a PNG grid, one row per class.

    python apps/sample.py runs/prior/pipeline                          # every class, 8 samples each
    python apps/sample.py runs/prior/pipeline --classes 3 7 --per-class 4 --guidance 2.5 --resolution 128
    python apps/sample.py <user>/ginr-prior-imagenet --classes 207 --steps 250 --seed 1 --output dog.png

PIPELINE is a ``LatentINRPipeline`` saved by ``apps/train_prior.py`` (a folder or a Hub repo id).
Images are decoded by the INR at ``--resolution`` (default: its training resolution).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ginr_diffusion import LatentINRPipeline

from .cli import at_least
from .figures import image_grid, save_png


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="a saved LatentINRPipeline (folder or Hub repo id)")
    parser.add_argument(
        "--classes", type=at_least(0), nargs="+", help="class labels (default: all; unconditional: ignored)"
    )
    parser.add_argument("--per-class", type=at_least(1), default=8)
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale (1: off)")
    parser.add_argument("--steps", type=at_least(1), default=250, help="denoising steps")
    parser.add_argument("--resolution", type=at_least(1), help="output size in pixels")
    parser.add_argument("--seed", type=at_least(0), default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path, default=Path("samples.png"))
    args = parser.parse_args(argv)

    pipe = LatentINRPipeline.from_pretrained(args.pipeline).to(args.device)
    num_classes = pipe.denoiser.config.num_classes
    classes = args.classes if args.classes is not None else list(range(num_classes))
    rows = []
    try:
        for k, c in enumerate(classes or [None]):
            images = pipe(
                class_labels=[c] * args.per_class if c is not None else None,
                batch_size=args.per_class,
                guidance_scale=args.guidance,
                num_inference_steps=args.steps,
                resolution=args.resolution,
                generator=torch.Generator().manual_seed(args.seed * 10_007 + k),
                output_type="pt",
            ).images
            rows.append(list(images.cpu()))
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    cell = max(64, rows[0][0].shape[-1])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_png(image_grid(rows, cell=cell), args.output)
    print(f"wrote {args.output}: {len(rows)} row(s) of {args.per_class} samples", flush=True)
    return args.output


def run() -> None:
    """The console entry point (``apps/sample.py``, ``ginr-sample``)."""
    main()
