"""ginr-core: generalizable implicit neural representations in PyTorch.

One network turns an image, or a few posed views, into latent tokens plus a shared coordinate
decoder that can be queried at any resolution or along any ray.

>>> import torch
>>> from ginr_core import LocalityAwareINR, image_coords
>>> model = LocalityAwareINR()                       # the paper's 178 px configuration
>>> latents = model.encode(torch.rand(1, 3, 178, 178))  # (1, 256, 256)
>>> rgb = model.decode(latents, image_coords(356, 356).view(1, -1, 2), chunk_size=65536)  # x2 resolution
"""

from .coords import FourierFeatures, image_coords, pixel_centers
from .metrics import frechet_distance, gaussian_statistics, psnr
from .models import (
    IPC,
    MODEL_CLASSES,
    CheckpointMismatchError,
    GeneralizableINR,
    LocalityAwareINR,
    TransINR,
    get_model_class,
)
from .presets import PRESETS, get_preset, list_presets
from .rays import camera_rays, focal_from_fov, look_at, orbit_poses, plucker_rays, ray_embedding

__version__ = "0.1.0"

__all__ = [
    "IPC",
    "MODEL_CLASSES",
    "PRESETS",
    "CheckpointMismatchError",
    "FourierFeatures",
    "GeneralizableINR",
    "LocalityAwareINR",
    "TransINR",
    "__version__",
    "camera_rays",
    "focal_from_fov",
    "frechet_distance",
    "gaussian_statistics",
    "get_model_class",
    "get_preset",
    "image_coords",
    "list_presets",
    "look_at",
    "orbit_poses",
    "pixel_centers",
    "plucker_rays",
    "psnr",
    "ray_embedding",
]
