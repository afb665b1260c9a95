"""Run folders and their checkpoints, shared by both training apps.

A run folder is locked for the whole run (``lock_run``): a second run, or a ``--resume`` of a run
still going, is refused with the process that holds it; the lock dies with its process.

A checkpoint is ``checkpoints/step-00001000/`` holding

* ``model.safetensors``: the model's ``state_dict`` (safetensors' ``load_file`` reads it);
* ``state.safetensors``: every other tensor (optimiser moments, EMA weights, ...);
* ``state.json``: everything else (step, learning-rate schedule, optimiser settings, the run's
  history and settings), plain JSON;
* ``checkpoint.json``: the completion marker, written last: the step, and the size and SHA-256
  of each file above.

Nothing in a checkpoint is unpickled, so a checkpoint folder someone hands you cannot run code:
``--resume`` reads only the files the marker lists, as safetensors and JSON, and ignores anything
else in the folder. A checkpoint is *complete* only when its marker is there and both files match it; one
that is not (a crash while writing, a truncated copy) is named and skipped, and the run resumes
from the newest complete one. A checkpoint is written in ``.tmp-step-N`` and renamed into place;
saving a step that exists already first moves the old one to ``.old-step-N``, so a kill at any
moment leaves a complete checkpoint of every step that had one. Random draws need no state: every
draw of a run comes from generators keyed by (seed, step, process) (``seeding``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ginr_data import fingerprint_changes

from .files import fsync_dir, write_json
from .guards import check_finite

__all__ = [
    "CheckpointError",
    "InputsChangedError",
    "RunInputs",
    "RunLockedError",
    "RunState",
    "check_resume",
    "checkpoint_path",
    "claim_run",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "lock_run",
    "open_run",
    "prune_checkpoints",
    "resume_checkpoint",
    "resume_run",
    "save_checkpoint",
]

FORMAT = 1
MARKER, TENSORS, STATE = "checkpoint.json", "state.safetensors", "state.json"
_NAME = re.compile(r"^(\.tmp-|\.old-)?step-(\d{8})$")


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the folder or file."""


class RunLockedError(Exception):
    """Another live process holds the run folder."""


class InputsChangedError(Exception):
    """What a run depends on (its data, its INR) changed since it started; the message names it and the flag."""


class RunInputs:
    """Fingerprints of what a run depends on, as a checkpoint part: ``now`` (name -> fingerprint, e.g.
    ``{"data.source": ginr_data.source_fingerprint(...)}``) is saved with every checkpoint; on ``--resume``,
    loading it compares the run's against ``now`` and raises ``InputsChangedError`` naming each change and
    its go-on flag (``flags``: name -> flag), unless that name is in ``allowed``. A checkpoint written before
    fingerprints were recorded has none (``optional``): its resume is not checked, and ``notes`` says so."""

    optional = True

    def __init__(self, now: dict[str, dict], flags: dict[str, str], allowed: set[str] = frozenset()) -> None:
        self.now, self.flags, self.allowed, self.notes = now, flags, set(allowed), []

    def state_dict(self) -> dict[str, dict]:
        return self.now

    def load_state_dict(self, saved: dict[str, dict] | None) -> None:
        if saved is None:
            self.notes = ["the checkpoint records no fingerprint of its data (an older ginr wrote it): not checked"]
            return
        changes = {k: fingerprint_changes(saved[k], v) for k, v in self.now.items() if k in saved}
        changes = {k: what for k, what in changes.items() if what}
        refused = [k for k in changes if k not in self.allowed]
        if refused:
            raise InputsChangedError(
                "; ".join(f"{k} {self.now[k].get('source', '')}: {changes[k]} since the run started" for k in refused)
                + f"; pass {' '.join(self.flags[k] for k in refused)} to go on with what is there now, or restore it "
                "(nothing was changed)"
            )
        self.notes = [f"{k}: {what} since the run started (allowed: {self.flags[k]})" for k, what in changes.items()]


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


