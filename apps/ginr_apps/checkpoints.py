"""Run folders and their checkpoints, shared by both training apps.

Checkpoint folders are ``checkpoints/step-00001000``; an unfinished one is
``checkpoints/.tmp-step-00001000``, which nothing ever loads. ``RunState`` is the progress a
checkpoint restores besides what Accelerate saves (model, optimiser, RNG states); ``open_run``
refuses to start over a finished or checkpointed run unless asked to resume it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

__all__ = [
    "RunState",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "open_run",
    "prune_checkpoints",
    "save_checkpoint",
]

_CHECKPOINT = re.compile(r"^step-(\d{8})$")


class RunState:
    """Progress restored with a checkpoint: the step, training seconds, and a run's own records
    (``fields``: name -> initial value, e.g. ``{"history": [], "skipped": 0}``)."""

    def __init__(self, **fields: Any) -> None:
        self.step, self.train_seconds = 0, 0.0
        self._fields = list(fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def state_dict(self) -> dict:
        return {"step": self.step, "train_seconds": self.train_seconds, **{k: getattr(self, k) for k in self._fields}}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])
        for name in self._fields:
            setattr(self, name, type(getattr(self, name))(state[name]))


def checkpoint_path(directory: str | Path, step: int, tmp: bool = False) -> Path:
    return Path(directory) / (f".tmp-step-{step:08d}" if tmp else f"step-{step:08d}")


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as ``(step, path)``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def open_run(output_dir: str | Path, resume: bool, final: str) -> Path | None:
    """The checkpoint to resume from (None for a fresh run), after checking that the request fits
    the folder: ``--resume`` needs a checkpoint; a fresh run needs a folder with neither
    checkpoints nor the run's ``final`` output (``model``, ``pipeline``). Raises ``SystemExit``."""
    out = Path(output_dir)
    checkpoints = out / "checkpoints"
    resume_from = latest_checkpoint(checkpoints)
    if resume and resume_from is None:
        raise SystemExit(f"error: --resume: no checkpoint in {checkpoints}")
    if not resume and (resume_from is not None or (out / final).exists()):
        raise SystemExit(
            f"error: {out} already holds a run; pass --resume to continue it, or choose another --output-dir "
            f"(nothing was changed)"
        )
    return resume_from


def prune_checkpoints(directory: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest complete checkpoints, and any unfinished ones."""
    for _, path in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    for path in Path(directory).glob(".tmp-step-*"):
        shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(accelerator, directory: Path, step: int, keep: int) -> None:
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
