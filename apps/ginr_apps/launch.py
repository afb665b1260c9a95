"""What both training apps take from the launcher: the supported distributed setups, loader workers,
the process-group timeout, a chosen checkpoint to resume from, and experiment trackers.

Trackers go through Accelerate (``train.report_to``: ``none``, ``tensorboard``, ``wandb``,
``trackio`` or ``all``; ``--report_to`` on the command line): the run's settings at the start,
scalars every log step, the test metrics and a preview image at every evaluation. TensorBoard
writes its event files under ``<output_dir>/logs``.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, DistributedType
from accelerate.utils import InitProcessGroupKwargs

from .checkpoints import CheckpointError, checkpoint_marker
from .config import REPORT_TO

SUPPORTED = "one process (CPU, one GPU or Apple MPS) or data parallel (DDP: --multi_gpu, or CPU ranks)"


def add_launcher_flags(parser) -> None:
    """``--resume [CHECKPOINT]``, ``--allow-data-change`` and ``--report_to``, the same in both training apps."""
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue the run in --output-dir from its last checkpoint, or from CHECKPOINT (a checkpoint folder: "
        "of this run, to go on from that step; of another run, to start --output-dir from it)",
    )
    parser.add_argument(
        "--allow-data-change",
        action="store_true",
        help="--resume even though the files of data.source changed since the run started (otherwise refused, "
        "naming the change)",
    )
    parser.add_argument(
        "--report_to", "--report-to", dest="report_to", choices=REPORT_TO, help="trackers (train.report_to)"
    )


def launcher_overrides(args) -> list[str]:
    """The settings ``add_launcher_flags``'s flags stand for."""
    return [f"train.report_to={args.report_to}"] if args.report_to else []


# the package each tracker needs (the apps' optional extra "trackers" installs them all)
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}


def check_tracker(report_to: str) -> None:
    """Stop before any work when the tracker asked for is not installed (Accelerate would run without it and
    write no logs); ``all`` takes those that are."""
    package = TRACKER_PACKAGES.get(report_to)
    if package is not None and importlib.util.find_spec(package) is None:
        raise SystemExit(
            f"error: train.report_to={report_to} needs the {package} package, which is not installed: "
            f"pip install {package} (or the apps' extra: pip install -e 'apps[trackers]')"
        )


def make_accelerator(
    output_dir: str | os.PathLike,
    report_to: str = "none",
    timeout_minutes: float = 60.0,
    **kwargs,
) -> Accelerator:
    """An ``Accelerator`` with trackers and a process-group timeout; stops at once on setups ginr does not support.

    DeepSpeed, FSDP and Megatron shard or wrap the model in ways the apps' saving, EMA and evaluation do
    not handle: rather than fail at ``prepare`` or save the wrong weights, the run stops before any work.
    """
    for variable, name in _UNSUPPORTED_ENV.items():  # before Accelerator(), which may fail on them less clearly
        if os.environ.get(variable, "false").lower() in ("1", "true", "yes"):
            raise SystemExit(_unsupported(name))
    check_tracker(report_to)
    timeout = InitProcessGroupKwargs(timeout=datetime.timedelta(minutes=timeout_minutes))
    accelerator = Accelerator(
        log_with=None if report_to == "none" else report_to,
        project_dir=str(Path(output_dir) / "logs"),
        kwargs_handlers=[timeout],
        **kwargs,
    )
    kind = accelerator.distributed_type
    if kind in (DistributedType.DEEPSPEED, DistributedType.FSDP, DistributedType.MEGATRON_LM):
        raise SystemExit(_unsupported(kind.value))
    return accelerator


_UNSUPPORTED_ENV = {
    "ACCELERATE_USE_DEEPSPEED": "DeepSpeed",
    "ACCELERATE_USE_FSDP": "FSDP",
    "ACCELERATE_USE_MEGATRON_LM": "Megatron-LM",
}


def _unsupported(name: str) -> str:
    return (
        f"error: {name} is not supported by ginr's training apps (they save, average and evaluate one whole "
        f"replica of the model, which these setups shard); supported: {SUPPORTED}. Launch with "
        "`accelerate launch --multi_gpu --num_processes N ...` (the models fit on one GPU: the paper's is 50 M "
        "parameters)."
    )


def loader_workers(configured: int | None, dataset, accelerator: Accelerator) -> int:
    """DataLoader workers: the configured number, else (None) a share of the machine's cores when a GPU
    trains on items decoded from files (folders, ``datasets``, light fields); 0 for data generated in memory
    (the embedded photos and digits) and for CPU training, whose math already uses every core."""
    if configured is not None:
        return configured
    if getattr(dataset, "in_memory", False) or accelerator.device.type == "cpu":
        return 0  # generated in memory; or CPU training, whose math already uses every core
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
    return max(0, min(8, cores // local - 1))


def loader_options(workers: int, accelerator: Accelerator) -> dict[str, Any]:
    """Persistent workers where there are workers, pinned memory on CUDA."""
    return {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "pin_memory": accelerator.device.type == "cuda",
    }


def resume_request(resume: bool | str, output_dir: str | os.PathLike) -> tuple[bool, Path | None]:
    """``--resume`` (True: the run's newest checkpoint) or ``--resume PATH`` (that checkpoint).

    Returns (whether ``output_dir`` must already hold the run, the chosen checkpoint or None). A chosen
    checkpoint of another run folder starts a new run in ``output_dir`` from it (which must then be
    free); one of ``output_dir``'s own continues the run from that step.
    """
    if resume is True or not resume:
        return bool(resume), None
    path = Path(resume)
    try:
        checkpoint_marker(path)
    except CheckpointError as err:
        raise SystemExit(f"error: --resume {path}: {err}") from None
    own = path.resolve().parent == (Path(output_dir) / "checkpoints").resolve()
    return own, path


# ---------------------------------------------------------------------------------------------- trackers
def _flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = "null" if value is None else value
        else:
            flat[name] = str(value)
    return flat


def start_tracking(accelerator: Accelerator, project: str, config: dict) -> None:
    """Open the trackers (main process) with the run's settings, flattened to ``section.key``."""
    if accelerator.log_with:
        accelerator.init_trackers(project, config=_flat(config))


def log_scalars(accelerator: Accelerator, values: dict[str, float], step: int) -> None:
    if accelerator.log_with:
        accelerator.log({k: float(v) for k, v in values.items()}, step=step)


def log_preview(accelerator: Accelerator, name: str, image, step: int) -> None:
    """A picture (PIL image, or ``(3, H, W)`` tensor in [0, 1]) to every tracker that shows images."""
    if not accelerator.log_with or not accelerator.is_main_process:
        return
    if isinstance(image, torch.Tensor):
        chw = image.detach().float().clamp(0, 1).cpu().numpy()
        hwc = np.ascontiguousarray((chw.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    else:
        hwc = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
        chw = hwc.transpose(2, 0, 1).astype(np.float32) / 255.0
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.log_images({name: chw[None]}, step=step)
        elif tracker.name == "wandb":
            tracker.log_images({name: [hwc]}, step=step)
        elif tracker.name == "trackio":
            import trackio

            tracker.log({name: trackio.Image(hwc)}, step=step)