# ------------------------------------------------------------------------------------------------ the lock
@contextlib.contextmanager
def lock_run(output_dir: str | Path, enabled: bool = True):
    """Hold an exclusive lock on ``output_dir`` (``<output_dir>/.lock``) while the block runs.

    The lock is an ``flock`` on that file: the kernel drops it when the holding process exits,
    however it exits, so a lock left by a killed run never blocks the next one. Raises
    ``RunLockedError`` naming the process that holds it. ``enabled=False`` (the non-main
    processes of a multi-process run, which the main one covers) does nothing.
    """
    if not enabled:
        yield
        return
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _lock(fd)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RunLockedError(
                f"{out} is in use by {holder}: two runs on one folder would corrupt each other. Wait for it to end, "
                f"or choose another --output-dir (nothing was changed)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {os.uname().nodename}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ------------------------------------------------------------------------------------------------ the format
def _encode(value: Any, tensors: dict[str, torch.Tensor], key: str) -> Any:
    """JSON for ``value``; its tensors go to ``tensors`` under keys derived from ``key``."""
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, tensors, f"{key}.{k}") for k, v in value.items()}
        return {"__dict__": [[k, _encode(v, tensors, f"{key}.{k}")] for k, v in value.items()]}  # e.g. int keys
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint ({key})")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__dict__" in value:
            return {k: _decode(v, tensors) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__float__" in value:
            return float(value["__float__"])
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def _digest(path: Path, fsync: bool = False) -> str:
    """SHA-256 of a file (and, with ``fsync``, its contents made durable in the same pass)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        if fsync:
            os.fsync(f.fileno())
    return h.hexdigest()


def checkpoint_path(directory: str | Path, step: int, tmp: bool = False) -> Path:
    return Path(directory) / (f".tmp-step-{step:08d}" if tmp else f"step-{step:08d}")


def checkpoint_marker(path: Path) -> dict:
    """The completion marker of checkpoint folder ``path``, checked against the files (sizes only:
    hashes are checked when it is loaded). Raises ``CheckpointError`` saying what is wrong."""
    marker = path / MARKER
    if not marker.is_file():
        raise CheckpointError(f"{path} is incomplete (no {MARKER}: its writing was interrupted)")
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        files, step = info["files"], int(info["step"])
        if info.get("format") != FORMAT or not isinstance(files, dict):
            raise ValueError(f"format {info.get('format')!r}")
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{marker} is not a ginr checkpoint marker ({error})") from None
    if STATE not in files or TENSORS not in files:
        raise CheckpointError(f"{marker} lists no {STATE} or {TENSORS}")
    for name, entry in files.items():
        if "/" in name or name.startswith(".") or not name.endswith((".json", ".safetensors")):
            raise CheckpointError(f"{marker} lists {name!r}, which is not a checkpoint file")
        if not isinstance(entry, dict) or not (path / name).is_file():
            raise CheckpointError(f"{path / name} is missing")
        if (path / name).stat().st_size != entry.get("bytes"):
            raise CheckpointError(
                f"{path / name} has {(path / name).stat().st_size} bytes, not the {entry.get('bytes')} written "
                "(truncated or replaced)"
            )
    return {"step": step, "files": files}


def _candidates(directory: Path) -> list[tuple[int, int, Path]]:
    """Every checkpoint-like folder as ``(step, preference, path)``: ``step-N`` before ``.old-`` / ``.tmp-``."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(2)), {None: 2, ".old-": 1, ".tmp-": 0}[m.group(1)], p))
    return sorted(found)


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Complete ``step-N`` checkpoints as ``(step, path)``, oldest first."""
    found = []
    for step, preference, path in _candidates(Path(directory)):
        if preference == 2:
            with contextlib.suppress(CheckpointError):
                checkpoint_marker(path)
                found.append((step, path))
    return found


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint (also one that a kill left as ``.old-``/``.tmp-step-N``), or None."""
    for _, _, path in reversed(_candidates(Path(directory))):
        with contextlib.suppress(CheckpointError):
            checkpoint_marker(path)
            return path
    return None


def save_checkpoint(accelerator, directory: Path, step: int, keep: int, parts: dict[str, Any]) -> Path:
    """Write ``parts`` (name -> object with ``state_dict``; or a plain dict) as the checkpoint of ``step``.

    Raises ``NonFiniteError`` (nothing written) if a model part holds NaN or Inf. The main process
    writes (all processes hold the same state under data parallelism); the others wait. The folder
    is complete, and renamed into place, only after its files are fsynced and the marker is written;
    then all but the ``keep`` newest complete checkpoints are removed.
    """
    directory = Path(directory)
    for name, part in parts.items():  # a non-finite model never replaces a finite checkpoint
        if isinstance(part, torch.nn.Module):
            check_finite(part, f"step {step}: the {name} weights to checkpoint")
    tmp, final = checkpoint_path(directory, step, tmp=True), checkpoint_path(directory, step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _recover(directory)
        try:
            _write_checkpoint(tmp, step, parts)
        except (OSError, SafetensorError) as error:  # a full disk, a read-only folder: the previous ones are kept
            shutil.rmtree(tmp, ignore_errors=True)
            raise CheckpointError(_unwritten(directory, step, error)) from None
        if final.exists():  # the same step saved again (e.g. the end of a resumed run): keep the old one until replaced
            old = directory / f".old-{final.name}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(directory)
        prune_checkpoints(directory, keep)
    accelerator.wait_for_everyone()
    return final


def _write_checkpoint(tmp: Path, step: int, parts: dict[str, Any]) -> None:
    """The files of the checkpoint of ``step`` in the fresh folder ``tmp``, its marker last."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    state, written = {}, [TENSORS, STATE]
    for name, part in parts.items():
        if isinstance(part, torch.nn.Module):  # a model: its own file, loadable with safetensors' load_file
            weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in part.state_dict().items()}
            save_file(weights, str(tmp / f"{name}.safetensors"), metadata={"format": "pt"})
            state[name] = {"__module__": f"{name}.safetensors"}
            written.insert(0, f"{name}.safetensors")
        else:
            state[name] = _encode(_state_of(part), tensors, name)
    save_file(tensors, str(tmp / TENSORS))
    write_json(tmp / STATE, state)
    files = {n: {"bytes": (tmp / n).stat().st_size, "sha256": _digest(tmp / n, fsync=True)} for n in written}
    write_json(tmp / MARKER, {"format": FORMAT, "step": step, "files": files})


def _unwritten(directory: Path, step: int, error: BaseException) -> str:
    """Why the checkpoint of ``step`` could not be written, what was kept and what to do (one line)."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else " ".join(str(error).split())
    last = latest_checkpoint(directory)
    kept = f"the last complete checkpoint, {last}, is kept" if last else "no earlier checkpoint exists"
    return (
        f"{directory}: cannot write the checkpoint of step {step} ({reason}); nothing partial was left and {kept}. "
        "Free space on that disk (or make the folder writable), then continue with --resume"
    )


def _recover(directory: Path) -> None:
    """Give back its ``step-N`` name to a complete checkpoint that a kill left as ``.tmp-``/``.old-step-N``
    (the newer ``.tmp-`` first), so that pruning counts it."""
    for step, preference, path in sorted(_candidates(directory), key=lambda c: (c[0], -c[1])):
        final = checkpoint_path(directory, step)
        if preference < 2 and not final.exists():
            with contextlib.suppress(CheckpointError):
                checkpoint_marker(path)
                os.replace(path, final)


def _state_of(part: Any) -> Any:
    return part.state_dict() if hasattr(part, "state_dict") else part


def load_checkpoint(path: str | Path, parts: dict[str, Any]) -> dict[str, Any]:
    """Restore ``parts`` (name -> object with ``load_state_dict``) from checkpoint folder ``path``,
    after checking every file against the marker; returns the plain-dict parts. Raises ``CheckpointError``."""
    path = Path(path)
    info = checkpoint_marker(path)
    for name, entry in info["files"].items():
        if _digest(path / name) != entry.get("sha256"):
            raise CheckpointError(f"{path / name} does not match the SHA-256 in {path / MARKER} (corrupt or replaced)")
    try:
        tensors = load_file(str(path / TENSORS))
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        modules = {
            name: load_file(str(path / value["__module__"]))
            for name, value in state.items()
            if isinstance(value, dict) and value.get("__module__") in info["files"]
        }
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error})") from None
    missing = sorted(k for k in set(parts) - set(state) if not getattr(parts[k], "optional", False))
    if missing:
        raise CheckpointError(f"{path / STATE} has no {', '.join(missing)} (a checkpoint of another kind of run?)")
    plain = {}
    for name, part in parts.items():
        if name not in state:
            part.load_state_dict(None)
            continue
        value = modules[name] if name in modules else _decode(state[name], tensors)
        if hasattr(part, "load_state_dict"):
            part.load_state_dict(value)
        else:
            plain[name] = value
    return plain


