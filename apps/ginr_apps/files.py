"""Crash-safe files: every file a run writes goes through ``write_atomically``.

The content is written to a temporary file in the destination's folder, flushed and fsynced, then
moved into place with ``os.replace`` (atomic on POSIX file systems): a crash, a full disk or a
killed job leaves either the previous version or the new one, never a half-written file. Folders
are built beside their destination and swapped in (``replace_dir``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["fsync_dir", "replace_dir", "write_atomically", "write_json", "write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, content: bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write ``content`` (bytes, or a function that writes into a binary file) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600 files
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomically(path, text.encode("utf-8"))


def _standard(value: Any) -> Any:
    """``value`` with NaN and infinities as None: JSON has no such numbers (``NaN`` is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _standard(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard(v) for v in value]
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as standard JSON to ``path`` atomically (a non-finite number is written as null)."""
    return write_text(path, json.dumps(_standard(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def fsync_dir(path: str | Path) -> None:
    """Make the entries of folder ``path`` (renames, new files) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
