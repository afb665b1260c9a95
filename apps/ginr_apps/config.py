"""Run configuration of the apps: YAML files that build on base files, dotted overrides, strict checks.

A training run has three sections and two top-level settings::

    base: base/ffhq256.yaml   # optional: files (relative to this one) whose settings this file changes
    model:                    # family + preset + any constructor argument of the model class
      family: locinr
      preset: ffhq-256
    data: {...}               # the task's data settings (ginr_apps.tasks: images, nvs, ...)
    train: {...}              # TrainConfig
    seed: 0
    output_dir: runs/ffhq256_locinr   # default: runs/<the config file's name>

An experiment is the few settings that differ from its base files, which are merged first (later
files and then this one win, section by section). Loading, merging, overrides and type checks are
OmegaConf's (docs/architecture.md, "Configs", says why); the messages and range checks are ginr's.
Every key is checked before anything runs: a misspelt
setting, a duplicate key or a value of the wrong type is an error naming the setting and
listing the valid ones. ``python apps/train.py --help-config`` lists every setting with its type,
default and meaning, read from the schema below (the comment after each field is its meaning).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ginr_core import TooLargeError, check_model_memory, get_model_class, get_preset, list_families, list_presets

from .schema import meaning, setting
from .tasks import DataSettings, get_task_class, list_tasks

__all__ = [
    "RESUME_MAY_CHANGE",
    "ConfigError",
    "RunConfig",
    "SavedSettings",
    "TrainConfig",
    "build_section",
    "config_help",
    "load_config",
    "load_tree",
    "model_kwargs",
    "resume_changes",
]


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message names the setting."""


# A YAML file expands to at most this many nodes (aliases counted at every use): a few anchors are fine, a
# "billion laughs" file is refused before anything walks it.
MAX_YAML_NODES = 100_000


def _check_expansion(text: str, where: str) -> None:
    """Refuse YAML whose aliases expand into more than ``MAX_YAML_NODES`` nodes (counted on the node graph,
    each shared node once per use, without building the expansion)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {err}") from None
    sizes: dict[int, int] = {}

    def size(node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 0  # a node that contains itself counts once
            children = (
                [c for pair in node.value for c in pair]
                if isinstance(node, yaml.MappingNode)
                else (node.value if isinstance(node, yaml.SequenceNode) else [])
            )
            sizes[id(node)] = min(MAX_YAML_NODES + 1, 1 + sum(size(c) for c in children))
        return sizes[id(node)]

    if root is not None and size(root) > MAX_YAML_NODES:
        raise ConfigError(f"{where}: its aliases expand to more than {MAX_YAML_NODES:,} values; refused")


def _parse_yaml(text: str, where: str) -> Any:
    """YAML read by OmegaConf (``3e-4`` is a number, a duplicate key is an error), as plain Python values;
    ``${...}`` stays text (ginr configs have no interpolation)."""
    _check_expansion(text, where)
    try:
        return OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    except yaml.MarkedYAMLError as err:
        problem = str(err.problem or "")
        if problem.startswith("found duplicate key"):
            key, line = problem.removeprefix("found duplicate key").strip(), err.problem_mark.line + 1
            raise ConfigError(
                f"{where}: duplicate key {key!r} on line {line} (the later one would silently win)"
            ) from None
        raise ConfigError(f"{where}: not valid YAML: {err}") from None
    except (yaml.YAMLError, OmegaConfBaseException, AssertionError) as err:
        raise ConfigError(f"{where}: not valid YAML: {err}") from None


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, section by section (OmegaConf's merge; a list is replaced, not appended). A
    value that is not a section where ``base`` has one (``data=[1, 2]``) replaces it, for the checks to name."""
    clashes = {k for k, v in update.items() if isinstance(base.get(k), dict) != isinstance(v, dict)}
    kept = {k: v for k, v in base.items() if k not in clashes}
    try:
        rest = {k: v for k, v in update.items() if k not in clashes}
        merged = OmegaConf.merge(OmegaConf.create(kept), OmegaConf.create(rest))
    except (TypeError, OmegaConfBaseException) as err:
        raise ConfigError(f"cannot merge the settings {sorted(update)}: {err}") from None
    return {**OmegaConf.to_container(merged, resolve=False), **{k: update[k] for k in clashes}}


