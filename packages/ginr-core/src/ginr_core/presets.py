"""Named model configurations of the paper (App. A) and of ginr's CPU recipes: data, one table per family.

``PRESETS`` describes each configuration and holds the settings every family shares for it (input
size, patches, encoder), as the paper's families differ only in their decoders. Each built-in
family's table below is complete (the shared settings, then the family's own) and is that family's
``presets``; ``Model.from_preset(name, **overrides)`` builds one, and the apps' config files name
presets the same way. A family from another package declares a complete ``presets`` table of its
own (``family_presets`` builds one over these shared settings).

Where the paper and the official baseline code are silent, the choice is marked "assumed".
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "BASELINE_PRESETS",
    "LEARNED_INIT_PRESETS",
    "LOCINR_PRESETS",
    "NERF_PRESETS",
    "PRESETS",
    "family_presets",
    "get_preset",
    "list_presets",
    "transinr_presets",
]

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


def family_presets(own: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A family's complete presets: each named configuration's shared settings, then the family's ``own``."""
    return {name: {**PRESETS.get(name, {}).get("shared", {}), **settings} for name, settings in own.items()}


def transinr_presets(baseline: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """IPC's presets as TransINR's: R is derived from the tokens per layer, so a preset that sets IPC's rank
    (``num_latents``, the CPU recipes) sets 8 tokens per layer instead."""
    return {
        name: {k: v for k, v in preset.items() if k != "num_latents"}
        | ({"tokens_per_layer": 8} if "num_latents" in preset else {})
        for name, preset in baseline.items()
    }


# LocalityAwareINR: the paper's decoder at 178 px (App. A.1), also used at 256 px
_LOCINR_178 = {"sigmas": (128.0, 32.0), "sigma_q": 16.0, "attention_heads": 2}
LOCINR_PRESETS = family_presets(
    {
        "celeba-178": _LOCINR_178,
        "ffhq-178": _LOCINR_178,
        "imagenette-178": _LOCINR_178,
        "ffhq-256": _LOCINR_178,
        "ffhq-512": {**_LOCINR_178, "attention_heads": 4},
        # the paper's 48 px patches (16 px of padding per side -> 22 x 22 = 484 tokens) and doubled
        # bandwidths; attention heads at 1024 are not stated: assumed 4, as at 512.
        "ffhq-1024": {"patch_size": 48, "sigmas": (256.0, 64.0), "sigma_q": 32.0, "attention_heads": 4},
        "imagenet-256": {**_LOCINR_178, "attention_heads": 8},
        # the paper's d_F = 256 on Plücker rays (d_in = 6): 128 frequencies shared out by FourierFeatures,
        # 22 on each of the first two ray coordinates (d_hat's x and y) and 21 on each of the other four
        # (2 x 22 + 4 x 21 = 128; cosines and sines: 256). Attention heads are not stated: assumed 2.
        "shapenet-nvs": {"fourier_dim": 256, "sigmas": (8.0, 4.0), "sigma_q": 2.0, "attention_heads": 2},
        # bandwidths scaled to 32 px (Nyquist: w <= 16)
        "photos-32": {
            "hidden_dim": 128,
            "fourier_dim": 128,
            "num_latents": 32,
            "sigmas": (24.0, 6.0),
            "sigma_q": 3.0,
            "attention_heads": 2,
        },
        # the paper's ray bandwidths, 10 frequencies per ray coordinate
        "scenes-32": {
            "hidden_dim": 128,
            "fourier_dim": 120,
            "num_latents": 32,
            "sigmas": (8.0, 4.0),
            "sigma_q": 2.0,
            "attention_heads": 2,
        },
    }
)

# IPC (and through transinr_presets, TransINR). ginr-ipc's Fourier bandwidths: 64 for CelebA and FFHQ
# 178, 128 for ImageNette 178 and FFHQ 512, 256 with the official 32 px patches (1024 tokens) at FFHQ
# 1024; light fields: sigma 8 (assumed).
BASELINE_PRESETS = family_presets(
    {
        "celeba-178": {"sigma": 64.0},
        "ffhq-178": {"sigma": 64.0},
        "imagenette-178": {"sigma": 128.0},
        "ffhq-256": {"sigma": 128.0},
        "ffhq-512": {"sigma": 128.0},
        "ffhq-1024": {"patch_size": 32, "sigma": 256.0},
        "imagenet-256": {"sigma": 128.0},
        "shapenet-nvs": {"fourier_dim": 256, "sigma": 8.0},  # the light-field extras: d_F 256 split as LocINR's
        "photos-32": {"hidden_dim": 128, "fourier_dim": 128, "num_latents": 32, "sigma": 16.0},
        "scenes-32": {"hidden_dim": 128, "fourier_dim": 120, "num_latents": 32, "sigma": 8.0},
    }
)

# Learned Init: the official configs of ImageNette 178 (sigma 128, inner lr 3e-3) and FFHQ 256 (sigma 64,
# inner lr 1e-3); no official CelebA or FFHQ 178 config, so ImageNette's (assumed)
LEARNED_INIT_PRESETS = family_presets(
    {
        "celeba-178": {"sigma": 128.0},
        "ffhq-178": {"sigma": 128.0},
        "imagenette-178": {"sigma": 128.0},
        "ffhq-256": {"sigma": 64.0, "inner_lr": 1e-3},
        "photos-32": {"hidden_dim": 128, "fourier_dim": 128, "sigma": 16.0},
    }
)

# The NeRF-style IPC (and through transinr_presets, TransINR). The embedded scenes (objects within ~1 of
# the origin, cameras at 3) need other depth bounds; the CPU recipe also halves the points and the
# width, and lowers the bandwidth to 2^6 for 32 px views (assumed, not the paper's).
NERF_PRESETS = family_presets(
    {
        "shapenet-nvs": {},
        "scenes-32": {
            "hidden_dim": 128,
            "sigma": 64.0,
            "num_layers": 5,
            "num_latents": 32,
            "near": 1.5,
            "far": 4.5,
            "points_per_ray": 64,
        },
    }
)


def list_presets(family: str | None = None) -> dict[str, str]:
    """Preset names and what each reproduces: all of them, or those ``family`` declares."""
    from .models.registry import get_model_class, list_families

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
    from .models.registry import get_model_class

    cls = get_model_class(family)
    if name not in cls.presets:
        known = [n for n in list_presets() if n not in cls.presets]
        where = f"; other families declare: {', '.join(known)}" if name in known else ""
        raise ValueError(
            f"unknown preset {name!r} for model family {family!r}; its presets: {', '.join(cls.presets) or 'none'}"
            f"{where}"
        )
    return copy.deepcopy(cls.presets[name])
