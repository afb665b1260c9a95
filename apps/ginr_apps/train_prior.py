"""Train a diffusion prior over the latent tokens of a frozen INR (Sec. 4.4), with Accelerate.

    accelerate launch apps/train_prior.py --inr runs/digits-inr/model            # the labeled default (digits)
    accelerate launch apps/train_prior.py --inr runs/digits-inr/model --max-steps 20000 --preset tiny
    accelerate launch apps/train_prior.py --inr <user>/locinr-imagenet --data /data/imagenet --preset paper
    accelerate launch apps/train_prior.py --inr ... --output-dir runs/prior --resume

1. Encodes the training images once with the frozen INR into a latent cache on disk: every process
   encodes its own shards through a DataLoader, in parallel; the shards are memory-mapped when read,
   so no process holds the whole set (``ginr_diffusion.LatentCache``); an encoding stopped halfway
   resumes at its first missing shard. The cache is reused by later runs; its name is a hash of the
   INR's weights and the data's fingerprint (a folder's file list with sizes and modification times), so a
   new INR or a file changed under the source never reuse stale latents. ``--resume`` is refused, naming
   the change, when the INR at ``--inr`` or the data changed since the run started (unless
   ``--allow-inr-change`` / ``--allow-data-change``). Class labels
   (class folders, a ``ClassLabel`` column, the digits) are cached with their names.
2. Takes the per-token, per-channel standardisation from the shards' statistics (stored in the denoiser).
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
import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import set_seed
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from ginr_core import GeneralizableINR
from ginr_data import cache_dir, fingerprint_digest, image_dataset, source_fingerprint
from ginr_diffusion import (
    DENOISER_PRESETS,
    STORAGE_DTYPES,
    LatentCache,
    LatentDenoiser,
    LatentINRPipeline,
    missing_shards,
    sampling_scheduler,
    training_scheduler,
    write_manifest,
    write_shard,
    x0_loss,
)
from ginr_diffusion.cache import (
    num_shards,
    shard_range,
    stream_progress,
    stream_shard_name,
    write_stream_done,
    write_stream_manifest,
)

from .cards import command_line, prior_model_card
from .checkpoints import RunInputs, RunState, check_resume, claim_run, resume_run
from .cli import checked_source, fail
from .config import (
    ConfigError,
    SavedSettings,
    build_section,
    check_launcher_settings,
    check_top_level,
    load_tree,
    parse_with_overrides,
    run_settings,
    sections_help,
)
from .figures import image_grid, learning_curve, save_png
from .files import replace_dir, write_json
from .guards import on_termination, run_app
from .launch import (
    add_launcher_flags,
    launcher_overrides,
    loader_options,
    loader_workers,
    log_preview,
    make_accelerator,
    resume_request,
    start_tracking,
)
from .loop import TrainingLoop, micro_batch_size
from .schema import setting
from .seeding import step_generator
from .tasks.images import ImageTask


@dataclass
class PriorSettings:
    """The prior and the INR whose latents it learns."""

    inr: str | None = setting(None, "a trained INR: save_pretrained folder or Hub repo id (required)")
    preset: str = setting("tiny", "denoiser size: tiny or paper (ginr_diffusion.DENOISER_PRESETS)")
    class_dropout: float = setting(0.1, "probability of replacing a label by the null label (classifier-free guidance)")
    unconditional: bool = setting(False, "ignore labels even if the data has them")
    ema_decay: float = setting(0.9999, "decay of the EMA of the weights (the weights that sample)")


@dataclass
class PriorData:
    """The training images, encoded once into a latent cache."""

    source: str = setting("digits", "training images (an apps/train.py image source)")
    protocol: str | None = setting(None, "image protocol of the source (e.g. imagenet-256)")
    split: str = setting("train", "split to encode")
    cache_dir: str | None = setting(None, "latent cache (default: $GINR_CACHE/latents)")
    cache_dtype: str = setting("float32", "storage of the cached latents: float32, float16 or bfloat16 (half the disk)")
    shard_size: int = setting(4096, "latents per cache shard (each process encodes whole shards)")
    streaming: bool = setting(
        False, "encode a `datasets` source as a stream (one ordered pass, each process its share; no download first)"
    )
    encode_batch_size: int = setting(64, "images per encoding batch")
    num_workers: int | None = setting(None, "loader workers of the encoding (null: some per process on GPUs)")


@dataclass
class PriorTrain:
    """Optimisation and checkpointing."""

    max_steps: int = setting(4000, "training steps")
    batch_size: int = setting(64, "total over all processes")
    lr: float = setting(1e-4, "Adam learning rate (constant)")
    checkpoint_every: int = setting(1000, "steps between checkpoints")
    keep_checkpoints: int = setting(2, "complete checkpoints kept (the newest)")
    sample_steps: int = setting(50, "DDIM steps of the final sample grid")
    log_every: int = setting(50, "steps between logged losses")
    gradient_accumulation_steps: int = setting(
        1, "split each step's batch into k micro-batches (same step, less memory)"
    )
    report_to: str = setting(
        "none", "experiment trackers: none, tensorboard, wandb, trackio or all (through Accelerate)"
    )
    timeout_minutes: float = setting(
        60.0, "process-group timeout (the encoding itself is shared, so ranks wait little)"
    )


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
RESUME_MAY_CHANGE += ("train.sample_steps", "data.cache_dir", "data.num_workers", "data.encode_batch_size")
RESUME_MAY_CHANGE += (
    "train.report_to",
    "train.timeout_minutes",
    "train.log_every",
    "train.gradient_accumulation_steps",
)


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
    for name in ("max_steps", "batch_size", "checkpoint_every", "keep_checkpoints", "sample_steps", "log_every"):
        if getattr(train, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1, got {getattr(train, name)}")
    if not 0 < prior.ema_decay < 1 or not 0 <= prior.class_dropout < 1 or not 0 < train.lr < math.inf:
        raise ConfigError(
            "prior.ema_decay must be in (0, 1), prior.class_dropout in [0, 1) and train.lr positive and finite, got "
            f"{prior.ema_decay}, {prior.class_dropout} and {train.lr}"
        )
    data = config.data
    if data.cache_dtype not in STORAGE_DTYPES:
        raise ConfigError(f"data.cache_dtype must be one of {', '.join(STORAGE_DTYPES)}, got {data.cache_dtype!r}")
    for name in ("shard_size", "encode_batch_size"):
        if getattr(data, name) < 1:
            raise ConfigError(f"data.{name} must be >= 1, got {getattr(data, name)}")
    if data.streaming and data.source in ("photos", "digits"):
        raise ConfigError(f"data.streaming reads a `datasets` source; data.source={data.source} is embedded")
    check_launcher_settings(train, data.num_workers)
    return config


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, PriorRunConfig]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="settings, e.g. train.lr=3e-4")
    parser.add_argument("--config", type=Path, help="YAML run configuration (same format as apps/train.py's)")
    for flag, (dotted, kind) in FLAGS.items():
        parser.add_argument(flag, type=kind, help=f"{dotted}")
    parser.add_argument("--unconditional", action="store_true", help="prior.unconditional=true")
    add_launcher_flags(parser)
    parser.add_argument(
        "--allow-inr-change",
        action="store_true",
        help="--resume even though the INR at --inr changed since the run started (otherwise refused)",
    )
    parser.add_argument("--help-config", action="store_true", help="list every setting and exit")
    args, overrides = parse_with_overrides(parser, argv)
    if args.help_config:
        top = {
            "seed": ("int", 0, "seed of every random draw (with the step)"),
            "output_dir": ("str", "runs/prior", "where the run writes its files"),
        }
        print("\n".join(sections_help(SECTIONS, top)))
        raise SystemExit(0)
    for flag, (dotted, _) in FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            overrides.append(f"{dotted}={value}")
    if args.unconditional:
        overrides.append("prior.unconditional=true")
    overrides += launcher_overrides(args)
    try:
        config = load_prior_config(args.config, overrides)
    except ConfigError as err:
        parser.error(str(err))
    return args, config


def weights_hash(inr: GeneralizableINR) -> str:
    """SHA-256 of an INR's config and weights: what its latents depend on."""
    digest = hashlib.sha256(json.dumps(inr.config, sort_keys=True).encode())
    for name, tensor in sorted(inr.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _fingerprint(inr: GeneralizableINR, data_key: dict) -> str:
    return hashlib.sha256(json.dumps(data_key, sort_keys=True).encode() + weights_hash(inr).encode()).hexdigest()[:20]


def _split(config: PriorRunConfig, resolution: int):
    """The split to encode, read as a dataset (no augmentation)."""
    data = config.data
    return image_dataset(
        data.source, data.split, protocol=data.protocol, resolution=None if data.protocol else resolution, train=False
    )


def data_fingerprint(config: PriorRunConfig, inr) -> dict:
    """``source_fingerprint`` of the training images: a local folder's file list, a `datasets` split's
    fingerprint (a stream: its id)."""
    source = config.data.source
    if config.data.streaming or source in ("photos", "digits") or Path(source).expanduser().exists():
        return source_fingerprint(source)
    return source_fingerprint(source, [_split(config, inr.image_size[0])])


@torch.no_grad()
def encode_shards(inr, dataset, shards: list[int], config: PriorRunConfig, folder: Path, accelerator) -> int:
    """Encode and write ``shards`` of ``dataset`` (this process's share); returns the images encoded."""
    data = config.data
    labeled = getattr(dataset, "class_names", None) is not None
    indices = [i for s in shards for i in shard_range(s, len(dataset), data.shard_size)]
    if not indices:
        return 0
    workers = loader_workers(data.num_workers, dataset, accelerator)
    loader = DataLoader(
        Subset(dataset, indices),
        batch_size=data.encode_batch_size,
        generator=torch.Generator().manual_seed(0),  # not the global generator (the denoiser's init draws from it)
        **loader_options(workers, accelerator),
    )
    bar = tqdm(
        total=len(indices),
        desc=f"encoding latents (process {accelerator.process_index})",
        unit="img",
        disable=not accelerator.is_local_main_process,
    )
    pending_latents, pending_labels = [], []
    queue = list(shards)
    for items in loader:
        images = items["image"].to(accelerator.device, non_blocking=True)
        pending_latents.append(inr.encode(images).float().cpu())
        if labeled:
            pending_labels.append(items["label"].long())
        bar.update(len(images))
        have = sum(len(x) for x in pending_latents)
        while queue and have >= len(shard_range(queue[0], len(dataset), data.shard_size)):
            size = len(shard_range(queue[0], len(dataset), data.shard_size))
            latents, pending_latents = _split_off(pending_latents, size)
            labels = None
            if labeled:
                labels, pending_labels = _split_off(pending_labels, size)
            write_shard(folder, queue.pop(0), latents, labels, dtype=data.cache_dtype)
            have -= size
    bar.close()
    return len(indices)


def _split_off(chunks: list[torch.Tensor], size: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    whole = torch.cat(chunks)
    return whole[:size], ([whole[size:]] if len(whole) > size else [])


@torch.no_grad()
def encode_stream(inr, config: PriorRunConfig, folder: Path, accelerator) -> tuple[int, list[str] | None]:
    """Encode this process's share of a streamed source in one ordered pass, into its own shards (resuming
    after its last whole one); returns the images encoded and the stream's class names."""
    data, rank = config.data, accelerator.process_index
    stream = image_dataset(
        data.source,
        data.split,
        protocol=data.protocol,
        resolution=None if data.protocol else inr.image_size[0],
        train=False,
        streaming=True,
        passes=1,
        buffer_size=1,  # in order: a restart finds the same items at the same positions
        rank=rank,
        world=accelerator.num_processes,
    )
    written, position, done = stream_progress(folder, rank)
    if done:
        return 0, stream.class_names
    stream.start = position  # the items of the whole shards: read again, not decoded
    loader = DataLoader(stream, batch_size=data.encode_batch_size, **loader_options(0, accelerator))
    bar = tqdm(desc=f"encoding a stream (process {rank})", unit="img", disable=not accelerator.is_local_main_process)
    pending: dict[str, list[torch.Tensor]] = {"latents": [], "labels": [], "index": []}
    encoded = 0

    def flush(size: int) -> None:
        nonlocal written
        latents, pending["latents"] = _split_off(pending["latents"], size)
        index, pending["index"] = _split_off(pending["index"], size)
        labels = None
        if pending["labels"]:
            labels, pending["labels"] = _split_off(pending["labels"], size)
        after = int(index[-1]) + 1  # the stream position after this shard's last item
        write_shard(folder, 0, latents, labels, dtype=data.cache_dtype, name=stream_shard_name(rank, written),
                    metadata={"next_position": str(after)})  # fmt: skip
        written += 1

    labeled = None
    for items in loader:
        if labeled is None:
            labeled = "label" in items
        elif labeled != ("label" in items):
            raise ValueError(f"{data.source}: some items of the stream have labels and others none")
        pending["latents"].append(inr.encode(items["image"].to(accelerator.device)).float().cpu())
        pending["index"].append(items["index"].long())
        if labeled:
            pending["labels"].append(items["label"].long())
        encoded += len(items["image"])
        bar.update(len(items["image"]))
        while sum(len(x) for x in pending["latents"]) >= data.shard_size:
            flush(data.shard_size)
    left = sum(len(x) for x in pending["latents"])
    if left:
        flush(left)
    bar.close()
    write_stream_done(folder, rank, written)
    return encoded, stream.class_names  # the manifest keeps them only if the shards hold labels


def latent_cache(config: PriorRunConfig, inr, accelerator, fingerprint: dict | None = None) -> LatentCache:
    """The training set's latents: read from the cache, or encoded by every process (its own shards) first.
    Its key holds the INR's weights and the data's fingerprint (``data_fingerprint``, or ``fingerprint``): a file
    added, removed or changed anywhere under a local source, or a new revision of a Hub split, is a new cache."""
    resolution = inr.image_size[0]
    data = config.data
    key = {"data": str(data.source), "protocol": data.protocol, "split": data.split, "resolution": resolution}
    key.update(dtype=data.cache_dtype, shard_size=data.shard_size)
    if data.streaming:  # each process's share of a stream depends on their number
        key.update(streaming=True, processes=accelerator.num_processes)
    key["fingerprint"] = fingerprint_digest(fingerprint or data_fingerprint(config, inr))
    folder = (Path(data.cache_dir) if data.cache_dir else cache_dir() / "latents") / _fingerprint(inr, key)
    if data.streaming and not (folder / "manifest.json").is_file():
        _encode_stream_cache(config, inr, accelerator, folder, key)
    elif not (folder / "manifest.json").is_file():
        dataset = _split(config, resolution)
        missing = missing_shards(folder, len(dataset), data.shard_size)  # a stopped encoding resumes here
        accelerator.wait_for_everyone()  # every process has the same list before any writes
        world, rank = accelerator.num_processes, accelerator.process_index
        if accelerator.is_main_process:
            done = num_shards(len(dataset), data.shard_size) - len(missing)
            print(
                f"latent cache {folder}: {len(missing)} shard(s) to encode"
                + (f", {done} already done" if done else "")
                + f", over {world} process(es)",
                flush=True,
            )
        started = time.perf_counter()
        encoded = encode_shards(inr, dataset, missing[rank::world], config, folder, accelerator)
        counts = _gather_counts(accelerator, encoded, time.perf_counter() - started)
        if accelerator.is_main_process:
            names = getattr(dataset, "class_names", None)
            write_manifest(folder, len(dataset), data.shard_size, dtype=data.cache_dtype, key=key, class_names=names)
            _print_counts(counts)
        accelerator.wait_for_everyone()
    return LatentCache(folder)


def _encode_stream_cache(config: PriorRunConfig, inr, accelerator, folder: Path, key: dict) -> None:
    if accelerator.is_main_process:
        print(f"latent cache {folder}: encoding a stream over {accelerator.num_processes} process(es)", flush=True)
    started = time.perf_counter()
    encoded, names = encode_stream(inr, config, folder, accelerator)
    counts = _gather_counts(accelerator, encoded, time.perf_counter() - started)
    if accelerator.is_main_process:
        write_stream_manifest(folder, accelerator.num_processes, config.data.shard_size,
                              dtype=config.data.cache_dtype, key=key, class_names=names)  # fmt: skip
        _print_counts(counts)
    accelerator.wait_for_everyone()


def _gather_counts(accelerator, encoded: int, seconds: float) -> torch.Tensor:
    """``(world, 2)``: every process's images encoded and seconds taken."""
    counts = torch.tensor([encoded, seconds], dtype=torch.float64, device=accelerator.device)
    return accelerator.gather(counts).reshape(-1, 2).cpu()


def _print_counts(total: torch.Tensor) -> None:
    if total[:, 0].sum() > 0:
        rate = float(total[:, 0].sum() / total[:, 1].max())
        for p, (n, t) in enumerate(total.tolist()):
            print(f"  process {p}: {int(n)} images in {t:.1f} s", flush=True)
        print(
            f"encoded {int(total[:, 0].sum())} images in {float(total[:, 1].max()):.1f} s "
            f"({rate:.1f} images/s over {len(total)} process(es))",
            flush=True,
        )


def main(argv: list[str] | None = None) -> dict:
    args, config = parse_args(argv)
    on_termination()
    out = Path(config.output_dir)
    here, chosen = resume_request(args.resume, out)
    with claim_run(out, here, final="pipeline"):
        return _train(args, config, out, chosen)


def _train(args: argparse.Namespace, config: PriorRunConfig, out: Path, chosen: Path | None) -> dict:
    prior, train = config.prior, config.train
    checkpoints = out / "checkpoints"
    accelerator = make_accelerator(
        out, train.report_to, train.timeout_minutes, gradient_accumulation_steps=train.gradient_accumulation_steps
    )
    set_seed(config.seed)
    main_process = accelerator.is_main_process
    try:
        # a typo, a run folder or a pipeline: one line (after the launcher's setup is checked)
        inr = GeneralizableINR.from_pretrained(checked_source(prior.inr, "inr"))
        inr = inr.to(accelerator.device).eval().requires_grad_(False)
    except (OSError, ValueError) as err:  # not cached offline, a checkpoint that does not load
        fail(str(err))
    if not ImageTask.accepts(inr):
        raise SystemExit(
            f"error: {prior.inr} is not an image INR (d_in={inr.d_in}, tokenizer={inr.tokenizer_class.name}); "
            "priors generate images"
        )
    fingerprints = {
        "data.source": data_fingerprint(config, inr),
        "--inr": {"source": prior.inr, "weights": weights_hash(inr)},
    }
    flags = {"data.source": "--allow-data-change", "--inr": "--allow-inr-change"}
    allowed = {k for k, flag in (("data.source", args.allow_data_change), ("--inr", args.allow_inr_change)) if flag}
    inputs = RunInputs(fingerprints, flags, allowed)
    settings = SavedSettings(dataclasses.asdict(config), RESUME_MAY_CHANGE)
    if args.resume:  # refused before any encoding
        check_resume(checkpoints, {"settings": settings, "inputs": inputs}, chosen)
    cache = latent_cache(config, inr, accelerator, fingerprints["data.source"])
    labels = None if prior.unconditional else cache.labels()  # (N,) int64: small; the latents stay on disk
    class_names = cache.class_names if labels is not None else None
    num_classes = len(class_names) if class_names else (int(labels.max()) + 1 if labels is not None else 0)

    set_seed(config.seed)  # the denoiser's initial weights: the same whether this run encoded the cache or not
    stats = cache.statistics()
    denoiser = LatentDenoiser.from_preset(
        prior.preset,
        num_latents=cache.shape[0],
        latent_dim=cache.shape[1],
        num_classes=num_classes,
        class_dropout=prior.class_dropout,
    )
    denoiser.set_latent_statistics(stats.mean.float(), stats.std())
    scheduler = training_scheduler()
    ema = EMAModel(denoiser.parameters(), decay=prior.ema_decay)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=train.lr)
    denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    ema.to(accelerator.device)
    state = RunState(losses=[])
    parts = {
        "settings": settings,
        "inputs": inputs,
        "model": accelerator.unwrap_model(denoiser),
        "optimizer": optimizer,
    }
    parts.update(ema=ema, state=state)
    if args.resume:
        resume_run(checkpoints, parts, settings, show=main_process, checkpoint=chosen)
        ema.to(accelerator.device)

    world = accelerator.num_processes
    micro = micro_batch_size(train.batch_size, world, train.gradient_accumulation_steps)
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
        params = sum(p.numel() for p in accelerator.unwrap_model(denoiser).parameters())
        print(
            f"LatentDenoiser ({prior.preset}): {params:,} parameters | {len(cache)} latents {cache.shape} "
            f"from {cache.folder} | {num_classes or 'no'} classes | {train.max_steps} steps of {train.batch_size}",
            flush=True,
        )
    start_tracking(accelerator, "ginr-train-prior", dataclasses.asdict(config))
    pipe = functools.partial(_pipeline, accelerator, denoiser, ema, scheduler, inr, class_names)
    loop = _PriorLoop(
        accelerator,
        denoiser,
        optimizer,
        state,
        ema=ema,
        scheduler=scheduler,
        cache=cache,
        labels=labels,
        micro=micro,
        pipe=pipe,
        checkpoints=checkpoints,
        parts=parts,
        keep=train.keep_checkpoints,
        total_steps=train.max_steps,
        accumulation=train.gradient_accumulation_steps,
        seed=config.seed,
        log_every=train.log_every,
        eval_every=train.checkpoint_every,  # a preview of the samples where the trackers show it
        checkpoint_every=train.checkpoint_every,
        description="training prior",
    )
    loop.run(loop.micro_batches(train.batch_size))
    loop.checkpoint()

    result = {"steps": state.step, "train_minutes": state.train_seconds / 60, "classes": num_classes}
    if main_process:
        final = pipe()
        result.update(
            command=command_line(),
            inr=str(prior.inr),
            data=str(config.data.source),
            config=dataclasses.asdict(config),
            latent_cache=str(cache.folder),
            final_loss=state.losses[-1][1] if state.losses else math.nan,
            losses=state.losses,
        )

        def fill(folder: Path) -> None:
            final.save_pretrained(folder)
            prior_model_card(final, result).save(folder / "README.md")

        replace_dir(out / "pipeline", fill)
        save_png(_sample_grid(final, num_classes, train.sample_steps, config.seed), out / "samples.png")
        save_png(
            learning_curve(state.losses, "training loss", "learning curve", log_y=True), out / "learning_curve.png"
        )
        write_json(out / "metrics.json", result)
        print(
            f"trained the prior for {state.step} steps ({state.train_seconds / 60:.1f} min); wrote {out}/pipeline, "
            f"samples.png ({'one row per class' if num_classes else 'unconditional'}), learning_curve.png, "
            "metrics.json",
            flush=True,
        )
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


def _pipeline(accelerator, denoiser, ema, scheduler, inr, class_names) -> LatentINRPipeline:
    """The pipeline of the EMA weights (the ones that sample), class names as ``id2label``."""
    final = copy.deepcopy(accelerator.unwrap_model(denoiser)).eval()
    ema.copy_to(final.parameters())
    id2label = dict(enumerate(class_names)) if class_names else None
    pipe = LatentINRPipeline(final, sampling_scheduler(scheduler.config), inr, id2label=id2label)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sample_grid(
    pipe: LatentINRPipeline, num_classes: int, steps: int, seed: int, per_class: int = 8, max_rows: int | None = None
) -> torch.Tensor:
    """A grid of samples: one row per class (the first ``max_rows``), or one unconditional row."""
    rows = []
    count = max(num_classes, 1) if max_rows is None else min(max(num_classes, 1), max_rows)
    for c in range(count):
        images = pipe(
            class_labels=[c] * per_class if num_classes else None,
            batch_size=per_class,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed + c),
            output_type="pt",
        ).images
        rows.append(list(images.cpu()))
    return image_grid(rows, cell=64)


