"""Generate images with a saved latent prior: a PNG grid, one row per class.

    python apps/sample.py runs/prior/pipeline                          # every class, 8 samples each
    python apps/sample.py runs/prior/pipeline --classes 3 7 --per-class 4 --guidance 2.5 --resolution 128
    python apps/sample.py <user>/ginr-prior-imagenet --classes "golden retriever" 207 --steps 250 --output dog.png
    accelerate launch --multi_gpu --num_processes 8 apps/sample.py <user>/ginr-prior-imagenet --dtype bfloat16

PIPELINE is a ``LatentINRPipeline`` saved by ``apps/train_prior.py`` (a folder or a Hub repo id).
Classes are ids or names (the pipeline's ``id2label``). Images are decoded by the INR at
``--resolution`` (default: its training resolution). Under ``accelerate launch`` the rows are
shared out between the processes; every row has its own seed, so the grid is the same whatever
the number of processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import gather_object, parse_flag_from_env
from tqdm.auto import tqdm

from ginr_diffusion import LatentINRPipeline

from .cli import at_least, checked_source, fail
from .figures import image_grid, save_png

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def sampling_dtype(name: str, device: torch.device) -> torch.dtype:
    """``--dtype``: a name, or ``auto`` (bfloat16 on GPUs that have it, float32 elsewhere: bf16 is slow on CPUs)."""
    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return DTYPES[name]


def process_state(device: str | None) -> PartialState:
    """This process's place under ``accelerate launch`` (one process otherwise). ``PartialState`` does not read
    the launcher's ``ACCELERATE_USE_CPU`` (``Accelerator`` does): without it, CPU ranks would each run alone."""
    return PartialState(cpu=device == "cpu" or parse_flag_from_env("ACCELERATE_USE_CPU"))


def load_pipeline(source: str, device: str | None, dtype: str) -> tuple[LatentINRPipeline, PartialState]:
    """The pipeline on this process's device (``accelerate launch`` gives each process its own) in ``dtype``."""
    state = process_state(device)
    target = torch.device(device) if device else state.device
    try:
        pipe = LatentINRPipeline.from_pretrained(checked_source(source, "pipeline"))
    except (OSError, ValueError) as err:  # not cached offline, a pipeline that does not load
        fail(str(err))
    wanted = sampling_dtype(dtype, target)
    pipe = pipe.to(target) if wanted == pipe.denoiser.dtype else pipe.to(device=target, dtype=wanted)
    pipe.set_progress_bar_config(disable=True)
    return pipe, state


def class_ids(pipe: LatentINRPipeline, classes: list[str]) -> list[int]:
    """``--classes``: ids or names (any synonym in the pipeline's ``id2label``)."""
    return [int(c) if c.strip().isdigit() else pipe.get_label_ids(c)[0] for c in classes]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="a saved LatentINRPipeline (folder or Hub repo id)")
    parser.add_argument("--classes", nargs="+", help="class ids or names (default: all; unconditional: ignored)")
    parser.add_argument("--per-class", type=at_least(1), default=8)
    parser.add_argument(
        "--guidance", type=float, help="classifier-free guidance scale (default: 2.5 with classes; 1: off)"
    )
    parser.add_argument("--steps", type=at_least(1), default=50, help="denoising steps (250: the paper's FID protocol)")
    parser.add_argument("--resolution", type=at_least(1), help="output size in pixels")
    parser.add_argument("--seed", type=at_least(0), default=0)
    parser.add_argument("--dtype", choices=("auto", *DTYPES), default="auto", help="weights and activations")
    parser.add_argument("--device", help="default: the process's device (accelerate launch), else cuda or cpu")
    parser.add_argument("--output", type=Path, default=Path("samples.png"))
    args = parser.parse_args(argv)

    pipe, state = load_pipeline(args.pipeline, args.device, args.dtype)
    num_classes = pipe.denoiser.config.num_classes
    try:
        classes = class_ids(pipe, args.classes) if args.classes and num_classes else list(range(num_classes))
        rows = {}
        mine = range(state.process_index, max(len(classes), 1), state.num_processes)
        for k in tqdm(mine, desc="sampling", disable=not state.is_local_main_process):
            c = classes[k] if classes else None
            images = pipe(
                class_labels=[c] * args.per_class if c is not None else None,
                batch_size=args.per_class,
                guidance_scale=args.guidance,
                num_inference_steps=args.steps,
                resolution=args.resolution,
                generator=torch.Generator().manual_seed(args.seed * 10_007 + k),
                output_type="pt",
            ).images
            rows[k] = list(images.float().cpu())
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    gathered = gather_object([rows]) if state.num_processes > 1 else [rows]
    if state.is_main_process:
        merged = {k: v for part in gathered for k, v in part.items()}
        ordered = [merged[k] for k in sorted(merged)]
        cell = max(64, ordered[0][0].shape[-1])
        args.output.parent.mkdir(parents=True, exist_ok=True)
        save_png(image_grid(ordered, cell=cell), args.output)
        print(
            f"wrote {args.output}: {len(ordered)} row(s) of {args.per_class} samples"
            + (f" ({state.num_processes} processes)" if state.num_processes > 1 else ""),
            flush=True,
        )
    state.wait_for_everyone()
    return args.output


def run() -> None:
    """The console entry point (``apps/sample.py``, ``ginr-sample``)."""
    main()
