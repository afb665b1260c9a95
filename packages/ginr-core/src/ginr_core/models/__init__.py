"""Generalizable INR models: one shared Transformer encoder, a decoder per family.

Importing this package registers the built-in families; ``list_families()`` adds those of other
packages (the ``ginr.families`` entry points).
"""

from .base import SHARED_SETTINGS, CheckpointMismatchError, GeneralizableINR, ModelConfig, register_to_config
from .encoder import LatentEncoder
from .ipc import IPC
from .learned_init import LearnedInit
from .locinr import LocalityAwareINR
from .nerf import NeRFIPC, NeRFTransINR
from .registry import ENTRY_POINT_GROUP, get_model_class, list_families, register_family
from .transinr import TransINR

__all__ = [
    "ENTRY_POINT_GROUP",
    "IPC",
    "SHARED_SETTINGS",
    "CheckpointMismatchError",
    "GeneralizableINR",
    "LatentEncoder",
    "LearnedInit",
    "LocalityAwareINR",
    "ModelConfig",
    "NeRFIPC",
    "NeRFTransINR",
    "TransINR",
    "get_model_class",
    "list_families",
    "register_family",
    "register_to_config",
]