class _PriorLoop(TrainingLoop):
    """The loop of a prior: x0 prediction on batches of cached latents, an EMA of the weights."""

    def __init__(self, *args, ema, scheduler, cache, labels, micro: int, pipe, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ema, self.scheduler, self.cache, self.labels, self.micro, self.pipe = (
            ema,
            scheduler,
            cache,
            labels,
            micro,
            pipe,
        )
        self.raw = self.accelerator.unwrap_model(self.model)

    def micro_batches(self, batch_size: int):
        """Every step's draws for the whole global batch, from (seed, step) only: the same on every process and
        after a resume; each process then reads and trains on its slice (cut into micro-batches). N processes
        thus train on the same batches as one (DDP averages the gradients)."""
        T, shape = self.scheduler.config.num_train_timesteps, self.cache.shape
        per_process = self.micro * self.accumulation
        for step in range(self.state.step, self.total_steps):
            g = step_generator(self.seed, step)
            pick = torch.randint(0, len(self.cache), (batch_size,), generator=g)
            t = torch.randint(0, T, (batch_size,), generator=g)
            noise = torch.randn((batch_size, *shape), generator=g)
            y = self.raw.drop_labels(self.labels[pick], g) if self.labels is not None else None
            for m in range(self.accumulation):
                first = self.accelerator.process_index * per_process + m * self.micro
                mine = slice(first, first + self.micro)
                yield pick[mine], t[mine], noise[mine], (y[mine] if y is not None else None)

    def prepare(self, item, micro: int):
        pick, t, noise, y = item
        device = self.accelerator.device
        latents, _ = self.cache[pick]  # only this slice is read from the memory-mapped shards
        x0 = self.raw.standardize(latents.to(device))
        return x0, noise.to(device), t.to(device), (y.to(device) if y is not None else None)

    def loss(self, batch) -> torch.Tensor:
        return x0_loss(self.model, self.scheduler, *batch)

    def after_step(self) -> None:
        self.ema.step(self.raw.parameters())

    def logged(self, loss: float) -> None:
        self.state.losses.append([self.state.step, loss])

    def evaluate(self) -> None:
        if self.accelerator.log_with and self.accelerator.is_main_process:  # a preview of the EMA weights' samples
            grid = _sample_grid(self.pipe(), self.raw.config.num_classes, 25, self.seed, per_class=4, max_rows=8)
            log_preview(self.accelerator, "samples", grid, self.state.step)


def run() -> None:
    """The console entry point (``apps/train_prior.py``, ``ginr-train-prior``)."""
    run_app(main)
