"""What a run is for: each task owns its data settings, its batches, its scores, its card and its evaluation.

``apps/train.py`` runs any task with the same loop (Accelerate, checkpoints, resume, budgets);
``apps/evaluate.py`` and ``apps/publish.py`` ask ``task_for_model`` which task a saved model
belongs to. A task is a ``Task`` subclass that fills in three small parts: ``TaskData`` (settings,
datasets, batches), ``TaskMetrics`` (loss, scores) and ``TaskReport`` (figure, card, evaluate.py),
registered with ``@register_task`` (built in) or through the ``ginr.tasks`` entry points (another
package: docs/architecture.md, "Add a task"). Nothing outside the tasks branches on the task or on ``d_in``.

A task's scores are ``{setting: {item index: value}}`` with an integer ``setting`` (the decoding
resolution in pixels for images, the number of support views for light fields).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from PIL import Image

from ginr_core.models.registry import load_plugins

from ..schema import setting

__all__ = [
    "CONFIGS",
    "ENTRY_POINT_GROUP",
    "PSNR_CLAMPED",
    "SSIM",
    "CardParts",
    "DataSettings",
    "MeanSquaredLoss",
    "Metric",
    "Task",
    "TaskData",
    "TaskMetrics",
    "TaskReport",
    "get_task_class",
    "list_tasks",
    "register_task",
    "task_for_model",
]


@dataclass
class DataSettings:
    """The data settings every task has (a task's own schema subclasses this)."""

    task: str = setting("images", "what the run learns: see `list_tasks()` (images, nvs)")
    source: str | None = setting(None, "where the data comes from (default: the task's embedded data)")
    resolution: int | None = setting(None, "side of the encoder's input in pixels (default: the data's own)")
    train_split: str = setting("train", "split the model trains on")
    test_split: str = setting("test", "split the model is scored on")
    test_size: int | None = setting(None, "evaluate the first N test items (default: the whole split)")
    extra_test_splits: tuple[str, ...] = setting(
        (), "more held-out splits scored at the end of a run, each reported beside the test split (e.g. smooth)"
    )
    on_error: str = setting("skip", 'unreadable items: "skip" (warn and count) or "raise"')
    num_workers: int | None = setting(None, "DataLoader worker processes (null: some on GPUs for data read from files)")


@dataclass
class CardParts:
    """What a task contributes to a model card."""

    intro: str
    results: str
    usage: str
    eval_results: list  # huggingface_hub.EvalResult entries for the card's model-index
    title: str = ""  # what follows "<class> trained with ginr" in the card's title


@dataclass(frozen=True)
class Metric:
    """A task's score: its key in ``metrics.json`` and the card (``psnr``), how logs print it, its unit."""

    key: str = "psnr"
    label: str = "PSNR"
    unit: str = "dB"


PSNR_CLAMPED = Metric("psnr_clamped", "PSNR of the clamped outputs", "dB")
SSIM = Metric("ssim", "SSIM", "")
CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # apps/configs: the built-in tasks' default runs


class TaskData:
    """The data part of a task: its settings, its datasets and one step's batch."""

    settings: ClassVar[type[DataSettings]] = DataSettings  # the data section's schema
    default_source: ClassVar[str] = ""  # the embedded data (no download)
    # the run of `apps/train.py data.task=<name>` without --config (None: apps/configs/default.yaml)
    default_config: ClassVar[Path | None] = None

    @classmethod
    def accepts(cls, model) -> bool:
        """Whether a model takes this task's inputs and coordinates (its tokenizer, ``d_in``, channels)."""
        raise NotImplementedError

    @classmethod
    def settle(cls, data: DataSettings) -> None:
        """Resolve settings that depend on others in place, before ``check_settings`` (e.g. those that only mean
        something for the task's embedded data, when the source is another)."""

    @classmethod
    def check_settings(cls, data: DataSettings) -> None:
        """Raise ``ValueError`` naming a data setting whose value cannot be right."""

    def preprocessing(self) -> dict[str, Any] | None:
        """How a user's input becomes the model's (``model.preprocessing``, saved in ``config.json``), or None."""
        return None

    def data_report(self, train_set, test_set) -> dict[str, Any]:
        """What ``metrics.json``'s ``data`` section and the card say about the data besides its settings (e.g.
        which files of a flat folder were held out)."""
        return {}

    def datasets(self):
        """``(train_set, test_set)``: map-style datasets whose items are dicts with an ``index`` and a
        ``skipped`` count (unreadable sources passed over) besides the task's own entries."""
        raise NotImplementedError

    def extra_test_set(self, split: str):
        """The held-out set of ``split`` (one of ``data.extra_test_splits``), read like the test split."""
        raise NotImplementedError(f"task {self.name!r} has no extra test splits")

    def resolution(self, train_set) -> int:
        """The size of one training item as metrics.json reports it (pixels, samples)."""
        raise NotImplementedError

    def check_model(self, model, train_set) -> str | None:
        """What stops ``model`` from training on ``train_set``, or None."""
        raise NotImplementedError

    def training_batch(self, items: dict, device, generators, batch_generator):
        """``(inputs, coords, targets)`` of one step from a loader batch: ``model(inputs, coords)`` is
        compared with ``targets`` by ``loss``. ``generators`` holds one generator per item (keyed by seed,
        step and position), ``batch_generator`` one for the whole global batch."""
        raise NotImplementedError


class TaskMetrics:
    """The metrics part of a task: its loss, its scores and how they read."""

    metric: ClassVar[Metric] = Metric()  # what ``score`` measures: the run's test score and learning curve
    # more scores of the final evaluation, reported beside ``metric`` (e.g. the clamped PSNR, SSIM)
    extra_metrics: ClassVar[tuple[Metric, ...]] = ()
    # the range of the task's clamped score and its figures, as logs and cards state it (None: not clamped)
    clamp: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    def loss(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch's predictions."""
        raise NotImplementedError

    def score(self, model, dataset, indices: Sequence[int], device, extra=None) -> dict[int, dict[int, float]]:
        """``{setting: {index: value}}`` of ``metric`` on the test items ``indices``; ``extra``, if a dict,
        receives ``{metric key: {setting: {index: value}}}`` for each of ``extra_metrics``."""
        raise NotImplementedError

    def headline(self, scores: dict[int, dict[int, float]]) -> int:
        """The setting of ``scores`` whose mean is the run's test score."""
        raise NotImplementedError

    @classmethod
    def setting_label(cls, setting: int) -> str:
        """How a setting reads in logs and metrics, e.g. ``"32 px"`` or ``"3 views"``."""
        raise NotImplementedError


class TaskReport:
    """The report part of a task: the run's figure, the model card's sections and ``apps/evaluate.py``."""

    figure_name: ClassVar[str] = ""  # the picture a run leaves behind
    card_tag: ClassVar[str] = ""  # the Hub tag of its models
    pipeline_tag: ClassVar[str] = ""  # the Hub task id of its models (what the model does, for the Hub's filters)

    def shown(self, indices: list[int]) -> list[int]:
        """The test items in the run's picture."""
        return indices[:8]

    def figure(self, model, test_set, shown: Sequence[int], device) -> Image.Image:
        raise NotImplementedError

    @classmethod
    def card(cls, model, metrics: dict, repo: str) -> CardParts:
        raise NotImplementedError

    @classmethod
    def add_evaluate_arguments(cls, parser) -> None:
        """This task's flags of ``apps/evaluate.py`` (an argparse argument group)."""

    @classmethod
    def evaluate(cls, model, args, parser) -> dict[str, Any]:
        """``apps/evaluate.py`` for a model of this task: scores, ``eval.json``, ``eval.png``."""
        raise NotImplementedError


class Task(TaskData, TaskMetrics, TaskReport):
    """One kind of run: a name and its three parts (data, metrics, report), which a subclass fills in."""

    name: ClassVar[str] = ""

    def __init__(self, config) -> None:
        self.config, self.data = config, config.data


PSNR_LOSS_EPS = 3e-3  # train.loss=psnr: a squared-error floor (25 dB): items past it count alike (docs/images.md)


class MeanSquaredLoss:
    """A ``TaskMetrics`` loss in float32 (images and views), as ``train.loss`` says: ``"mse"``, the mean
    squared error over the batch; ``"psnr"``, minus the items' mean PSNR (dB, signal peak 1):
    ``(10 / B) * sum_i log10(MSE_i + eps)``, whose gradient weighs item i by ``1 / (MSE_i + eps)``;
    ``"l1"``, the mean absolute error (its optimum is the median colour: sharper edges than the mean's)."""

    def loss(
        self, prediction: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The loss, each element's error scaled by ``weights`` if given (broadcast to ``targets``)."""
        kind = self.config.train.loss
        if weights is None and kind != "psnr":
            return (F.l1_loss if kind == "l1" else F.mse_loss)(prediction.float(), targets)
        error = prediction.float() - targets
        per_element = error.abs() if kind == "l1" else error.square()
        if weights is not None:
            per_element = per_element * weights
        if kind == "psnr":
            return 10 * torch.log10(per_element.flatten(1).mean(1) + PSNR_LOSS_EPS).mean()
        return per_element.mean()


_TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` a task of the apps, under ``cls.name``."""
    if not cls.name or (cls.name in _TASKS and _TASKS[cls.name] is not cls):
        raise ValueError(f"a task needs a unique name, got {cls.name!r}")
    if not dataclasses.is_dataclass(cls.settings) or not issubclass(cls.settings, DataSettings):
        raise TypeError(f"{cls.__name__}.settings must be a dataclass subclassing DataSettings")
    _TASKS[cls.name] = cls
    return cls


ENTRY_POINT_GROUP = "ginr.tasks"
_entry_points_loaded = False


def _task_problem(name: str, cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Task) and cls.name == name):
        return f"is not a Task subclass named {name!r}"
    return None


def _load_entry_points() -> None:
    """Tasks of other packages: the ``ginr.tasks`` entry points, each a ``Task`` subclass (as a family plugs in
    through ``ginr.families``). A broken plug-in warns and the built-in tasks remain."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for cls in load_plugins(ENTRY_POINT_GROUP, "task", _task_problem):
        if _TASKS.get(cls.name) is not cls:
            register_task(cls)


def list_tasks() -> dict[str, type[Task]]:
    """``{name: task class}`` of the built-in tasks and those of installed plug-ins (``ginr.tasks``)."""
    _load_entry_points()
    return dict(_TASKS)


def get_task_class(name: str) -> type[Task]:
    tasks = list_tasks()
    try:
        return tasks[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(tasks)}") from None


def task_for_model(model) -> type[Task]:
    """The task whose data a saved model takes (its inputs and coordinates decide)."""
    for cls in list_tasks().values():
        if cls.accepts(model):
            return cls
    raise ValueError(
        f"no task takes a {type(model).__name__} with in_channels={model.in_channels}, d_in={model.d_in} "
        f"(tasks: {', '.join(_TASKS)})"
    )


# the built-in tasks register themselves on import
from . import images, nvs  # noqa: E402, F401
