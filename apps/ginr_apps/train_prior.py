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
   state atomically in safetensors + JSON (resume is exact; docs/runs.md).
4. Saves the ``LatentINRPipeline`` (EMA denoiser, DDIM scheduler, the INR) with a model card to
   ``<output>/pipeline`` and a grid of samples per class to ``<output>/samples.png``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save
from tqdm.auto import tqdm

from ginr_core import GeneralizableINR
from ginr_data import cache_dir, image_dataset
from ginr_diffusion import (
    DENOISER_PRESETS,
    LatentDenoiser,
    LatentINRPipeline,
    LatentStatistics,
    sampling_scheduler,
    training_scheduler,
)

from .cards import command_line, prior_model_card
from .checkpoints import RunState, claim_run, latest_checkpoint, resume_run, save_checkpoint
from .config import (
    ConfigError,
    SavedSettings,
    build_section,
    check_top_level,
    load_tree,
    parse_with_overrides,
    run_settings,
    sections_help,
)
from .figures import image_grid, save_png
from .files import replace_dir, write_atomically, write_json
from .guards import non_finite_step, on_termination, run_app, step_is_finite, stop_if_asked
from .seeding import seed_step, step_generator
from .tasks.images import ImageTask


@dataclass
class PriorSettings:
    """The prior and the INR whose latents it learns."""

    inr: str | None = None  # a trained INR: save_pretrained folder or Hub repo id (required)
    preset: str = "tiny"  # denoiser size: tiny or paper (ginr_diffusion.DENOISER_PRESETS)
    class_dropout: float = 0.1  # probability of replacing a label by the null label (classifier-free guidance)
    unconditional: bool = False  # ignore labels even if the data has them
    ema_decay: float = 0.9999  # decay of the EMA of the weights (the weights that sample)


@dataclass
class PriorData:
    """The training images, encoded once into a latent cache."""

    source: str = "digits"  # training images (an apps/train.py image source)
    protocol: str | None = None  # image protocol of the source (e.g. imagenet-256)
    split: str = "train"  # split to encode
    cache_dir: str | None = None  # latent cache (default: $GINR_CACHE/latents)


@dataclass
class PriorTrain:
    """Optimisation and checkpointing."""

    max_steps: int = 4000  # training steps
    batch_size: int = 64  # total over all processes
    lr: float = 1e-4  # Adam learning rate (constant)
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 2  # complete checkpoints kept (the newest)
    sample_steps: int = 50  # DDIM steps of the final sample grid


@dataclass
class PriorRunConfig:
    prior: PriorSettings
    data: PriorData
    train: PriorTrain
    seed: int = 0
    output_dir: str = "runs/prior"


# flag -> (setting, type): shortcuts for the settings used most (any setting: section.key=value)
FLAGS = {
    "--inr": ("prior.inr", str),
    "--preset": ("prior.preset", str),
    "--class-dropout": ("prior.class_dropout", float),
    "--ema-decay": ("prior.ema_decay", float),
    "--data": ("data.source", str),
    "--protocol": ("data.protocol", str),
    "--split": ("data.split", str),
    "--cache-dir": ("data.cache_dir", str),
    "--max-steps": ("train.max_steps", int),
    "--batch-size": ("train.batch_size", int),
    "--lr": ("train.lr", float),
    "--checkpoint-every": ("train.checkpoint_every", int),
    "--keep-checkpoints": ("train.keep_checkpoints", int),
    "--sample-steps": ("train.sample_steps", int),
    "--seed": ("seed", int),
    "--output-dir": ("output_dir", str),
}
SECTIONS = {"prior": PriorSettings, "data": PriorData, "train": PriorTrain}
# what a --resume may change (anything else must be the run's own settings)
RESUME_MAY_CHANGE = ("output_dir", "train.max_steps", "train.checkpoint_every", "train.keep_checkpoints")
RESUME_MAY_CHANGE += ("train.sample_steps", "data.cache_dir")