def resume_checkpoint(directory: str | Path, parts: dict[str, Any], say=print) -> tuple[Path, dict[str, Any]]:
    """Load the newest complete checkpoint of ``directory`` that passes its checks, naming each
    one skipped (and why). Raises ``CheckpointError`` when none is usable."""
    directory = Path(directory)
    skipped = []
    for _, _, path in reversed(_candidates(directory)):
        try:
            plain = load_checkpoint(path, parts)
        except CheckpointError as error:
            skipped.append(str(error))
            continue
        for reason in skipped:
            say(f"skipped a checkpoint: {reason}")
        return path, plain
    reasons = "".join(f"\n  {r}" for r in skipped)
    raise CheckpointError(f"--resume: no complete checkpoint in {directory}{reasons}")


def open_run(output_dir: str | Path, resume: bool, final: str) -> None:
    """Check that the request fits the folder: ``--resume`` needs a complete checkpoint; a fresh run
    needs a folder with neither a complete checkpoint nor the run's ``final`` output (``model``,
    ``pipeline``); unfinished checkpoint folders alone (a run killed during its first save) do not
    count. Raises ``SystemExit``."""
    out = Path(output_dir)
    checkpoints = out / "checkpoints"
    held = latest_checkpoint(checkpoints) is not None
    if resume and not held:
        unfinished = [path.name for _, _, path in _candidates(checkpoints)]
        raise SystemExit(
            f"error: --resume: no complete checkpoint in {checkpoints}"
            + (f" (only unfinished ones: {', '.join(unfinished)}; start the run afresh)" if unfinished else "")
        )
    if not resume and (held or (out / final).exists()):
        raise SystemExit(
            f"error: {out} already holds a run; pass --resume to continue it, or choose another --output-dir "
            f"(nothing was changed)"
        )


