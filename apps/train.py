"""Train a generalizable INR on images, from one CPU to many GPUs (Hugging Face Accelerate).

    accelerate launch apps/train.py                                   # LocINR on the embedded photographs, CPU
    accelerate launch apps/train.py --model ipc --max-steps 500 train.lr=3e-4
    accelerate launch apps/train.py --config apps/configs/ffhq256_locinr.yaml data.source=/data/ffhq
    accelerate launch apps/train.py --output-dir runs/default --resume   # continue from the last checkpoint
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 apps/train.py ...
    accelerate launch --mixed_precision bf16 apps/train.py --config ...  # GPUs (or train.mixed_precision=bf16)

Without ``--config`` the run uses ``apps/configs/default.yaml``: the CPU recipe on 32 x 32 crops of
the embedded photographs, which finishes in under 10 minutes on 2 CPU cores. Settings are
``section.key=value`` arguments (``train.lr=3e-4``, ``model.patch_size=8``, ``data.subsample=0.1``).

The output directory receives ``model/`` (``save_pretrained`` weights, config and a model card
with the measured test PSNR and this command), ``checkpoints/`` (Accelerate state, the last few),
``metrics.json`` (test PSNR, learning curve, settings) and ``reconstructions.png`` (ground truth |
reconstruction | x2 decode of held-out images). Every file is written atomically; an existing run
is never overwritten unless ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from accelerate import Accelerator
from accelerate.utils import broadcast, set_seed
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from ginr_apps.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    prune_checkpoints,
    replace_dir,
    write_json,
)
from ginr_apps.config import ConfigError, RunConfig, load_config, model_kwargs
from ginr_apps.evaluation import psnr_per_image, reconstruct
from ginr_apps.reporting import command_line, image_grid, save_png, write_model_card
from ginr_data import DatasetUnavailableError, ImageLoadError, image_dataset, sample_pixels

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"


class TrainState:
    """Progress that a checkpoint restores besides the model, optimiser, scheduler and RNG states."""

    def __init__(self) -> None:
        self.step, self.skipped, self.train_seconds, self.history = 0, 0, 0.0, []

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "skipped": self.skipped,
            "train_seconds": self.train_seconds,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step, self.skipped = int(state["step"]), int(state["skipped"])
        self.train_seconds, self.history = float(state["train_seconds"]), list(state["history"])


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, RunConfig]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="settings, e.g. train.lr=3e-4")
    parser.add_argument("--config", type=Path, help=f"YAML run configuration (default: {DEFAULT_CONFIG.name})")
    parser.add_argument("--model", choices=("locinr", "ipc", "transinr"), help="model family (model.family)")
    parser.add_argument("--max-steps", type=int, help="training steps (train.max_steps)")
    parser.add_argument("--output-dir", help="where the run writes its files (output_dir)")
    parser.add_argument("--seed", type=int, help="random seed (seed)")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), help="train.mixed_precision (GPUs)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --output-dir from its last checkpoint"
    )
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model.family={args.model}")
    if args.max_steps is not None:
        overrides += [f"train.max_steps={args.max_steps}", "train.epochs=null"]
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.mixed_precision:
        overrides.append(f"train.mixed_precision={args.mixed_precision}")
    try:
        config = load_config(args.config or DEFAULT_CONFIG, overrides)
    except ConfigError as err:
        parser.error(str(err))
    return args, config


def _generator(*key: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def _sample_generators(seed: int, step: int, positions: list[int]) -> list[torch.Generator]:
    """One generator per training sample, keyed by (seed, step, position in the global batch)."""
    return [_generator(seed, step, p) for p in positions]


def _total(accelerator: Accelerator, count: int) -> int:
    """Sum of a per-process count over all processes."""
    return int(accelerator.gather(torch.tensor([count], device=accelerator.device)).sum())


def _epoch_order(size: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def _hardware(accelerator: Accelerator) -> str:
    if accelerator.device.type == "cuda":
        return f"{accelerator.num_processes} x {torch.cuda.get_device_name(accelerator.device)}"
    return f"CPU, {accelerator.num_processes} process(es) x {torch.get_num_threads()} threads"


def evaluate(accelerator: Accelerator, model, dataset, config: RunConfig) -> dict[int, float]:
    """Per-image test PSNR, each process taking every n-th image, gathered without duplicates."""
    size = len(dataset) if config.data.test_size is None else min(config.data.test_size, len(dataset))
    mine = list(range(accelerator.process_index, size, accelerator.num_processes))
    scores = psnr_per_image(
        accelerator.unwrap_model(model),
        dataset,
        mine,
        batch_size=config.train.eval_batch_size,
        chunk_size=config.train.decode_chunk_size or 65536,
        device=accelerator.device,
    )
    per_process = math.ceil(size / accelerator.num_processes)
    index = torch.full((per_process,), -1, dtype=torch.long, device=accelerator.device)
    value = torch.zeros(per_process, dtype=torch.float64, device=accelerator.device)
    for k, (i, v) in enumerate(scores.items()):
        index[k], value[k] = i, v
    index, value = accelerator.gather(index), accelerator.gather(value)
    keep = index >= 0
    return dict(sorted(zip(index[keep].tolist(), value[keep].tolist())))


def save_checkpoint(accelerator: Accelerator, directory: Path, step: int, keep: int) -> None:
    """Accelerate state into ``.tmp-step-N``, then renamed to ``step-N``: a crash leaves the previous one."""
    tmp, final = checkpoint_path(directory, step, tmp=True), checkpoint_path(directory, step)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():  # the same step saved again (e.g. the end of a resumed run)
            shutil.rmtree(final)
        tmp.rename(final)
        prune_checkpoints(directory, keep)
    accelerator.wait_for_everyone()


def main(argv: list[str] | None = None) -> dict:
    args, config = parse_args(argv)
    out = Path(config.output_dir)
    checkpoints = out / "checkpoints"
    resume_from = latest_checkpoint(checkpoints)
    if args.resume and resume_from is None:
        raise SystemExit(f"error: --resume: no checkpoint in {checkpoints}")
    if not args.resume and (resume_from is not None or (out / "model").exists()):
        raise SystemExit(
            f"error: {out} already holds a run; pass --resume to continue it, or choose another --output-dir "
            f"(nothing was changed)"
        )

    # an explicit train.mixed_precision wins; "no" defers to `accelerate launch --mixed_precision` / `accelerate config`
    precision = config.train.mixed_precision
    accelerator = Accelerator(mixed_precision=None if precision == "no" else precision)
    if accelerator.device.type == "cpu":
        # `accelerate launch` sets OMP_NUM_THREADS=1, which halves a 2-core machine: share the cores instead
        local = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(config.train.cpu_threads or max(1, cores // local))
        if accelerator.mixed_precision != "no":
            warnings.warn(
                "mixed precision on CPU: bf16 is ~100x slower than fp32 on CPUs without bf16 units", stacklevel=1
            )
    set_seed(config.seed)
    main_process = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index

    # ---------------------------------------------------------------- data and model
    data = config.data
    common = {"protocol": data.protocol, "resolution": data.resolution, "image_column": data.image_column}
    common["on_error"] = data.on_error
    train_set = image_dataset(data.source, data.train_split, train=True, seed=config.seed, **common)
    # the test set never depends on the run's seed: every run is scored on the same images
    test_set = image_dataset(data.source, data.test_split, train=False, size=data.test_size, **common)
    cls, kwargs = model_kwargs(config.model)
    model = cls(**kwargs)
    resolution = train_set[0]["image"].shape[-1]
    if model.image_size != (resolution, resolution):
        raise SystemExit(
            f"error: the data is {resolution} x {resolution} but the model expects {model.image_size}: "
            f"set data.resolution or model.image_size"
        )
    batch = config.train.batch_size
    if batch % world:
        raise SystemExit(f"error: train.batch_size={batch} must be divisible by the {world} processes")
    per_process = batch // world
    steps_per_epoch = len(train_set) // batch
    if steps_per_epoch == 0:
        raise SystemExit(f"error: {len(train_set)} training images are fewer than train.batch_size={batch}")
    total_steps = config.train.max_steps or math.ceil(config.train.epochs * steps_per_epoch)

    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=config.train.lr,
        betas=config.train.betas,
        weight_decay=config.train.weight_decay,
        fused=fused,
    )
    warmup = config.train.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainState()
    accelerator.register_for_checkpointing(scheduler, state)
    if args.resume:
        accelerator.load_state(str(resume_from))
        if main_process:
            print(f"resumed from {resume_from} at step {state.step}", flush=True)
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        raw = accelerator.unwrap_model(model)
        print(
            f"{type(raw).__name__}: {sum(p.numel() for p in raw.parameters()):,} parameters | "
            f"train {train_set!r} | test {len(test_set)} images | {total_steps} steps of {batch} images "
            f"on {_hardware(accelerator)}",
            flush=True,
        )

    # ---------------------------------------------------------------- training
    bar = tqdm(total=total_steps, initial=state.step, disable=not main_process, desc="training", dynamic_ncols=True)
    started = time.perf_counter() - state.train_seconds
    budget = config.train.time_budget_minutes
    last_psnr, skipped = float("nan"), 0  # skipped: unreadable images since the last sync of the counter
    model.train()
    try:
        while state.step < total_steps:
            epoch, position = divmod(state.step, steps_per_epoch)
            order = _epoch_order(len(train_set), config.seed, epoch)
            steps_left = min(steps_per_epoch - position, total_steps - state.step)
            mine = [
                int(i)
                for s in range(position, position + steps_left)
                for i in order[s * batch + rank * per_process : s * batch + (rank + 1) * per_process]
            ]
            if hasattr(train_set, "set_epoch"):
                train_set.set_epoch(epoch)
            loader = DataLoader(
                Subset(train_set, mine),
                batch_size=per_process,
                num_workers=data.num_workers,
                pin_memory=accelerator.device.type == "cuda",
            )
            for items in loader:
                images = items["image"].to(accelerator.device, non_blocking=True)
                positions = list(range(rank * per_process, (rank + 1) * per_process))
                generators = _sample_generators(config.seed, state.step, positions)
                if data.channel_permutation:
                    order_rgb = torch.stack([torch.randperm(3, generator=g) for g in generators]).to(images.device)
                    images = torch.gather(images, 1, order_rgb[:, :, None, None].expand_as(images))
                # one jitter for the whole global batch keeps a full grid shared (and the decoder fast)
                batch_generator = _generator(config.seed, state.step)
                coords, targets = sample_pixels(images, data.subsample, generators, data.jitter, batch_generator)
                with accelerator.autocast():
                    prediction = model(images, coords, chunk_size=config.train.decode_chunk_size)
                loss = F.mse_loss(prediction.float(), targets)
                accelerator.backward(loss)
                if config.train.grad_clip:
                    accelerator.clip_grad_norm_(model.parameters(), config.train.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                skipped += int(items["skipped"].sum())
                state.train_seconds = time.perf_counter() - started
                bar.update(1)
                if state.step % config.train.log_every == 0:
                    bar.set_postfix(loss=f"{loss.item():.4f}", test_psnr=f"{last_psnr:.2f}", refresh=False)
                evaluating = state.step % config.train.eval_every == 0 and state.step < total_steps
                saving = state.step % config.train.checkpoint_every == 0 and state.step < total_steps
                if evaluating or saving:  # not training time: excluded from train_seconds and the budget
                    pause = time.perf_counter()
                    state.skipped, skipped = state.skipped + _total(accelerator, skipped), 0
                    if evaluating:
                        scores = evaluate(accelerator, model, test_set, config)
                        last_psnr = float(np.mean(list(scores.values())))
                        state.history.append(
                            {"step": state.step, "minutes": state.train_seconds / 60, "test_psnr": last_psnr}
                        )
                        if main_process:
                            bar.write(f"step {state.step}: test PSNR {last_psnr:.2f} dB ({len(scores)} images)")
                        model.train()
                    if saving:
                        save_checkpoint(accelerator, checkpoints, state.step, config.train.keep_checkpoints)
                    started += time.perf_counter() - pause
                stop = budget is not None and state.train_seconds > budget * 60
                if budget is not None:
                    stop = bool(broadcast(torch.tensor([stop], device=accelerator.device)).item())
                if stop:
                    total_steps = state.step
                if state.step >= total_steps:
                    break
    except (KeyboardInterrupt, ImageLoadError) as err:  # keep what was trained, then stop
        if world == 1 and state.step > 0:
            state.skipped, skipped = state.skipped + skipped, 0
            save_checkpoint(accelerator, checkpoints, state.step, config.train.keep_checkpoints)
            saved = checkpoint_path(checkpoints, state.step)
            reason = "interrupted" if isinstance(err, KeyboardInterrupt) else "stopped on an unreadable image"
            print(f"\n{reason}: saved {saved}; continue with --resume", flush=True)
        raise
    bar.close()
    state.skipped, skipped = state.skipped + _total(accelerator, skipped), 0

    # ---------------------------------------------------------------- final evaluation and outputs
    scores = evaluate(accelerator, model, test_set, config)
    test_psnr = float(np.mean(list(scores.values())))
    state.history.append({"step": state.step, "minutes": state.train_seconds / 60, "test_psnr": test_psnr})
    save_checkpoint(accelerator, checkpoints, state.step, config.train.keep_checkpoints)  # --resume can extend
    metrics = {
        "test": {"psnr": test_psnr, "images": len(scores)},
        "steps": state.step,
        "train_minutes": state.train_seconds / 60,
        "skipped_images": state.skipped,
        "world_size": world,
        "hardware": _hardware(accelerator),
        "mixed_precision": accelerator.mixed_precision,
        "command": command_line(),
        "model": {
            "class": cls.__name__,
            "parameters": sum(p.numel() for p in accelerator.unwrap_model(model).parameters()),
        },
        "data": {"source": data.source, "test_split": data.test_split, "resolution": resolution},
        "history": state.history,
        "per_image_test_psnr": scores,
        "config": config.to_dict(),
    }
    if main_process:
        raw = accelerator.unwrap_model(model).eval()
        config_yaml = yaml.safe_dump(json.loads(json.dumps(config.to_dict())), sort_keys=False)

        def fill(folder: Path) -> None:
            raw.save_pretrained(folder)
            write_model_card(folder, model=raw, metrics=metrics, command=metrics["command"], config_yaml=config_yaml)

        replace_dir(out / "model", fill)
        shown = list(scores)[:8]
        images = torch.stack([test_set[i]["image"] for i in shown]).to(accelerator.device)
        recon, double = reconstruct(raw, images), reconstruct(raw, images, 2 * resolution)
        rows = [[images[k], recon[k], double[k]] for k in range(len(shown))]
        titles = ["ground truth", "reconstruction", f"x2 decode ({2 * resolution} px)"]
        save_png(image_grid(rows, cell=max(128, 2 * resolution), titles=titles), out / "reconstructions.png")
        write_json(out / "metrics.json", metrics)
        print(
            f"test PSNR {test_psnr:.2f} dB on {len(scores)} held-out images after {state.step} steps "
            f"({state.train_seconds / 60:.1f} min); wrote {out}/model, metrics.json, reconstructions.png",
            flush=True,
        )
        if state.skipped:
            print(f"warning: {state.skipped} unreadable training images were skipped (see the warnings)", flush=True)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


if __name__ == "__main__":
    try:
        main()
    except (ImageLoadError, DatasetUnavailableError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