def load_prior_config(path, overrides: list[str]) -> PriorRunConfig:
    """The prior run's settings: the same files, base files and ``key=value`` overrides as apps/train.py."""
    tree = load_tree(path, overrides)
    check_top_level(tree, [*SECTIONS, "seed", "output_dir"])
    sections = {name: build_section(cls, tree.get(name), name) for name, cls in SECTIONS.items()}
    seed, output_dir = run_settings(tree, path, PriorRunConfig.output_dir)
    config = PriorRunConfig(**sections, seed=seed, output_dir=output_dir)
    train, prior = config.train, config.prior
    if prior.inr is None:
        raise ConfigError("prior.inr: which INR? pass --inr <model folder or repo id>")
    if prior.preset not in DENOISER_PRESETS:
        raise ConfigError(f"prior.preset must be one of {', '.join(DENOISER_PRESETS)}, got {prior.preset!r}")
    for name in ("max_steps", "batch_size", "checkpoint_every", "keep_checkpoints", "sample_steps"):
        if getattr(train, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1, got {getattr(train, name)}")
    if not 0 < prior.ema_decay < 1 or not 0 <= prior.class_dropout < 1 or not 0 < train.lr < math.inf:
        raise ConfigError(
            "prior.ema_decay must be in (0, 1), prior.class_dropout in [0, 1) and train.lr positive and finite, got "
            f"{prior.ema_decay}, {prior.class_dropout} and {train.lr}"
        )
    return config


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, PriorRunConfig]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="settings, e.g. train.lr=3e-4")
    parser.add_argument("--config", type=Path, help="YAML run configuration (same format as apps/train.py's)")
    for flag, (setting, kind) in FLAGS.items():
        parser.add_argument(flag, type=kind, help=f"{setting}")
    parser.add_argument("--unconditional", action="store_true", help="prior.unconditional=true")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output-dir")
    parser.add_argument("--help-config", action="store_true", help="list every setting and exit")
    args, overrides = parse_with_overrides(parser, argv)
    if args.help_config:
        top = {
            "seed": ("int", 0, "seed of every random draw (with the step)"),
            "output_dir": ("str", "runs/prior", "where the run writes its files"),
        }
        print("\n".join(sections_help(SECTIONS, top)))
        raise SystemExit(0)
    for flag, (setting, _) in FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            overrides.append(f"{setting}={value}")
    if args.unconditional:
        overrides.append("prior.unconditional=true")
    try:
        config = load_prior_config(args.config, overrides)
    except ConfigError as err:
        parser.error(str(err))
    return args, config


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


def latent_cache(config: PriorRunConfig, inr, accelerator) -> tuple[torch.Tensor, torch.Tensor | None, Path]:
    """The training set's latents: read from the cache, or encoded once (on the main process) and cached."""
    resolution = inr.image_size[0]
    data = config.data
    key = {"data": str(data.source), "protocol": data.protocol, "split": data.split, "resolution": resolution}
    if Path(str(data.source)).exists():  # a local folder or saved dataset: new or edited files change the key
        key["modified"] = Path(str(data.source)).stat().st_mtime_ns
    folder = Path(data.cache_dir) if data.cache_dir else cache_dir() / "latents"
    path = folder / f"{_fingerprint(inr, key)}.safetensors"
    if accelerator.is_main_process and not path.is_file():
        dataset = image_dataset(
            data.source,
            data.split,
            protocol=data.protocol,
            resolution=None if data.protocol else resolution,
            train=False,
        )
        latents, labels = encode_dataset(inr, dataset, 64, accelerator.device, show=True)
        tensors = {"latents": latents.contiguous()}
        if labels is not None:
            tensors["labels"] = labels
        write_atomically(path, save(tensors, metadata={"key": json.dumps(key)}))
    accelerator.wait_for_everyone()
    stored = load_file(str(path))
    return stored["latents"], stored.get("labels"), path


def main(argv: list[str] | None = None) -> dict:
    args, config = parse_args(argv)
    on_termination()
    out = Path(config.output_dir)
    with claim_run(out, args.resume, final="pipeline"):
        return _train(args, config, out)


