"""Train a diffusion prior over the latent tokens of a frozen INR (Sec. 4.4), with Accelerate.

    accelerate launch apps/train_prior.py --inr runs/digits-inr/model            # the labeled default (digits)
    accelerate launch apps/train_prior.py --inr runs/digits-inr/model --max-steps 20000 --preset tiny
    accelerate launch apps/train_prior.py --inr <user>/locinr-imagenet --data /data/imagenet --preset paper
    accelerate launch apps/train_prior.py --inr ... --output-dir runs/prior --resume

1. Encodes the training images once with the frozen INR into a latent cache on disk (reused by
   later runs; its name is a hash of the INR's weights and the data, so a new INR or other data
   never reuse stale latents).
2. Fits the per-token, per-channel standardisation in one streaming pass (stored in the denoiser).
3. Trains the ``LatentDenoiser`` (x0 targets, DDPM with linear betas and T = 1000, class labels
   dropped to the null label with p = 0.1) with Adam at a constant learning rate and an EMA of the
   weights (diffusers ``EMAModel``, decay 0.9999 with its step-dependent warm-up), checkpointing the
   Accelerate state atomically (resume is exact).
4. Saves the ``LatentINRPipeline`` (EMA denoiser, DDIM scheduler, the INR) with a model card to
   ``<output>/pipeline`` and a grid of samples per class to ``<output>/samples.png``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ginr_apps.checkpoints import latest_checkpoint, replace_dir, save_checkpoint, write_json
from ginr_apps.reporting import command_line, image_grid, prior_model_card, save_png
from ginr_core import GeneralizableINR
from ginr_data import cache_dir, image_dataset
from ginr_diffusion import (
    INRDecoder,
    LatentDenoiser,
    LatentINRPipeline,
    LatentStatistics,
    sampling_scheduler,
    training_scheduler,
)


class PriorState:
    """Progress a checkpoint restores besides the denoiser, optimiser, EMA and RNG states."""

    def __init__(self) -> None:
        self.step, self.train_seconds, self.losses = 0, 0.0, []

    def state_dict(self) -> dict:
        return {"step": self.step, "train_seconds": self.train_seconds, "losses": self.losses}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.train_seconds, self.losses = int(state["step"]), float(state["train_seconds"]), state["losses"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inr", required=True, help="a trained INR: save_pretrained folder or Hub repo id")
    parser.add_argument("--data", default="digits", help="training images (an apps/train.py image source)")
    parser.add_argument("--protocol", help="image protocol of --data (e.g. imagenet-256)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--preset", default="tiny", choices=("tiny", "paper"), help="denoiser size")
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64, help="total over all processes")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--ema-decay", type=float, default=0.9999)
    parser.add_argument("--class-dropout", type=float, default=0.1)
    parser.add_argument("--unconditional", action="store_true", help="ignore labels even if the data has them")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--keep-checkpoints", type=int, default=2)
    parser.add_argument("--sample-steps", type=int, default=50, help="DDIM steps of the final sample grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("runs/prior"))
    parser.add_argument("--cache-dir", type=Path, help="latent cache (default: $GINR_CACHE/latents)")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    for name in ("max_steps", "batch_size", "checkpoint_every", "keep_checkpoints", "sample_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 < args.ema_decay < 1 or not 0 <= args.class_dropout < 1 or args.lr <= 0:
        parser.error("--ema-decay must be in (0, 1), --class-dropout in [0, 1) and --lr positive")
    return args


def _fingerprint(inr: GeneralizableINR, data_key: dict) -> str:
    digest = hashlib.sha256(json.dumps(data_key, sort_keys=True).encode())
    digest.update(json.dumps(inr.config, sort_keys=True).encode())
    for name, tensor in sorted(inr.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


@torch.no_grad()
def encode_dataset(inr, dataset, batch_size: int, device, show: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(N, R, D)`` latents and ``(N,)`` labels (None if the data has none) of every item."""
    latents, labels = [], []
    for start in tqdm(range(0, len(dataset), batch_size), desc="encoding latents", disable=not show):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        images = torch.stack([item["image"] for item in items]).to(device)
        latents.append(inr.encode(images).float().cpu())
        if "label" in items[0]:
            labels.extend(int(item["label"]) for item in items)
    return torch.cat(latents), (torch.tensor(labels) if labels else None)


