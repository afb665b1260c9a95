"""Crash-safe files and checkpoint folders.

Everything a run writes is first written under a temporary name in the same folder and then moved
into place with ``os.replace`` (atomic on POSIX file systems): a crash, a full disk or a killed
job leaves either the previous version or the new one, never a half-written file. Checkpoint
folders are ``checkpoints/step-00001000``; an unfinished one is ``checkpoints/.tmp-step-00001000``,
which nothing ever loads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "replace_dir",
    "save_checkpoint",
    "write_json",
    "write_text",
]

_CHECKPOINT = re.compile(r"^step-(\d{8})$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def replace_dir(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with ``fill(tmp)`` next to ``path``, then swap it in for ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700 folders
        fill(tmp)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