@dataclass
class TrainConfig:
    """Optimisation, evaluation and checkpointing."""

    batch_size: int = setting(16, "total over all processes")
    max_steps: int | None = setting(1000, "training steps (or set epochs and max_steps: null)")
    epochs: float | None = setting(None, "instead of max_steps: passes over the training split")
    time_budget_minutes: float | None = setting(None, "stop early when training has run this long")
    lr: float = setting(1e-4, "Adam learning rate after the warm-up")
    warmup_steps: int = setting(0, "linear warm-up from 0")
    lr_schedule: str = setting(
        "constant", 'after the warm-up: "constant" (the paper\'s) or "cosine" (to 0 at the last step)'
    )
    decay_steps: int = setting(0, "then a linear decay of the learning rate to 0 over the last k steps (0: none)")
    loss: str = setting(
        "mse",
        '"mse" (the paper\'s: the mean squared error over the batch) or "psnr" (minus the mean of each item\'s '
        'own PSNR: an item counts by its relative error, as a per-image mean PSNR scores it) or "l1" (the mean '
        "absolute error)",
    )
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas")
    weight_decay: float = setting(0.0, "Adam weight decay")
    grad_clip: float | None = setting(None, "clip the gradient norm to this (None: no clipping)")
    max_bad_steps: int = setting(
        0, "steps with a NaN/Inf loss or gradient to skip before stopping (0: stop at the first)"
    )
    mixed_precision: str = setting(
        "no", '"no" (fp32, the paper\'s), "bf16" or "fp16" (GPUs); the launcher\'s flag wins'
    )
    tf32: bool = setting(
        False, "TF32 matmuls for fp32 runs on GPUs that have them (faster, 10-bit mantissa); off: strict fp32"
    )
    eval_every: int = setting(250, "steps between evaluations on the test split")
    eval_every_epochs: int | None = setting(None, "instead: evaluate every this many epochs (Fig. 1's points: 40)")
    eval_batch_size: int = setting(32, "items per evaluation batch")
    checkpoint_every: int = setting(500, "steps between checkpoints")
    keep_checkpoints: int = setting(2, "complete checkpoints kept (the newest)")
    decode_chunk_size: int | str | None = setting(
        "auto", "coords per decoding chunk; auto: cache-sized on CPU, one go on GPUs"
    )
    log_every: int = setting(10, "steps between loss updates of the progress bar")
    cpu_threads: int | None = setting(None, "torch threads per process on CPU (default: the cores / local processes)")
    compile: bool = setting(
        False, "torch.compile the encoder and the per-coordinate decoding (docs/images.md: when it pays)"
    )
    gradient_accumulation_steps: int = setting(
        1, "split each step's batch into k micro-batches (same step, less memory)"
    )
    report_to: str = setting(
        "none", "experiment trackers: none, tensorboard, wandb, trackio or all (through Accelerate)"
    )
    timeout_minutes: float = setting(60.0, "process-group timeout of multi-process runs (a rank waiting longer fails)")


@dataclass
class RunConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"family": "locinr", "preset": None})
    data: DataSettings = field(default_factory=DataSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    output_dir: str = "runs/default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dict(self.model),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "seed": self.seed,
            "output_dir": self.output_dir,
        }


# ------------------------------------------------------------------------------------------------ checks
def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    return re.sub(r"<class '(\w+)'>", r"\1", text)


def field_docs(cls) -> dict[str, str]:
    """The meaning of each field of a config section, as declared with ``setting`` (inherited fields too)."""
    return {f.name: meaning(f) for f in dataclasses.fields(cls)}


def build_section(cls, values: Any, name: str, others: dict[str, type] | None = None):
    """An instance of dataclass ``cls`` from ``values``, every key and type checked.

    ``others`` maps a description (e.g. ``"data.task=nvs"``) to a dataclass whose keys belong
    elsewhere, so that such a key is named as belonging there.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{name} must be a mapping of settings, got {type(values).__name__} {values!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in valid:
            owner = next((where for where, other in (others or {}).items() if key in other.__dataclass_fields__), None)
            if owner is not None:
                raise ConfigError(
                    f"{name}.{key} applies to {owner} only; this section's settings are: {', '.join(valid)}"
                )
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown setting {name}.{key}; {name} settings are: {', '.join(valid)}{hint}")
    # the types: OmegaConf's structured config of the dataclass checks (and converts) every value, one key at a
    # time (so that an error names it); values stay as written (no ${...} interpolation)
    checked = OmegaConf.structured(cls)
    for key, value in values.items():
        try:
            checked = OmegaConf.merge(checked, {key: value})
        except OmegaConfBaseException as err:
            raise ConfigError(
                f"{name}.{key} = {value!r} is not a valid {_type_name(hints[key])} ({str(err).splitlines()[0]})"
            ) from None
    plain = OmegaConf.to_container(checked, resolve=False)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()})


def model_kwargs(model: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    """``(model class, constructor kwargs)`` of a ``model`` section: preset settings, then explicit ones."""
    settings = dict(model)
    family = settings.pop("family", "locinr")
    preset = settings.pop("preset", None)
    try:
        cls = get_model_class(family)
    except ValueError as err:
        raise ConfigError(f"model.family: {err}") from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in settings:
        if key not in accepted:
            raise ConfigError(
                f"unknown setting model.{key} for {cls.__name__}; its settings are: {', '.join(accepted)}"
            )
    kwargs = {}
    if preset is not None:
        try:
            kwargs.update(get_preset(preset, family))
        except ValueError as err:
            raise ConfigError(f"model.preset: {err}") from None
    kwargs.update({k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    return cls, kwargs


# ------------------------------------------------------------------------------------------------ files
def _read_file(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file with its base files merged in (``base:`` paths are relative to the file)."""
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"{path}: base files include each other: {' -> '.join(p.name for p in (*chain, path))}")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        loaded = _parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    bases = loaded.pop("base", None) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: base must be a file name or a list of file names, got {bases!r}")
    tree: dict[str, Any] = {}
    for base in bases:
        tree = _merge(tree, _read_file(path.parent / base, (*chain, path)))
    return _merge(tree, loaded)


