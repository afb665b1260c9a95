"""Argument checks shared by every ginr model: each names the argument and what it needed.

They are public so that a family defined outside ginr validates its own settings the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["image_size_pair", "integer_at_least", "positive_number"]


def integer_at_least(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer (not a bool) ``>= minimum``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        need = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {need}, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    """``float(value)`` if it is a finite number > 0, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def image_size_pair(value: Any, name: str = "image_size") -> tuple[int, int]:
    """An int or a ``(height, width)`` pair of positive integers -> ``(height, width)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2):
        raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
    return (integer_at_least(f"{name}[0]", value[0]), integer_at_least(f"{name}[1]", value[1]))
