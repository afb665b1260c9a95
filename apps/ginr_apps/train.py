"""Train a generalizable INR on images or light fields, from one CPU to many GPUs (Hugging Face Accelerate).

    accelerate launch apps/train.py                                   # LocINR on the embedded photographs, CPU
    accelerate launch apps/train.py --config apps/configs/nvs_default.yaml   # novel views of the embedded scenes
    accelerate launch apps/train.py --model ipc --max-steps 500 train.lr=3e-4
    accelerate launch apps/train.py --config apps/configs/ffhq256_locinr.yaml data.source=/data/ffhq
    accelerate launch apps/train.py --output-dir runs/default --resume   # continue from the last checkpoint
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 apps/train.py ...
    accelerate launch --mixed_precision bf16 apps/train.py --config ...  # GPUs (or train.mixed_precision=bf16)

Without ``--config`` the run uses ``apps/configs/default.yaml``: the CPU recipe on 32 x 32 crops of
the embedded photographs, which trains in about 9 minutes on 2 quiet CPU cores. Settings are
``section.key=value`` arguments (``train.lr=3e-4``, ``model.patch_size=8``, ``data.subsample=0.1``).

The output directory receives ``model/`` (``save_pretrained`` weights, config and a model card with the
task's measured test score and this command), ``checkpoints/`` (safetensors + JSON, marked complete; the last few),
``metrics.json`` (the test score, learning curve, settings) and ``reconstructions.png`` (ground truth |
reconstruction | x2 decode of held-out images) or, for novel view synthesis (``data.task=nvs``),
``novel_views.png`` (support views | the unseen view | predictions from 1..V views) and the test score
per number of support views. Every file is written atomically; an existing run is never
overwritten unless ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch.utils.data import DataLoader

from ginr_core import list_families
from ginr_data import DatasetUnavailableError, ImageLoadError, LightFieldError, source_fingerprint

from .cards import command_line, write_model_card
from .checkpoints import RunInputs, RunState, claim_run, resume_run
from .config import (
    RESUME_MAY_CHANGE,
    ConfigError,
    RunConfig,
    SavedSettings,
    config_help,
    load_config,
    model_kwargs,
    parse_with_overrides,
)
from .evaluation import resolve_chunk_size
from .figures import learning_curve, save_png, stack_vertically
from .files import replace_dir, write_json
from .guards import check_finite, check_outcome, on_termination, run_app
from .launch import (
    add_launcher_flags,
    launcher_overrides,
    loader_options,
    loader_workers,
    log_preview,
    log_scalars,
    make_accelerator,
    resume_request,
    start_tracking,
)
from .loop import TrainingLoop, micro_batch_size
from .seeding import keyed_generator, step_generator
from .tasks import get_task_class

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIGS / "default.yaml"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, RunConfig]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="settings, e.g. train.lr=3e-4")
    parser.add_argument("--config", type=Path, help=f"YAML run configuration (default: {DEFAULT_CONFIG.name})")
    parser.add_argument("--model", choices=list(list_families()), help="model family (model.family)")
    parser.add_argument("--max-steps", type=int, help="training steps (train.max_steps)")
    parser.add_argument("--output-dir", help="where the run writes its files (output_dir)")
    parser.add_argument("--seed", type=int, help="random seed (seed)")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), help="train.mixed_precision (GPUs)")
    add_launcher_flags(parser)
    parser.add_argument(
        "--help-config", action="store_true", help="list every setting with its type, default and meaning, and exit"
    )
    args, overrides = parse_with_overrides(parser, argv)
    if args.help_config:
        print(config_help(args.model), end="")
        raise SystemExit(0)
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
    overrides += launcher_overrides(args)
    try:
        config = load_config(args.config or _task_default_config(overrides), overrides)
    except (ConfigError, ValueError) as err:
        parser.error(str(err))
    return args, config


def _task_default_config(overrides: list[str]) -> Path:
    """The run without ``--config``: that of the task a ``data.task=<name>`` override names (its
    ``default_config``), else ``apps/configs/default.yaml``."""
    named = [o.split("=", 1)[1].strip() for o in overrides if o.split("=", 1)[0].strip() == "data.task"]
    if not named:
        return DEFAULT_CONFIG
    return get_task_class(named[-1]).default_config or DEFAULT_CONFIG


def _sample_generators(seed: int, step: int, positions: list[int]) -> list[torch.Generator]:
    """One generator per training sample, keyed by (seed, step, position in the global batch)."""
    return [keyed_generator(seed, step, p) for p in positions]


def _union(accelerator: Accelerator, known: list, new: set) -> list:
    """``known`` plus what every process met in ``new`` (unreadable files, counted once each)."""
    met = gather_object([sorted(new, key=str)]) if accelerator.num_processes > 1 else [sorted(new, key=str)]
    return sorted(set(known).union(*map(set, met)), key=str)


def _epoch_order(size: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(size, generator=step_generator(seed, epoch))


def _hardware(accelerator: Accelerator) -> str:
    if accelerator.device.type == "cuda":
        return f"{accelerator.num_processes} x {torch.cuda.get_device_name(accelerator.device)}"
    return f"CPU, {accelerator.num_processes} process(es) x {torch.get_num_threads()} threads"


def evaluate(
    accelerator: Accelerator, model, dataset, config: RunConfig, task, extra: dict | None = None, whole: bool = False
) -> dict[int, dict[int, float]]:
    """Per-item test scores (the task's metric) on the raw outputs (per setting: resolution or number of views), each
    process taking every n-th item, gathered without duplicates; ``extra`` (a dict) receives the task's
    ``extra_metrics`` the same way, by key. ``whole``: every item, whatever ``data.test_size``."""
    limit = None if whole else config.data.test_size
    size = len(dataset) if limit is None else min(limit, len(dataset))
    mine = list(range(accelerator.process_index, size, accelerator.num_processes))
    mine_extra = {} if extra is not None else None
    results = task.score(accelerator.unwrap_model(model), dataset, mine, accelerator.device, extra=mine_extra)
    for metric in task.extra_metrics if extra is not None else ():
        scored = mine_extra.get(metric.key, {})  # the settings of `results`, the same on every process
        extra[metric.key] = _gather(accelerator, {k: scored.get(k, {}) for k in results}, size)
    return _gather(accelerator, results, size)


def _gather(accelerator: Accelerator, results: dict[int, dict[int, float]], size: int) -> dict[int, dict[int, float]]:
    per_process = math.ceil(size / accelerator.num_processes)
    gathered = {}
    for key, scores in results.items():
        index = torch.full((per_process,), -1, dtype=torch.long, device=accelerator.device)
        value = torch.zeros(per_process, dtype=torch.float64, device=accelerator.device)
        for k, (i, v) in enumerate(scores.items()):
            index[k], value[k] = i, v
        index, value = accelerator.gather(index), accelerator.gather(value)
        keep = index >= 0
        gathered[key] = dict(sorted(zip(index[keep].tolist(), value[keep].tolist())))
    return gathered


def _means(scores: dict[int, dict[int, float]]) -> dict[int, float]:
    return {key: float(np.mean(list(values.values()))) for key, values in scores.items()}


def _labelled(task, values: dict[int, Any]) -> dict[str, Any]:
    """Setting keys as the task names them (``"3 views"``), for logs and JSON."""
    return {task.setting_label(key): value for key, value in values.items()}


def _precision(configured: str) -> str | None:
    """The mixed precision of the run: ``accelerate launch --mixed_precision`` (or ``accelerate config``)
    wins over ``train.mixed_precision``, and a conflict is printed. The launcher's default ("no")
    cannot be told from an explicit ``--mixed_precision no``, so only a launcher value other than
    "no" overrides the config. Returns the value for ``Accelerator`` (None: the launcher's)."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if launcher != "no":
        if configured not in ("no", launcher) and int(os.environ.get("RANK", "0")) == 0:
            print(
                f"mixed precision: the launcher's {launcher} wins over train.mixed_precision={configured}",
                flush=True,
            )
        return None
    return configured


def _track_evaluation(accelerator, task, model, test_set, by_setting: dict, score: float, step: int) -> None:
    """The test metrics and a preview (the task's figure of the first test items) to the trackers."""
    if not accelerator.log_with:
        return
    key = task.metric.key
    values = {f"test/{key}": score, **{f"test/{key} {k}": v for k, v in by_setting.items()}}
    log_scalars(accelerator, values, step)
    if accelerator.is_main_process:
        raw = accelerator.unwrap_model(model).eval()
        shown = list(range(min(4, len(test_set))))
        log_preview(accelerator, "test/reconstructions", task.figure(raw, test_set, shown, accelerator.device), step)


def learning_rate_factor(config: RunConfig, total_steps: int):
    """Step -> multiplier of train.lr: linear warm-up, then constant or a cosine decay to 0 at the last step,
    times a linear decay to 0 over the last ``train.decay_steps`` steps (warm-up, stable, decay)."""
    warmup, cosine = config.train.warmup_steps, config.train.lr_schedule == "cosine"
    decay = min(config.train.decay_steps, total_steps)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        tail = min(1.0, (total_steps - step) / decay) if decay else 1.0
        if not cosine:
            return tail
        progress = (step - warmup) / max(1, total_steps - warmup)
        return tail * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def main(argv: list[str] | None = None) -> dict:
    args, config = parse_args(argv)
    on_termination()
    out = Path(config.output_dir)
    here, chosen = resume_request(args.resume, out)
    with claim_run(out, here, final="model"):
        return _train(args, config, out, chosen)


class _RunBatches:
    """This process's micro-batches of every step from ``start`` to ``total``: lists of (epoch, index).

    Step s of epoch e takes items ``order(e)[p * B : (p + 1) * B]`` (p = s mod the steps per epoch, B the
    global batch); process r takes its slice of them, cut into ``k`` micro-batches. One loader reads
    them all (its workers live for the whole run), and the epoch travels with each index, so workers
    crop and flip as the main process would.
    """

    def __init__(self, size, batch, world, rank, k, seed, steps_per_epoch, start, total):
        self.size, self.batch, self.per_process, self.rank, self.k = size, batch, batch // world, rank, k
        self.seed, self.steps_per_epoch, self.start, self.total = seed, steps_per_epoch, start, total

    def __iter__(self):
        micro = self.per_process // self.k
        order, current = None, None
        for step in range(self.start, self.total):
            epoch, position = divmod(step, self.steps_per_epoch)
            if epoch != current:
                order, current = _epoch_order(self.size, self.seed, epoch).tolist(), epoch
            first = position * self.batch + self.rank * self.per_process
            mine = order[first : first + self.per_process]
            for m in range(self.k):
                yield [(epoch, i) for i in mine[m * micro : (m + 1) * micro]]

    def __len__(self) -> int:
        return (self.total - self.start) * self.k


class _Epochs(torch.utils.data.Dataset):
    """``dataset[(epoch, i)]``: item i with the dataset's random crops of that epoch (``set_epoch``)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class _INRLoop(TrainingLoop):
    """The loop of an INR run: the task's batches and loss, its test scores on the evaluation cadence."""

    def __init__(self, *args, task, config: RunConfig, train_set, test_set, micro: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.task, self.config, self.train_set, self.test_set, self.micro = task, config, train_set, test_set, micro
        self.per_process = micro * self.accumulation
        self.last_score, self.skipped = float("nan"), set()  # skipped: unreadable sources met since the last sync

    def prepare(self, items, micro: int):
        first = self.accelerator.process_index * self.per_process + micro * self.micro
        generators = _sample_generators(self.seed, self.state.step, list(range(first, first + self.micro)))
        batch_generator = keyed_generator(self.seed, self.state.step)  # the same on every process
        return self.task.training_batch(items, self.accelerator.device, generators, batch_generator)

    def loss(self, batch) -> torch.Tensor:
        inputs, coords, targets = batch
        chunk = resolve_chunk_size(self.config.train.decode_chunk_size, inputs.shape[0], inputs.device)
        return self.task.loss(self.model(inputs, coords, chunk_size=chunk), targets)

    def after_micro(self, items) -> None:
        for index, count in zip(items["index"].tolist(), items["skipped"].tolist()):
            self.skipped.update(self.train_set.skipped_sources(index, count) if count else ())

    def before_pause(self) -> None:
        self.state.unreadable, self.skipped = _union(self.accelerator, self.state.unreadable, self.skipped), set()

    def postfix(self) -> dict[str, str]:
        return {f"test_{self.task.metric.key}": f"{self.last_score:.2f}"}

    def evaluate(self) -> None:
        accelerator, task, state = self.accelerator, self.task, self.state
        scores = evaluate(accelerator, self.model, self.test_set, self.config, task)
        means = _means(scores)
        self.last_score = means[task.headline(scores)]
        entry = {"step": state.step, "minutes": state.train_seconds / 60, f"test_{task.metric.key}": self.last_score}
        by = _labelled(task, means)
        state.history.append({**entry, **({"by_setting": by} if len(means) > 1 else {})})
        if accelerator.is_main_process:
            shown = ", ".join(f"{k}: {v:.2f}" for k, v in by.items()) if len(means) > 1 else ""
            count = len(next(iter(scores.values())))
            self.bar.write(
                f"step {state.step}: test {task.metric.label} {self.last_score:.2f} {task.metric.unit} ({count} items)"
                + (f" [{shown}]" if shown else "")
            )
        _track_evaluation(accelerator, task, self.model, self.test_set, by, self.last_score, state.step)


def _schedule(config: RunConfig, train_set) -> tuple[int | None, int, int]:
    """``(steps per epoch, total steps, steps between evaluations)``; a stream has no epochs (None)."""
    train = config.train
    if isinstance(train_set, torch.utils.data.IterableDataset):
        if train.max_steps is None or train.eval_every_epochs:
            raise SystemExit(
                "error: a streamed training split has no length, hence no epochs: set train.max_steps (and "
                "train.epochs=null, train.eval_every_epochs=null)"
            )
        return None, train.max_steps, train.eval_every
    steps_per_epoch = len(train_set) // train.batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"error: {len(train_set)} training items are fewer than train.batch_size={train.batch_size}")
    total_steps = train.max_steps or math.ceil(train.epochs * steps_per_epoch)
    # evaluations on epoch boundaries when asked (the epochs a paper's learning curve quotes)
    every_epochs = train.eval_every_epochs
    return steps_per_epoch, total_steps, every_epochs * steps_per_epoch if every_epochs else train.eval_every


def _make_accelerator(config: RunConfig, out: Path) -> Accelerator:
    """The run's ``Accelerator``: strict fp32 matmuls on GPUs (TF32 only with ``train.tf32``), the cores shared
    between CPU processes."""
    accelerator = make_accelerator(
        out,
        config.train.report_to,
        config.train.timeout_minutes,
        mixed_precision=_precision(config.train.mixed_precision),
        gradient_accumulation_steps=config.train.gradient_accumulation_steps,
    )
    if accelerator.device.type == "cuda":
        # both switches set either way: torch allows TF32 in cuDNN by default, and the paper's V100s had no TF32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = config.train.tf32
    if accelerator.device.type == "cpu":
        # `accelerate launch` sets OMP_NUM_THREADS=1, which halves a 2-core machine: share the cores instead
        local = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(config.train.cpu_threads or max(1, cores // local))
        if accelerator.mixed_precision != "no":
            warnings.warn(
                "mixed precision on CPU: bf16 is ~100x slower than fp32 on CPUs without bf16 units", stacklevel=1
            )
    return accelerator


def _build_model(config: RunConfig, task, train_set):
    """``(model class, model)`` of the config, compiled if asked, or ``SystemExit`` if the task cannot train it."""
    cls, kwargs = model_kwargs(config.model)
    model = cls(**kwargs)
    if config.train.compile:
        model.compile()  # compiled at the first step: its time is reported apart (metrics.json: "compile")
    problem = task.check_model(model, train_set)
    if problem:
        raise SystemExit(f"error: {problem}")
    return cls, model


def _train(args: argparse.Namespace, config: RunConfig, out: Path, chosen: Path | None) -> dict:
    accelerator = _make_accelerator(config, out)
    set_seed(config.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    task = get_task_class(config.data.task)(config)
    train_set, test_set = task.datasets()
    cls, model = _build_model(config, task, train_set)
    batch, accumulation = config.train.batch_size, config.train.gradient_accumulation_steps
    micro = micro_batch_size(batch, world, accumulation)
    steps_per_epoch, total_steps, eval_every = _schedule(config, train_set)

    train = config.train
    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay, fused=fused
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor(config, total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    state = RunState(unreadable=[], history=[], bad_steps=[])
    settings = SavedSettings(config.to_dict(), RESUME_MAY_CHANGE)
    data = {"data.source": source_fingerprint(config.data.source, (train_set, test_set))}
    inputs = RunInputs(data, {"data.source": "--allow-data-change"}, {"data.source"} if args.allow_data_change else ())
    parts = {"settings": settings, "inputs": inputs, "model": accelerator.unwrap_model(model), "optimizer": optimizer}
    parts.update(scheduler=scheduler, state=state)
    if accelerator.scaler is not None:
        parts["scaler"] = accelerator.scaler
    if args.resume:
        resume_run(out / "checkpoints", parts, settings, show=accelerator.is_main_process, checkpoint=chosen)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        raw = accelerator.unwrap_model(model)
        print(
            f"{type(raw).__name__}: {sum(p.numel() for p in raw.parameters()):,} parameters | "
            f"train {train_set!r} | test {len(test_set)} items | {total_steps} steps of {batch} items "
            f"on {_hardware(accelerator)}",
            flush=True,
        )
        note = task.data_report(train_set, test_set).get("note")
        if note:
            print(f"data: {note}", flush=True)
    start_tracking(accelerator, "ginr-train", config.to_dict())

    loop = _INRLoop(
        accelerator,
        model,
        optimizer,
        state,
        task=task,
        config=config,
        train_set=train_set,
        test_set=test_set,
        micro=micro,
        checkpoints=out / "checkpoints",
        parts=parts,
        keep=train.keep_checkpoints,
        total_steps=total_steps,
        accumulation=accumulation,
        seed=config.seed,
        lr_scheduler=scheduler,
        grad_clip=train.grad_clip,
        max_bad_steps=train.max_bad_steps,
        remedy="Lower train.lr, set train.grad_clip, or skip a few such steps with train.max_bad_steps=k",
        log_every=train.log_every,
        eval_every=eval_every,
        checkpoint_every=train.checkpoint_every,
        time_budget_minutes=train.time_budget_minutes,
        interruptions=(KeyboardInterrupt, ImageLoadError),
    )
    if isinstance(train_set, torch.utils.data.IterableDataset):  # a stream: this process's share, in order
        train_set.start = state.step * batch // world  # the items the steps so far consumed: passed over
        loader = DataLoader(train_set, batch_size=micro, **loader_options(0, accelerator))
    else:
        workers = loader_workers(config.data.num_workers, train_set, accelerator)
        loader = DataLoader(
            _Epochs(train_set),
            batch_sampler=_RunBatches(
                len(train_set), batch, world, rank, accumulation, config.seed, steps_per_epoch, state.step, total_steps
            ),
            generator=keyed_generator(config.seed, state.step, rank, 0x10AD),  # not the global generator
            **loader_options(workers, accelerator),
        )
    loop.run(loader)
    loop.before_pause()
    extra_sets = {split: task.extra_test_set(split) for split in config.data.extra_test_splits}
    metrics = _final_metrics(accelerator, loop, cls, extra_sets)
    check_outcome(
        metrics["test"][task.metric.key],
        task.metric.label,
        state.step,
        len(state.bad_steps),
        f"{out / 'model'} is left as it was and the run's checkpoints are in {out / 'checkpoints'}",
        "Lower train.lr or set train.grad_clip, and start a new run",
    )
    if accelerator.is_main_process:
        _write_outputs(accelerator, loop, metrics, out, extra_sets)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


def _final_metrics(accelerator: Accelerator, loop: _INRLoop, cls: type, extra_sets: dict) -> dict:
    """The final evaluation (test split and extra splits, raw and clamped) and ``metrics.json``'s contents."""
    config, task, state, model, data = loop.config, loop.task, loop.state, loop.model, loop.config.data
    extra: dict[str, dict[int, dict[int, float]]] = {}
    scores = evaluate(accelerator, model, loop.test_set, config, task, extra=extra)
    means = _means(scores)
    headline = task.headline(scores)
    score, per_item = means[headline], scores[headline]
    key = task.metric.key
    entry = {"step": state.step, "minutes": state.train_seconds / 60, f"test_{key}": score}
    state.history.append({**entry, **({"by_setting": _labelled(task, means)} if len(means) > 1 else {})})
    loop.checkpoint()  # --resume can extend the run
    metrics = {
        "test": {
            key: score,
            "images": len(per_item),
            "setting": task.setting_label(headline),
            "by_setting": _labelled(task, means),
            "results": [{"setting": setting, key: value} for setting, value in means.items()],
            "outputs": f"raw (the paper's protocol: {task.metric.label} of the model's outputs as they are)",
            **_extra_means(task, extra, headline),  # the task's extra metrics, by key
        },
        "steps": state.step,
        "train_minutes": state.train_seconds / 60,
        "skipped_images": len(state.unreadable),
        "skipped_steps": state.bad_steps,  # steps whose non-finite update was not applied (train.max_bad_steps)
        "world_size": accelerator.num_processes,
        "hardware": _hardware(accelerator),
        "mixed_precision": accelerator.mixed_precision,
        "compile": {
            "enabled": config.train.compile,
            "first_step_seconds": loop.first_step_seconds,  # with compilation when enabled
            "later_steps_seconds": loop.later_steps_seconds,
        },
        "command": command_line(),
        "model": {
            "class": cls.__name__,
            "parameters": sum(p.numel() for p in accelerator.unwrap_model(model).parameters()),
        },
        "data": {
            "task": data.task,
            "source": data.source,
            "test_split": data.test_split,
            "extra_test_splits": list(data.extra_test_splits),
            "resolution": task.resolution(loop.train_set),
            **task.data_report(loop.train_set, loop.test_set),
        },
        "history": state.history,
        f"per_image_test_{key}": per_item,
        f"per_setting_test_{key}": _labelled(task, scores),
        "config": config.to_dict(),
    }
    for split, extra_set in extra_sets.items():  # more held-out sets, each reported beside the test split
        extra = {}
        extra_scores = evaluate(accelerator, model, extra_set, config, task, extra=extra, whole=True)
        metrics["test"].setdefault("extra", {})[split] = {
            key: _means(extra_scores)[headline],
            **{k: v for k, v in _extra_means(task, extra, headline).items() if not k.startswith("by_setting")},
            "images": len(extra_scores[headline]),
        }
    return metrics


def _extra_means(task, extra: dict[str, dict[int, dict[int, float]]], headline: int) -> dict[str, Any]:
    """``{key: mean at the headline setting, by_setting_<key>: means by setting}`` of the task's extra metrics
    (a metric with no values, e.g. SSIM of views that are not square, is left out)."""
    means = {}
    for metric in task.extra_metrics:
        by_setting = {k: float(np.mean(list(v.values()))) for k, v in extra.get(metric.key, {}).items() if v}
        if headline in by_setting:
            means[metric.key] = by_setting[headline]
            means[f"by_setting_{metric.key}"] = _labelled(task, by_setting)
    return means


def _write_outputs(accelerator: Accelerator, loop: _INRLoop, metrics: dict, out: Path, extra_sets: dict) -> None:
    """``model/`` (never a non-finite one), the task's figure, ``metrics.json`` and the closing lines."""
    task, data, test_set = loop.task, loop.config.data, loop.test_set
    raw = accelerator.unwrap_model(loop.model).eval()
    check_finite(raw, "the trained model")  # never written: a non-finite model replaces nothing

    def fill(folder: Path) -> None:
        raw.preprocessing = task.preprocessing()
        raw.save_pretrained(folder)
        write_model_card(folder, model=raw, metrics=metrics)

    replace_dir(out / "model", fill)
    key, label, unit = task.metric.key, task.metric.label, task.metric.unit
    per_item = metrics[f"per_image_test_{key}"]
    pictures = [task.figure(raw, test_set, task.shown(list(per_item)), accelerator.device)]
    for extra_set in extra_sets.values():  # the first items of each extra split below the test split's
        pictures.append(task.figure(raw, extra_set, list(range(min(4, len(extra_set)))), accelerator.device))
    captions = [f"split {s!r}" for s in (data.test_split, *extra_sets)] if extra_sets else None
    save_png(stack_vertically(pictures, captions), out / task.figure_name)
    curve = [(h["step"], h[f"test_{key}"]) for h in metrics["history"] if f"test_{key}" in h]
    save_png(learning_curve(curve, f"test {label} ({unit})" if unit else f"test {label}", "learning curve"),
             out / "learning_curve.png")  # fmt: skip
    write_json(out / "metrics.json", metrics)
    test, steps, minutes = metrics["test"], metrics["steps"], metrics["train_minutes"]
    shown = test["by_setting"]
    by = "; ".join(f"{k}: {v:.2f} {unit}" for k, v in shown.items()) if len(shown) > 1 else ""
    print(
        f"test {label} {test[key]:.2f} {unit} ({test['setting']}; raw outputs{_beside(task, test)}) on "
        f"{len(per_item)} held-out items after {steps} steps ({minutes:.1f} min){' [' + by + ']' if by else ''}; "
        f"wrote {out}/model, metrics.json, {task.figure_name}, learning_curve.png",
        flush=True,
    )
    for split, scored in test.get("extra", {}).items():
        print(
            f"{split} {label} {scored[key]:.2f} {unit} (raw outputs{_beside(task, scored)}) "
            f"on {scored['images']} held-out items of split {split!r}",
            flush=True,
        )
    if loop.state.unreadable:
        print(
            f"warning: {len(loop.state.unreadable)} unreadable training images were skipped (see the warnings)",
            flush=True,
        )


def _beside(task, scored: dict) -> str:
    """``"; <label>: <value> <unit>"`` for each of the task's extra metrics in a result."""
    parts = []
    for metric in task.extra_metrics:
        if metric.key in scored:
            value = f"{scored[metric.key]:.2f} {metric.unit}" if metric.unit else f"{scored[metric.key]:.3f}"
            parts.append(f"; {metric.label}: {value}")
    return "".join(parts)


def run() -> None:
    """The console entry point (``apps/train.py``, ``ginr-train``)."""
    run_app(main, (ImageLoadError, DatasetUnavailableError, LightFieldError, FileNotFoundError))
