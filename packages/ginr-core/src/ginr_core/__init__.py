"""ginr-core: generalizable implicit neural representations in PyTorch.

One network turns an image, or a few posed views, into latent tokens plus a shared coordinate
decoder that can be queried at any resolution or along any ray.

>>> import torch
>>> from ginr_core import LocalityAwareINR, image_coords
>>> model = LocalityAwareINR()                       # the paper's 178 px configuration
>>> latents = model.encode(torch.rand(1, 3, 178, 178))  # (1, 256, 256)
>>> rgb = model.decode(latents, image_coords(356, 356).view(1, -1, 2), chunk_size=65536)  # x2 resolution
"""

from .checks import image_size_pair, integer_at_least, positive_number
from .coords import RENDER_CHUNK, FourierFeatures, image_coords, pixel_centers, pixel_targets, render_image
from .hub import Artifact, inspect_artifact
from .images import novel_view, preprocess, reconstruct
from .memory import TooLargeError, check_memory, check_model_memory
from .metrics import frechet_distance, gaussian_statistics, psnr, silhouette, silhouette_iou
from .models import (
    IPC,
    SHARED_SETTINGS,
    CheckpointMismatchError,
    GeneralizableINR,
    LearnedInit,
    LocalityAwareINR,
    ModelConfig,
    NeRFIPC,
    NeRFTransINR,
    PatchTokenizer,
    Tokenizer,
    TransINR,
    get_model_class,
    get_tokenizer,
    list_families,
    list_tokenizers,
    register_to_config,
)
from .presets import PRESETS, get_preset, list_presets
from .rays import (
    LIGHT_FIELD_CHANNELS,
    RAY_DIM,
    RAY_FORMATS,
    camera_rays,
    focal_from_fov,
    look_at,
    orbit_around,
    orbit_poses,
    plucker_rays,
    posed_rays,
    ray_coordinates,
    ray_embedding,
    ray_format_of,
)

__version__ = "0.2.0"

__all__ = [
    "IPC",
    "LIGHT_FIELD_CHANNELS",
    "PRESETS",
    "RAY_DIM",
    "RAY_FORMATS",
    "RENDER_CHUNK",
    "SHARED_SETTINGS",
    "Artifact",
    "CheckpointMismatchError",
    "FourierFeatures",
    "GeneralizableINR",
    "LearnedInit",
    "LocalityAwareINR",
    "ModelConfig",
    "NeRFIPC",
    "NeRFTransINR",
    "PatchTokenizer",
    "Tokenizer",
    "TooLargeError",
    "TransINR",
    "__version__",
    "camera_rays",
    "check_memory",
    "check_model_memory",
    "focal_from_fov",
    "frechet_distance",
    "gaussian_statistics",
    "get_model_class",
    "get_preset",
    "get_tokenizer",
    "image_coords",
    "image_size_pair",
    "inspect_artifact",
    "integer_at_least",
    "list_families",
    "list_presets",
    "list_tokenizers",
    "look_at",
    "novel_view",
    "orbit_around",
    "orbit_poses",
    "pixel_centers",
    "pixel_targets",
    "plucker_rays",
    "posed_rays",
    "positive_number",
    "preprocess",
    "psnr",
    "ray_coordinates",
    "ray_embedding",
    "ray_format_of",
    "reconstruct",
    "register_to_config",
    "render_image",
    "silhouette",
    "silhouette_iou",
]
