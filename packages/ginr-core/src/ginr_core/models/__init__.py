"""Generalizable INR models: one shared Transformer encoder, three decoders."""

from .base import CheckpointMismatchError, GeneralizableINR
from .encoder import LatentEncoder
from .ipc import IPC
from .locinr import LocalityAwareINR
from .transinr import TransINR

MODEL_CLASSES: dict[str, type[GeneralizableINR]] = {cls.family: cls for cls in (LocalityAwareINR, IPC, TransINR)}


def get_model_class(family: str) -> type[GeneralizableINR]:
    """``"locinr"`` / ``"ipc"`` / ``"transinr"`` -> the model class."""
    try:
        return MODEL_CLASSES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(MODEL_CLASSES)}") from None


__all__ = [
    "IPC",
    "MODEL_CLASSES",
    "CheckpointMismatchError",
    "GeneralizableINR",
    "LatentEncoder",
    "LocalityAwareINR",
    "TransINR",
    "get_model_class",
]
