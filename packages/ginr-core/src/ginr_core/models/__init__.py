"""Generalizable INR models: one shared Transformer encoder, a decoder per family.

Importing this package registers the built-in families and tokenizers; ``list_families()`` and
``list_tokenizers()`` add those of other packages (the ``ginr.families`` / ``ginr.tokenizers`` entry points).
"""

from .base import SHARED_SETTINGS, CheckpointMismatchError, GeneralizableINR, ModelConfig, register_to_config
from .encoder import LatentEncoder
from .ipc import IPC
from .learned_init import LearnedInit
from .locinr import LocalityAwareINR
from .nerf import NeRFIPC, NeRFTransINR
from .registry import ENTRY_POINT_GROUP, get_model_class, list_families, register_family
from .tokenizers import PatchTokenizer, Tokenizer, get_tokenizer, list_tokenizers
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
    "PatchTokenizer",
    "Tokenizer",
    "TransINR",
    "get_model_class",
    "get_tokenizer",
    "list_families",
    "list_tokenizers",
    "register_family",
    "register_to_config",
]
