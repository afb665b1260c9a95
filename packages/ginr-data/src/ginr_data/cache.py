"""Where ginr keeps what it generates or derives once (rendered scenes, encoded latents)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$GINR_CACHE``, else ``$XDG_CACHE_HOME/ginr``, else ``~/.cache/ginr``."""
    if os.environ.get("GINR_CACHE"):
        return Path(os.environ["GINR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ginr"
