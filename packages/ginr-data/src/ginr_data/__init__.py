"""ginr-data: datasets for generalizable INRs, built on PIL and Hugging Face ``datasets``.

* ``image_dataset(source, split, protocol=..., resolution=...)``: the embedded photographs
  (``"photos"``, offline), folders of images, ``save_to_disk`` directories and Hub datasets, with
  the paper's protocols (``IMAGE_PROTOCOLS``) and robust decoding (``ImageLoadError``).
* ``sample_pixels``: full-grid or subsampled coordinates and targets, with optional jitter, in the
  coordinate convention of ``ginr_core``.
"""

from .images import (
    IMAGE_EXTENSIONS,
    HFImageDataset,
    ImageFolder,
    ImageLoadError,
    find_images,
    load_rgb,
    random_crop_flip,
    resize_center_crop,
    to_rgb,
    to_tensor,
)
from .photos import PHOTO_SPLITS, EmbeddedPhotos
from .protocols import IMAGE_PROTOCOLS, DatasetUnavailableError, ImageProtocol, SplitRule, image_dataset
from .sampling import jitter_coords, pixel_targets, sample_pixels

__version__ = "0.1.0"

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMAGE_PROTOCOLS",
    "PHOTO_SPLITS",
    "DatasetUnavailableError",
    "EmbeddedPhotos",
    "HFImageDataset",
    "ImageFolder",
    "ImageLoadError",
    "ImageProtocol",
    "SplitRule",
    "__version__",
    "find_images",
    "image_dataset",
    "jitter_coords",
    "load_rgb",
    "pixel_targets",
    "random_crop_flip",
    "resize_center_crop",
    "sample_pixels",
    "to_rgb",
    "to_tensor",
]