def load_tree(
    path: str | Path | None, overrides: list[str] | None = None, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults <- file (after its base files) <- ``key=value`` overrides, as a nested dict."""
    tree: dict[str, Any] = dict(defaults or {})
    if path is not None:
        tree = _merge(tree, _read_file(Path(path)))
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if "=" not in item or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        try:
            tree = _merge(tree, OmegaConf.to_container(OmegaConf.from_dotlist([item]), resolve=False))
        except (yaml.YAMLError, OmegaConfBaseException) as err:
            raise ConfigError(f"override {item!r}: cannot set it: {err}") from None
    return tree


def check_top_level(tree: dict[str, Any], sections: list[str]) -> None:
    unknown = sorted(set(tree) - set(sections))
    if unknown:
        raise ConfigError(f"unknown top-level setting(s) {unknown}; expected {', '.join(sections)}")


def run_settings(tree: dict[str, Any], path: str | Path | None, default_output_dir: str) -> tuple[int, str]:
    """``(seed, output_dir)`` of a run: ``output_dir`` defaults to ``runs/<config file name>``."""
    seed = tree.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed = {seed!r} is not an integer >= 0")
    output_dir = tree.get("output_dir", f"runs/{Path(path).stem}" if path is not None else default_output_dir)
    if not isinstance(output_dir, str) or not output_dir:
        raise ConfigError(f"output_dir must be a folder path, got {output_dir!r}")
    return seed, output_dir


def parse_with_overrides(parser, argv: list[str] | None):
    """``(args, overrides)``: the parser's flags, and every ``section.key=value`` wherever it stands
    (also after an option, which ``nargs="*"`` alone would refuse)."""
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args, list(args.overrides) + extra


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- YAML file (after its base files) <- ``key=value`` overrides (YAML values:
    ``train.lr=3e-4``, ``data.jitter=true``); ``output_dir`` defaults to ``runs/<file name>``."""
    tree = load_tree(path, overrides, defaults)
    check_top_level(tree, ["model", "data", "train", "seed", "output_dir"])
    model = tree.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError(f"model must be a mapping of settings, got {type(model).__name__} {model!r}")
    model = {"family": "locinr", "preset": None, **model}
    _check_model(*model_kwargs(model), path)  # the family, the preset, every model setting and its value
    data = tree.get("data") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"data must be a mapping of settings, got {type(data).__name__} {data!r}")
    task_name = data.get("task", "images") if isinstance(data, dict) else "images"
    try:
        task = get_task_class(task_name)
    except ValueError as err:
        raise ConfigError(f"data.task: {err}") from None
    others = {f"data.task={name}": cls.settings for name, cls in list_tasks().items() if cls is not task}
    seed, output_dir = run_settings(tree, path, RunConfig.output_dir)
    config = RunConfig(
        model=model,
        data=build_section(task.settings, {"task": task_name, **data}, "data", others),
        train=build_section(TrainConfig, tree.get("train"), "train"),
        seed=seed,
        output_dir=output_dir,
    )
    if config.data.source is None:
        config.data.source = task.default_source
    _check_values(config)
    try:
        task.settle(config.data)
        task.check_settings(config.data)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return config