@contextlib.contextmanager
def claim_run(output_dir: str | Path, resume: bool, final: str):
    """Hold ``output_dir`` for a run (``lock_run``, taken by the launcher's RANK 0) and check that the
    request fits it (``open_run``) while it is held."""
    with lock_run(output_dir, enabled=int(os.environ.get("RANK", "0")) == 0):
        open_run(output_dir, resume, final)
        yield


def resume_run(
    directory: str | Path, parts: dict[str, Any], settings, show: bool, checkpoint: Path | None = None
) -> Path:
    """``resume_checkpoint`` for a training app (or ``checkpoint``, a chosen one): says (if ``show``) where
    it resumed, at which step, and each setting the resume changes (``settings``: the ``SavedSettings`` part)."""
    say = print if show else (lambda *a, **k: None)
    if checkpoint is not None:
        load_checkpoint(checkpoint, parts)
        resumed = checkpoint
    else:
        resumed, _ = resume_checkpoint(directory, parts, say=say)
    say(f"resumed from {resumed} at step {parts['state'].step}", flush=True)
    for change in settings.changes:
        say(f"  resume changes {change}", flush=True)
    for note in getattr(parts.get("inputs"), "notes", ()):
        say(f"  {note}", flush=True)
    return resumed


def check_resume(directory: str | Path, parts: dict[str, Any], checkpoint: Path | None = None) -> None:
    """Load the plain-JSON ``parts`` (the settings, the inputs: their checks) of the checkpoint a ``--resume`` will
    load (``checkpoint``, or the newest complete one of ``directory``) before any long work, such as encoding
    latents, so that a refused resume is refused at once. A checkpoint that cannot be read is left to the
    resume, which names it."""
    path = checkpoint or latest_checkpoint(directory)
    if path is None:
        return
    try:
        state = json.loads((Path(path) / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name, part in parts.items():
        if name in state:
            part.load_state_dict(_decode(state[name], {}))
        elif getattr(part, "optional", False):
            part.load_state_dict(None)


def prune_checkpoints(directory: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest complete checkpoints, and every unfinished or replaced one."""
    directory = Path(directory)
    for _, path in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    for _, preference, path in _candidates(directory):
        if preference < 2:
            shutil.rmtree(path, ignore_errors=True)
