"""Named model configurations of the paper (App. A) and of ginr's CPU recipes.

A preset has a description and the shared settings (``SHARED_SETTINGS``: input size, patches,
encoder) that every family uses for it, so that families differ only in their decoders, as in the
paper. Each family declares its own decoder settings for a preset next to its class
(``LocalityAwareINR.presets``, ``IPC.presets``, ...): ``get_preset(name, family)`` merges the two,
``Model.from_preset(name, **overrides)`` builds the model, and the apps' config files name presets
the same way. A family from another package may add presets of its own names.

Where the paper and the official baseline code are silent, the choice is marked "assumed" at the
family's entry.
"""

from __future__ import annotations

import copy
from typing import Any

from .models.registry import get_model_class, list_families

__all__ = ["PRESETS", "get_preset", "list_presets"]

_PHOTOS_32 = {
    "image_size": 32,
    "patch_size": 4,
    "encoder_width": 128,
    "encoder_depth": 2,
    "encoder_heads": 2,
    "dropout": 0.0,
}

# name -> {"description", "shared"}: the settings every family takes for this configuration
PRESETS: dict[str, dict[str, Any]] = {
    # 178 x 178 (Table 1): 9 px patches with 1 px of zero padding -> 400 tokens.
    "celeba-178": {"description": "CelebA 178x178 (Table 1)", "shared": {"image_size": 178, "patch_size": 9}},
    "ffhq-178": {"description": "FFHQ 178x178 (Table 1)", "shared": {"image_size": 178, "patch_size": 9}},
    "imagenette-178": {
        "description": "ImageNette 178x178 (Table 1, Tables 3-4)",
        "shared": {"image_size": 178, "patch_size": 9},
    },
    # High resolution (Table 2, Table 6): FFHQ 256 / 512 with 16 / 32 px patches -> 256 tokens.
    "ffhq-256": {
        "description": "FFHQ 256x256 (Table 2); baselines' sigma assumed as at 512 (no official 256 config)",
        "shared": {"image_size": 256, "patch_size": 16},
    },
    "ffhq-512": {"description": "FFHQ 512x512 (Table 2)", "shared": {"image_size": 512, "patch_size": 32}},
    # FFHQ 1024: the patch size differs per family (LocINR 48 px, the baselines' official 32 px).
    "ffhq-1024": {"description": "FFHQ 1024x1024 (Table 2)", "shared": {"image_size": 1024}},
    # ImageNet 256 (Table 5, the diffusion prior's INR): 16 px patches.
    "imagenet-256": {
        "description": "ImageNet 256x256 (Table 5); baselines' sigma assumed 128",
        "shared": {"image_size": 256, "patch_size": 16},
    },
    # ShapeNet few-shot novel view synthesis (Sec. 4.2, App. A.2): up to 5 support views of 128 px,
    # 9 channels each (RGB + Plücker ray), 8 px patches -> 256 tokens per view; rays as coordinates.
    "shapenet-nvs": {
        "description": "ShapeNet cars / chairs / lamps novel view synthesis, 1-5 support views (Fig. 4)",
        "shared": {"image_size": 128, "patch_size": 8, "in_channels": 9, "num_views": 5, "d_in": 6},
    },
    # Not from the paper: ginr's CPU recipe for 32 x 32 crops of photographs (the default run of
    # apps/train.py on the embedded photos): a small encoder that learns within minutes on 2 cores.
    "photos-32": {
        "description": "ginr's CPU recipe for 32x32 photo crops (the default run; not a paper configuration)",
        "shared": _PHOTOS_32,
    },
    # Not from the paper: ginr's CPU recipe for novel views of the embedded rendered scenes (32 px
    # views, 1-3 support views of 64 tokens each).
    "scenes-32": {
        "description": "ginr's CPU recipe for novel views of the embedded 32 px scenes (not a paper configuration)",
        "shared": {**_PHOTOS_32, "in_channels": 9, "num_views": 3, "d_in": 6, "encoder_depth": 3, "encoder_heads": 4},
    },
}


def list_presets(family: str | None = None) -> dict[str, str]:
    """Preset names and what each reproduces: all of them, or those ``family`` declares."""
    names = list(PRESETS)
    families = list_families()
    for cls in families.values():
        names += [name for name in cls.presets if name not in names]
    if family is not None:
        names = [name for name in names if name in get_model_class(family).presets]
    return {name: PRESETS.get(name, {}).get("description", _own_description(name, families)) for name in names}


def _own_description(name: str, families) -> str:
    owners = sorted(f for f, cls in families.items() if name in cls.presets)
    return f"declared by the {', '.join(owners)} family"


def get_preset(name: str, family: str = "locinr") -> dict[str, Any]:
    """Constructor keyword arguments of model ``family`` for preset ``name`` (a fresh copy)."""
    cls = get_model_class(family)
    if name not in cls.presets:
        known = [n for n in list_presets() if n not in cls.presets]
        where = f"; other families declare: {', '.join(known)}" if name in known else ""
        raise ValueError(
            f"unknown preset {name!r} for model family {family!r}; its presets: {', '.join(cls.presets) or 'none'}"
            f"{where}"
        )
    return copy.deepcopy({**PRESETS.get(name, {}).get("shared", {}), **cls.presets[name]})