def latent_cache(args, inr, accelerator) -> tuple[torch.Tensor, torch.Tensor | None, Path]:
    """The training set's latents: read from the cache, or encoded once (on the main process) and cached."""
    resolution = inr.image_size[0]
    key = {"data": str(args.data), "protocol": args.protocol, "split": args.split, "resolution": resolution}
    if Path(str(args.data)).exists():  # a local folder or saved dataset: new or edited files change the key
        key["modified"] = Path(str(args.data)).stat().st_mtime_ns
    folder = args.cache_dir or cache_dir() / "latents"
    path = folder / f"{_fingerprint(inr, key)}.safetensors"
    if accelerator.is_main_process and not path.is_file():
        dataset = image_dataset(
            args.data, args.split, protocol=args.protocol, resolution=None if args.protocol else resolution, train=False
        )
        latents, labels = encode_dataset(inr, dataset, 64, accelerator.device, show=True)
        tensors = {"latents": latents.contiguous()}
        if labels is not None:
            tensors["labels"] = labels
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp), metadata={"key": json.dumps(key)})
        os.replace(tmp, path)
    accelerator.wait_for_everyone()
    stored = load_file(str(path))
    return stored["latents"], stored.get("labels"), path


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out, checkpoints = args.output_dir, args.output_dir / "checkpoints"
    resume_from = latest_checkpoint(checkpoints)
    if args.resume and resume_from is None:
        raise SystemExit(f"error: --resume: no checkpoint in {checkpoints}")
    if not args.resume and (resume_from is not None or (out / "pipeline").exists()):
        raise SystemExit(f"error: {out} already holds a run; pass --resume or choose another --output-dir")
    accelerator = Accelerator()
    set_seed(args.seed)
    main_process = accelerator.is_main_process
    inr = GeneralizableINR.from_pretrained(args.inr).to(accelerator.device).eval().requires_grad_(False)
    if inr.d_in != 2:
        raise SystemExit(f"error: {args.inr} is not an image INR (d_in={inr.d_in}); priors generate images")
    latents, labels, cache_path = latent_cache(args, inr, accelerator)
    if args.unconditional:
        labels = None
    num_classes = int(labels.max()) + 1 if labels is not None else 0

    stats = LatentStatistics()
    for chunk in latents.split(1024):
        stats.update(chunk)
    denoiser = LatentDenoiser.from_preset(
        args.preset,
        num_latents=latents.shape[1],
        latent_dim=latents.shape[2],
        num_classes=num_classes,
        class_dropout=args.class_dropout,
    )
    denoiser.set_latent_statistics(stats.mean.float(), stats.std())
    data = denoiser.standardize(latents).to(accelerator.device)
    labels = labels.to(accelerator.device) if labels is not None else None
    scheduler = training_scheduler()
    ema = EMAModel(denoiser.parameters(), decay=args.ema_decay)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=args.lr)
    denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    ema.to(accelerator.device)
    state = PriorState()
    accelerator.register_for_checkpointing(ema, state)
    if args.resume:
        accelerator.load_state(str(resume_from))
        if main_process:
            print(f"resumed from {resume_from} at step {state.step}", flush=True)
    world, rank = accelerator.num_processes, accelerator.process_index
    if args.batch_size % world:
        raise SystemExit(f"error: --batch-size {args.batch_size} must be divisible by the {world} processes")
    per_process = args.batch_size // world
    mine = slice(rank * per_process, (rank + 1) * per_process)
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        params = sum(p.numel() for p in accelerator.unwrap_model(denoiser).parameters())
        print(
            f"LatentDenoiser ({args.preset}): {params:,} parameters | {len(data)} latents {tuple(data.shape[1:])} "
            f"from {cache_path} | {num_classes or 'no'} classes | {args.max_steps} steps of {args.batch_size}",
            flush=True,
        )

    bar = tqdm(total=args.max_steps, initial=state.step, disable=not main_process, desc="training prior")
    started = time.perf_counter() - state.train_seconds
    T = scheduler.config.num_train_timesteps
    denoiser.train()
    while state.step < args.max_steps:
        # Every draw is made for the whole global batch and depends on (seed, step) only, so it is the same on
        # every process and after a resume; each process then takes its slice. N processes thus train on the
        # same batches as one (DDP averages the slices' gradients into the full batch's gradient).
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + state.step)
        pick = torch.randint(0, len(data), (args.batch_size,), generator=g)
        t = torch.randint(0, T, (args.batch_size,), generator=g)
        noise = torch.randn((args.batch_size, *data.shape[1:]), generator=g)
        y = None
        if labels is not None:
            y = accelerator.unwrap_model(denoiser).drop_labels(labels[pick.to(labels.device)], g)[mine]
        pick, t, noise = pick[mine].to(data.device), t[mine].to(data.device), noise[mine].to(data.device)
        x0 = data[pick]
        x_t = scheduler.add_noise(x0, noise, t)
        loss = F.mse_loss(denoiser(x_t, t, y), x0)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.step(accelerator.unwrap_model(denoiser).parameters())
        state.step += 1
        state.train_seconds = time.perf_counter() - started
        bar.update(1)
        if state.step % 50 == 0:
            mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()  # over all processes
            state.losses.append([state.step, mean_loss])
            bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
        if state.step % args.checkpoint_every == 0 and state.step < args.max_steps:
            save_checkpoint(accelerator, checkpoints, state.step, args.keep_checkpoints)
    bar.close()
    save_checkpoint(accelerator, checkpoints, state.step, args.keep_checkpoints)

    result = {"steps": state.step, "train_minutes": state.train_seconds / 60, "classes": num_classes}
    if main_process:
        final = copy.deepcopy(accelerator.unwrap_model(denoiser)).eval()
        ema.copy_to(final.parameters())  # the EMA weights are the ones that sample
        pipe = LatentINRPipeline(final, sampling_scheduler(scheduler.config), INRDecoder.from_inr(inr))
        result.update(
            command=command_line(),
            inr=str(args.inr),
            data=str(args.data),
            latent_cache=str(cache_path),
            final_loss=state.losses[-1][1] if state.losses else math.nan,
            losses=state.losses,
        )

        def fill(folder: Path) -> None:
            pipe.save_pretrained(folder)
            prior_model_card(pipe, result).save(folder / "README.md")

        replace_dir(out / "pipeline", fill)
        pipe.set_progress_bar_config(disable=True)
        per_class = 8
        rows = []
        for c in range(max(num_classes, 1)):
            labels_c = [c] * per_class if num_classes else None
            images = pipe(
                class_labels=labels_c,
                batch_size=per_class,
                num_inference_steps=args.sample_steps,
                generator=torch.Generator().manual_seed(args.seed + c),
                output_type="pt",
            ).images
            rows.append(list(images.cpu()))
        save_png(image_grid(rows, cell=64), out / "samples.png")
        write_json(out / "metrics.json", result)
        print(
            f"trained the prior for {state.step} steps ({state.train_seconds / 60:.1f} min); wrote {out}/pipeline, "
            f"samples.png ({'one row per class' if num_classes else 'unconditional'}), metrics.json",
            flush=True,
        )
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


if __name__ == "__main__":
    main()