def _train(args: argparse.Namespace, config: PriorRunConfig, out: Path) -> dict:
    prior, train = config.prior, config.train
    checkpoints = out / "checkpoints"
    accelerator = Accelerator()
    set_seed(config.seed)
    main_process = accelerator.is_main_process
    inr = GeneralizableINR.from_pretrained(prior.inr).to(accelerator.device).eval().requires_grad_(False)
    if not ImageTask.accepts(inr):
        raise SystemExit(f"error: {prior.inr} is not an image INR (d_in={inr.d_in}); priors generate images")
    latents, labels, cache_path = latent_cache(config, inr, accelerator)
    if prior.unconditional:
        labels = None
    num_classes = int(labels.max()) + 1 if labels is not None else 0

    stats = LatentStatistics()
    for chunk in latents.split(1024):
        stats.update(chunk)
    denoiser = LatentDenoiser.from_preset(
        prior.preset,
        num_latents=latents.shape[1],
        latent_dim=latents.shape[2],
        num_classes=num_classes,
        class_dropout=prior.class_dropout,
    )
    denoiser.set_latent_statistics(stats.mean.float(), stats.std())
    data = denoiser.standardize(latents).to(accelerator.device)
    labels = labels.to(accelerator.device) if labels is not None else None
    scheduler = training_scheduler()
    ema = EMAModel(denoiser.parameters(), decay=prior.ema_decay)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=train.lr)
    denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    ema.to(accelerator.device)
    state = RunState(losses=[])
    settings = SavedSettings(dataclasses.asdict(config), RESUME_MAY_CHANGE)
    parts = {"settings": settings, "model": accelerator.unwrap_model(denoiser), "optimizer": optimizer}
    parts.update(ema=ema, state=state)
    if args.resume:
        resume_run(checkpoints, parts, settings, show=main_process)
        ema.to(accelerator.device)

    def checkpoint() -> None:
        save_checkpoint(accelerator, checkpoints, state.step, train.keep_checkpoints, parts)

    world = accelerator.num_processes
    if train.batch_size % world:
        raise SystemExit(f"error: train.batch_size={train.batch_size} must be divisible by the {world} processes")
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        params = sum(p.numel() for p in accelerator.unwrap_model(denoiser).parameters())
        print(
            f"LatentDenoiser ({prior.preset}): {params:,} parameters | {len(data)} latents {tuple(data.shape[1:])} "
            f"from {cache_path} | {num_classes or 'no'} classes | {train.max_steps} steps of {train.batch_size}",
            flush=True,
        )

    bar = tqdm(total=train.max_steps, initial=state.step, disable=not main_process, desc="training prior")
    denoiser.train()
    try:
        _loop(accelerator, config, state, denoiser, optimizer, ema, scheduler, data, labels, bar, checkpoint)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was trained, then stop
        if world == 1 and state.step > 0:
            checkpoint()
            print(f"\ninterrupted: saved {latest_checkpoint(checkpoints)}; continue with --resume", flush=True)
        raise
    bar.close()
    checkpoint()

    result = {"steps": state.step, "train_minutes": state.train_seconds / 60, "classes": num_classes}
    if main_process:
        final = copy.deepcopy(accelerator.unwrap_model(denoiser)).eval()
        ema.copy_to(final.parameters())  # the EMA weights are the ones that sample
        pipe = LatentINRPipeline(final, sampling_scheduler(scheduler.config), inr)
        result.update(
            command=command_line(),
            inr=str(prior.inr),
            data=str(config.data.source),
            config=dataclasses.asdict(config),
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
                num_inference_steps=train.sample_steps,
                generator=torch.Generator().manual_seed(config.seed + c),
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


def _loop(accelerator, config, state, denoiser, optimizer, ema, scheduler, data, labels, bar, checkpoint) -> None:
    """Train until ``train.max_steps``, checkpointing every ``train.checkpoint_every`` steps."""
    train = config.train
    world, rank = accelerator.num_processes, accelerator.process_index
    per_process = train.batch_size // world
    mine = slice(rank * per_process, (rank + 1) * per_process)
    started = time.perf_counter() - state.train_seconds
    T = scheduler.config.num_train_timesteps
    while state.step < train.max_steps:
        # Every draw is made for the whole global batch and depends on (seed, step) only, so it is the same on
        # every process and after a resume; each process then takes its slice. N processes thus train on the
        # same batches as one (DDP averages the slices' gradients into the full batch's gradient).
        seed_step(config.seed, state.step, rank)
        g = step_generator(config.seed, state.step)
        pick = torch.randint(0, len(data), (train.batch_size,), generator=g)
        t = torch.randint(0, T, (train.batch_size,), generator=g)
        noise = torch.randn((train.batch_size, *data.shape[1:]), generator=g)
        y = None
        if labels is not None:
            y = accelerator.unwrap_model(denoiser).drop_labels(labels[pick.to(labels.device)], g)[mine]
        pick, t, noise = pick[mine].to(data.device), t[mine].to(data.device), noise[mine].to(data.device)
        x0 = data[pick]
        x_t = scheduler.add_noise(x0, noise, t)
        loss = F.mse_loss(denoiser(x_t, t, y), x0)
        accelerator.backward(loss)
        norm = torch.nn.utils.get_total_norm([p.grad for p in denoiser.parameters() if p.grad is not None])
        if not step_is_finite(accelerator, loss, norm):
            last = latest_checkpoint(Path(config.output_dir) / "checkpoints")
            raise non_finite_step(state.step + 1, loss, last, 0, "Lower train.lr")
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
        if state.step % train.checkpoint_every == 0 and state.step < train.max_steps:
            checkpoint()
        stop_if_asked()


def run() -> None:
    """The console entry point (``apps/train_prior.py``, ``ginr-train-prior``)."""
    run_app(main)