def _check_model(cls: type, kwargs: dict[str, Any], path: str | Path | None) -> None:
    """Build the model on the meta device (no memory, no time): its own checks of every value run now,
    before any data is read, and their message is the error; then refuse a model that training (weights,
    gradients, Adam's two moments) cannot hold in this machine's memory."""
    try:
        with torch.device("meta"):
            cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model ({cls.__name__}): {err}") from None
    except (NotImplementedError, RuntimeError):  # a family that cannot be built on meta: checked when it is built
        return
    try:
        check_model_memory(
            cls,
            kwargs,
            str(path or "the run configuration"),
            prefix="model.",
            copies=4,
            use="to train: weights, gradients, Adam moments",
        )
    except TooLargeError as err:
        raise ConfigError(str(err)) from None


def _finite(name: str, value: float | None, low: float, low_ok: bool, what: str) -> None:
    """Raise unless ``value`` is None or a finite number above ``low`` (or equal to it if ``low_ok``)."""
    if value is None:
        return
    if not math.isfinite(value) or value < low or (value == low and not low_ok):
        raise ConfigError(f"{name} must be {what}, got {value}")


MAX_RESOLUTION = 8192  # pixels per side: more is a typo, not an experiment


def _check_values(config: RunConfig) -> None:
    train, data = config.train, config.data
    if (train.max_steps is None) == (train.epochs is None):
        raise ConfigError("set exactly one of train.max_steps and train.epochs")
    for name in ("batch_size", "eval_every", "eval_batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
        if getattr(train, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1, got {getattr(train, name)}")
    if train.max_steps is not None and train.max_steps < 1:
        raise ConfigError(f"train.max_steps must be >= 1, got {train.max_steps}")
    _finite("train.epochs", train.epochs, 0, False, "a positive number of passes over the training split")
    _finite("train.lr", train.lr, 0, False, "a positive, finite learning rate")
    _finite("train.grad_clip", train.grad_clip, 0, False, "a positive gradient norm (or null: no clipping)")
    _finite("train.weight_decay", train.weight_decay, 0, True, "a finite number >= 0")
    _finite("train.time_budget_minutes", train.time_budget_minutes, 0, False, "a positive number of minutes")
    if not all(math.isfinite(b) and 0 <= b < 1 for b in train.betas):
        raise ConfigError(f"train.betas must be two numbers in [0, 1), got {list(train.betas)}")
    if train.warmup_steps < 0:
        raise ConfigError(f"train.warmup_steps must be >= 0, got {train.warmup_steps}")
    if train.decay_steps < 0:
        raise ConfigError(f"train.decay_steps must be >= 0, got {train.decay_steps}")
    if train.max_bad_steps < 0:
        raise ConfigError(f"train.max_bad_steps must be >= 0, got {train.max_bad_steps}")
    for name in ("cpu_threads", "eval_every_epochs"):
        if getattr(train, name) is not None and getattr(train, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1 (or null: the default), got {getattr(train, name)}")
    chunk = train.decode_chunk_size
    if chunk is not None and chunk != "auto" and (not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(f"train.decode_chunk_size must be >= 1, auto or null (one go), got {chunk!r}")
    if train.loss not in ("mse", "psnr", "l1"):
        raise ConfigError(f"train.loss must be mse, psnr or l1, got {train.loss!r}")
    if train.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(f"train.lr_schedule must be constant or cosine, got {train.lr_schedule!r}")
    if train.mixed_precision not in ("no", "bf16", "fp16"):
        raise ConfigError(f"train.mixed_precision must be no, bf16 or fp16, got {train.mixed_precision!r}")
    if data.on_error not in ("skip", "raise"):
        raise ConfigError(f"data.on_error must be skip or raise, got {data.on_error!r}")
    if data.resolution is not None and not 1 <= data.resolution <= MAX_RESOLUTION:
        raise ConfigError(f"data.resolution must be between 1 and {MAX_RESOLUTION} pixels, got {data.resolution}")
    if data.test_size is not None and data.test_size < 1:
        raise ConfigError(f"data.test_size must be >= 1 (or null: the whole test split), got {data.test_size}")
    check_launcher_settings(train, data.num_workers)


# settings a --resume may change: how long the run goes on, and how it is watched and saved
RESUME_MAY_CHANGE = (
    "output_dir",
    "train.max_steps",
    "train.epochs",
    "train.time_budget_minutes",
    "train.eval_every",
    "train.eval_every_epochs",
    "train.eval_batch_size",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.log_every",
    "train.cpu_threads",
    "train.decode_chunk_size",
    "data.test_size",
    "data.num_workers",
    "data.on_error",
    "train.report_to",
    "train.timeout_minutes",
    "train.gradient_accumulation_steps",  # the same steps, split into micro-batches
    "train.compile",  # the same computation, compiled
)


REPORT_TO = ("none", "tensorboard", "wandb", "trackio", "all")


def check_launcher_settings(train, num_workers: int | None) -> None:
    """The settings both training apps share with the launcher: workers, micro-batches, trackers, timeout."""
    if num_workers is not None and num_workers < 0:
        raise ConfigError(f"data.num_workers must be >= 0 (or null: chosen from the cores), got {num_workers}")
    if train.gradient_accumulation_steps < 1:
        raise ConfigError(f"train.gradient_accumulation_steps must be >= 1, got {train.gradient_accumulation_steps}")
    if train.batch_size % train.gradient_accumulation_steps:
        raise ConfigError(
            f"train.batch_size={train.batch_size} must be divisible by "
            f"train.gradient_accumulation_steps={train.gradient_accumulation_steps}"
        )
    if train.report_to not in REPORT_TO:
        raise ConfigError(f"train.report_to must be one of {', '.join(REPORT_TO)}, got {train.report_to!r}")
    _finite("train.timeout_minutes", train.timeout_minutes, 0, False, "a positive number of minutes")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def resume_changes(saved: dict[str, Any], now: dict[str, Any], may_change: tuple[str, ...]) -> list[str]:
    """The settings a ``--resume`` changes (``"train.max_steps: 4 -> 8"``), after checking that it
    changes only ``may_change``: any other difference from the run's own settings (``saved``, read
    from its checkpoint) is a ``ConfigError`` listing them all."""
    before, after = _flatten(saved), _flatten(now)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    refused = [k for k in changed if k not in may_change]
    if refused:
        shown = "; ".join(f"{k}: {before.get(k)!r} in the run, {after.get(k)!r} now" for k in refused)
        raise ConfigError(
            f"--resume continues a run with its own settings, and these differ: {shown}. A resume may change only "
            f"{', '.join(may_change)}; for other settings start a new run (another --output-dir)"
        )
    return [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in changed]


class SavedSettings:
    """A run's settings as a checkpoint part: saved with every checkpoint; on ``--resume``, loading it
    checks the settings of now against the run's (``resume_changes``) before anything else is loaded."""

    def __init__(self, now: dict[str, Any], may_change: tuple[str, ...]) -> None:
        self.now, self.may_change, self.changes = now, may_change, []

    def state_dict(self) -> dict[str, Any]:
        return self.now

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.changes = resume_changes(saved, self.now, self.may_change)


# ------------------------------------------------------------------------------------------------ --help-config
def _section_help(title: str, cls, prefix: str, skip: tuple[str, ...] = ()) -> list[str]:
    docs, hints = field_docs(cls), typing.get_type_hints(cls)
    lines = [title]
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"  {prefix}{f.name}: {_type_name(hints[f.name])} = {default!r}")
        if docs.get(f.name):
            lines.append(f"      {docs[f.name]}")
    return lines


def sections_help(sections: dict[str, type], top_level: dict[str, tuple[str, Any, str]]) -> list[str]:
    """Help lines of dataclass sections and top-level settings ``name -> (type, default, meaning)``."""
    lines = []
    for name, cls in sections.items():
        lines += _section_help(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}", cls, f"{name}.")
        lines.append("")
    lines.append("top level:")
    for name, (kind, default, text) in top_level.items():
        lines += [f"  {name}: {kind} = {default!r}", f"      {text}"]
    return lines


def config_help(family: str | None = None) -> str:
    """Every setting of ``apps/train.py`` with its type, default and meaning, from the schema."""
    families = list_families()
    lines = ["model: the model family and its constructor arguments"]
    lines.append(f"  model.family: str = 'locinr'\n      one of: {', '.join(families)}")
    lines.append(f"  model.preset: str | None = None\n      one of: {', '.join(list_presets())}")
    for name, cls in families.items():
        if family is not None and name != family:
            continue
        params = inspect.signature(cls.__init__).parameters.values()
        shown = ", ".join(f"{p.name}={p.default!r}" for p in params if p.name != "self")
        lines.append(f"  model.* for {name} ({cls.__name__}): {shown}")
    lines.append("")
    tasks = list_tasks()
    lines += _section_help("data: settings of every task", DataSettings, "data.")
    for name, task in tasks.items():
        own = tuple(f.name for f in dataclasses.fields(DataSettings))
        lines += _section_help(f"  data.* of data.task={name} only:", task.settings, "data.", skip=own)
    lines.append("")
    lines += sections_help(
        {"train": TrainConfig},
        {
            "seed": ("int", 0, "seed of every random draw (with the step and the process)"),
            "output_dir": ("str", "runs/<config name>", "where the run writes its files"),
        },
    )
    return "\n".join(lines) + "\n"
