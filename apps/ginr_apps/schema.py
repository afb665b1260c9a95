"""Declaring a setting of the apps' config sections: its default and its meaning, in one place.

    @dataclass
    class TrainConfig:
        lr: float = setting(1e-4, "Adam learning rate after the warm-up")

``--help-config`` prints each setting's meaning from there (``meaning``), for the train section, every
task's data section and the prior's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["meaning", "setting"]


def setting(default: Any, meaning: str) -> Any:
    """A dataclass field with ``default`` and its ``meaning`` (the field's ``metadata["help"]``)."""
    return dataclasses.field(default=default, metadata={"help": meaning})


def meaning(field: dataclasses.Field) -> str:
    """What a setting means, as declared with ``setting`` (empty if it was declared without one)."""
    return field.metadata.get("help", "")
