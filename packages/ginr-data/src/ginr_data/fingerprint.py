"""What a source of data is, cheaply, so that a run or a cache can tell later whether it changed.

``source_fingerprint(source, datasets)`` is plain JSON:

* a local folder (or file): its file list, each regular file under it (hidden ones aside) with its size
  and modification time, so a file added, removed, rewritten or touched is seen without reading a byte
  (a folder of more than ``FILE_LIST_LIMIT`` files keeps only their count, total size and a digest of the
  list);
* a ``datasets`` source (a Hub id, a loading script): its id and the fingerprint ``datasets`` gives each
  loaded split (a hash of its config, version and data files, or of an in-memory table's content), so a
  new revision or other files change it. A stream exposes none: only its id is kept (pin
  ``data.revision`` to a commit);
* an embedded source (``photos``, ``digits``, ``scenes``): its name.

``fingerprint_changes(before, now)`` says what differs, in words (``"28 files added, 0 removed, 2
changed"``), or returns None.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["FILE_LIST_LIMIT", "fingerprint_changes", "fingerprint_digest", "source_fingerprint"]

FILE_LIST_LIMIT = 200_000


def _file_list(path: Path) -> dict[str, list[int]]:
    """``{relative path: [bytes, mtime_ns]}`` of the regular files under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        stat = path.stat()
        return {path.name: [stat.st_size, stat.st_mtime_ns]}
    files = {}
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in names:
            full = Path(folder, name)
            if name.startswith(".") or not full.is_file():
                continue
            stat = full.stat()
            files[full.relative_to(path).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return dict(sorted(files.items()))


def _datasets_fingerprint(dataset: Any) -> str | None:
    """The fingerprint ``datasets`` gives the table behind a ginr dataset (through ``Subset``), if any."""
    for _ in range(4):
        found = getattr(dataset, "_fingerprint", None)
        if isinstance(found, str):
            return found
        dataset = getattr(dataset, "dataset", None)
        if dataset is None:
            return None
    return None


def fingerprint_digest(value: Any) -> str:
    """A short SHA-256 of any JSON value (canonical: sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:20]


def source_fingerprint(source: str | os.PathLike, datasets: Iterable[Any] = ()) -> dict:
    """The fingerprint of a data source (see the module's docstring); ``datasets``: the splits read from it."""
    path = Path(os.path.expanduser(str(source)))
    if path.exists():
        files = _file_list(path)
        summary = {"count": len(files), "bytes": sum(size for size, _ in files.values())}
        summary["digest"] = fingerprint_digest(files)
        return {"source": str(source), **summary, **({"files": files} if len(files) <= FILE_LIST_LIMIT else {})}
    found = [f for f in map(_datasets_fingerprint, datasets) if f is not None]
    return {"source": str(source), **({"datasets": found} if found else {})}


def fingerprint_changes(before: dict, now: dict) -> str | None:
    """What differs between two fingerprints, in words, or None when they agree."""
    if before == now:
        return None
    if "files" in before and "files" in now:
        old, new = before["files"], now["files"]
        added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
        changed = sum(old[k] != new[k] for k in old.keys() & new.keys())
        if added or removed or changed:
            return f"{added} files added, {removed} removed, {changed} changed"
    if "count" in before and "count" in now and before.get("digest") != now.get("digest"):
        return (
            f"its file list changed ({before['count']} files, {before['bytes']} bytes then; "
            f"{now['count']} files, {now['bytes']} bytes now)"
        )
    keys = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    return "; ".join(f"its {k} changed ({_short(before.get(k))} then, {_short(now.get(k))} now)" for k in keys)


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 16:
        return value[:12] + "..."
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
