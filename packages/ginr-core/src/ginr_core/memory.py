"""The memory a model or a request needs, estimated before anything is allocated, and refused beyond what the
machine has: a setting of 10^9 gives one line naming it, not an allocator's error after gigabytes.

* ``available_memory(device)``: free bytes on a CUDA device, else ``MemAvailable`` (``/proc/meminfo``), else
  the physical memory (``os.sysconf``); None where none can be read (then nothing is refused).
* ``module_bytes(build)``: the bytes of the parameters and buffers of the module ``build()`` returns, built
  on the ``meta`` device (no memory allocated).
* ``check_memory(needed, what, fix)``: ``TooLargeError`` naming ``what`` and ``fix`` when ``needed`` exceeds it.
* ``check_model_memory(cls, settings, what, ...)``: both, naming the setting that makes the model large.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["TooLargeError", "available_memory", "check_memory", "check_model_memory", "format_bytes", "module_bytes"]


class TooLargeError(ValueError):
    """A model or a request that needs more memory than the machine has; the message names the setting."""


def format_bytes(count: float) -> str:
    """``1.5 GB``, ``320 MB``, ``4.0e+06 TB``: bytes for a message."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB" if count < 1e4 else f"{count:.1e} TB"


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes free for new tensors on ``device`` (CPU by default), or None where it cannot be read."""
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(needed: float, what: str, fix: str, device: torch.device | str | None = None) -> None:
    """Raise ``TooLargeError`` ("``what`` needs N GB ..., more than the M GB available; ``fix``") when ``needed``
    bytes exceed the memory available on ``device``."""
    available = available_memory(device)
    if available is not None and needed > available:
        where = "" if device is None or torch.device(device).type == "cpu" else f" on {device}"
        raise TooLargeError(
            f"{what} needs {format_bytes(needed)} of memory, more than the {format_bytes(available)} available{where}; "
            f"{fix}"
        )


def module_bytes(build: Callable[[], torch.nn.Module]) -> int:
    """Bytes of the parameters and buffers of ``build()``, built on the ``meta`` device (nothing allocated)."""
    with torch.device("meta"):
        module = build()
    return sum(t.numel() * t.element_size() for t in itertools.chain(module.parameters(), module.buffers()))


def _largest_setting(cls: type, settings: dict[str, Any], total: int) -> str | None:
    """The integer setting whose halving shrinks the model most (the one to lower), or None."""
    best, smallest = None, total
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            continue
        try:
            size = module_bytes(lambda n=name, v=value: cls(**{**settings, n: v // 2}))
        except Exception:  # a halved setting the class refuses (a divisibility, a minimum): not the one
            continue
        if size < smallest:
            best, smallest = name, size
    return best


def check_model_memory(
    cls: type,
    settings: dict[str, Any],
    what: str,
    *,
    prefix: str = "",
    copies: int = 1,
    use: str = "its weights",
    device: torch.device | str | None = None,
) -> None:
    """Refuse (``TooLargeError``) a ``cls(**settings)`` whose weights, times ``copies`` (4 to train with Adam:
    weights, gradients, two moments), exceed the memory available; the message names ``what`` (a file, a
    config) and the setting to lower (``prefix`` + its name, e.g. ``model.hidden_dim``). A ``settings`` that
    does not build is left to the class's own checks."""
    try:
        total = module_bytes(lambda: cls(**settings))
    except Exception:
        return
    available = available_memory(device)
    if available is None or total * copies <= available:
        return
    name = _largest_setting(cls, settings, total)
    setting = f"{prefix}{name}={settings[name]}" if name else "its settings"
    check_memory(
        total * copies,
        f"{what}: a {cls.__name__} with {setting} ({use})",
        f"lower {prefix}{name}" if name else "choose smaller settings",
        device,
    )
