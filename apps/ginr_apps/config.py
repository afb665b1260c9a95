"""Run configuration of the apps: YAML files, dotted ``key=value`` overrides, strict validation.

A configuration has three sections and two top-level settings::

    model:            # family + preset + any constructor argument of the model class
      family: locinr
      preset: null
      patch_size: 8
    data: {...}       # DataConfig
    train: {...}      # TrainConfig
    seed: 0
    output_dir: runs/locinr-photos

Every key is checked before anything runs: a misspelt setting is an error naming the setting and
listing the valid ones, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ginr_core import PRESETS, get_model_class, get_preset

__all__ = ["ConfigError", "DataConfig", "RunConfig", "TrainConfig", "load_config", "model_kwargs"]


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message names the setting."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``3e-4`` as a string; read it as the float everybody means."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _parse_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


@dataclass
class DataConfig:
    """Where the data comes from and how a step samples it."""

    task: str = "images"  # "images" (reconstruction) or "nvs" (novel view synthesis from posed views)
    # images: "photos" (embedded, offline), a folder, a save_to_disk dir or a Hub dataset id;
    # nvs: "scenes" (embedded rendered objects, offline) or a learnit-layout folder. Default: the embedded one.
    source: str | None = None
    protocol: str | None = None  # a ginr_data.IMAGE_PROTOCOLS name (resolution, transforms, splits)
    resolution: int | None = None  # default: the protocol's, or 32 for the photos
    train_split: str = "train"
    test_split: str = "test"
    test_size: int | None = None  # evaluate the first N test images (default: the whole split)
    subsample: float | None = None  # fraction of pixels decoded per image per step (paper: 0.1 above 178 px)
    jitter: bool = False  # move coordinates within their pixel (ginr-ipc ImageNette)
    channel_permutation: bool = False  # augmentation: random RGB order per training image
    image_column: str | None = None
    on_error: str = "skip"  # unreadable images: "skip" (warn and count) or "raise"
    num_workers: int = 0
    # novel view synthesis only
    category: str | None = None  # cars, chairs, lamps (learnit ShapeNet); the embedded scenes: shapes
    views: tuple[int, int] | None = None  # (min, max) support views per training step; evaluated at each
    query_rays: int | None = None  # rays of the novel view per training item and step (None: all pixels)
    test_repeats: int = 100  # test items per test object, each with its own seeded views (paper: 100)


@dataclass
class TrainConfig:
    """Optimisation, evaluation and checkpointing."""

    batch_size: int = 16  # total over all processes
    max_steps: int | None = 1000
    epochs: float | None = None  # instead of max_steps: passes over the training split
    time_budget_minutes: float | None = None  # stop early when training has run this long
    lr: float = 1e-4
    warmup_steps: int = 0
    lr_schedule: str = (
        "constant"  # after the warm-up: "constant" (the paper's) or "cosine" (decays to 0 at the last step)
    )
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    mixed_precision: str = "no"  # "no", "bf16" or "fp16" (GPU); fp32 on CPU
    eval_every: int = 250
    eval_batch_size: int = 32
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    decode_chunk_size: int | None = None  # decode coordinates in chunks (same result, less memory)
    log_every: int = 10
    cpu_threads: int | None = None  # torch threads per process on CPU (default: the cores / local processes)


@dataclass
class RunConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"family": "locinr", "preset": None})
    data: DataConfig = field(default_factory=DataConfig)
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
def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` fits a (simple) type annotation: int, float, str, bool, None, tuples, unions."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(annotation)
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(map(_accepts, args, value))
    return True


def _section(cls, values: dict[str, Any], name: str):
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    for key, value in values.items():
        if key not in valid:
            raise ConfigError(f"unknown setting {name}.{key}; {name} settings are: {', '.join(valid)}")
        if not _accepts(hints[key], value):
            raise ConfigError(f"{name}.{key} = {value!r} is not a valid {hints[key]}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**kwargs)


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
        if preset not in PRESETS:
            raise ConfigError(f"model.preset: unknown preset {preset!r}; available: {', '.join(PRESETS)}")
        kwargs.update(get_preset(preset, family))
    kwargs.update({k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    return cls, kwargs


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        if not isinstance(node.setdefault(key, {}), dict):
            raise ConfigError(f"cannot set {dotted}: {key} is not a section")
        node = node[key]
    node[keys[-1]] = value


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- YAML file <- ``key=value`` overrides (YAML values: ``train.lr=3e-4``, ``data.jitter=true``)."""
    tree: dict[str, Any] = dict(defaults or {})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = _parse_yaml(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        tree = _merge(tree, loaded)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = _parse_yaml(raw) if raw != "" else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: cannot parse the value: {err}") from None
        _set_dotted(tree, key.strip(), value)

    unknown = sorted(set(tree) - {"model", "data", "train", "seed", "output_dir"})
    if unknown:
        raise ConfigError(f"unknown top-level setting(s) {unknown}; expected model, data, train, seed, output_dir")
    model = {"family": "locinr", "preset": None, **(tree.get("model") or {})}
    model_kwargs(model)  # validates the family, the preset and every model setting
    config = RunConfig(
        model=model,
        data=_section(DataConfig, tree.get("data") or {}, "data"),
        train=_section(TrainConfig, tree.get("train") or {}, "train"),
        seed=tree.get("seed", 0),
        output_dir=str(tree.get("output_dir", RunConfig.output_dir)),
    )
    if not _accepts(int, config.seed):
        raise ConfigError(f"seed = {config.seed!r} is not an integer")
    _check_values(config)
    return config


def _check_values(config: RunConfig) -> None:
    train, data = config.train, config.data
    if (train.max_steps is None) == (train.epochs is None):
        raise ConfigError("set exactly one of train.max_steps and train.epochs")
    for name in ("batch_size", "eval_every", "eval_batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
        if getattr(train, name) < 1:
            raise ConfigError(f"train.{name} must be >= 1, got {getattr(train, name)}")
    if train.max_steps is not None and train.max_steps < 1:
        raise ConfigError(f"train.max_steps must be >= 1, got {train.max_steps}")
    if train.lr <= 0:
        raise ConfigError(f"train.lr must be positive, got {train.lr}")
    if train.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(f"train.lr_schedule must be constant or cosine, got {train.lr_schedule!r}")
    if train.mixed_precision not in ("no", "bf16", "fp16"):
        raise ConfigError(f"train.mixed_precision must be no, bf16 or fp16, got {train.mixed_precision!r}")
    if data.subsample is not None and not 0 < data.subsample <= 1:
        raise ConfigError(f"data.subsample must be in (0, 1], got {data.subsample}")
    if data.on_error not in ("skip", "raise"):
        raise ConfigError(f"data.on_error must be skip or raise, got {data.on_error!r}")
    if data.task not in ("images", "nvs"):
        raise ConfigError(f"data.task must be images or nvs, got {data.task!r}")
    if data.source is None:
        data.source = "photos" if data.task == "images" else "scenes"
    defaults = DataConfig()
    only = {
        "images": ("protocol", "subsample", "jitter", "channel_permutation", "image_column"),
        "nvs": ("category", "views", "query_rays"),
    }
    for task, names in only.items():
        if data.task != task:
            for name in names:
                if getattr(data, name) != getattr(defaults, name):
                    raise ConfigError(
                        f"data.{name} applies to data.task={task} only; this run has data.task={data.task}"
                    )
    if data.views is not None and not 1 <= data.views[0] <= data.views[1]:
        raise ConfigError(f"data.views must be [min, max] support views with 1 <= min <= max, got {list(data.views)}")
    if data.query_rays is not None and data.query_rays < 1:
        raise ConfigError(f"data.query_rays must be >= 1, got {data.query_rays}")
    if data.test_repeats < 1:
        raise ConfigError(f"data.test_repeats must be >= 1, got {data.test_repeats}")
