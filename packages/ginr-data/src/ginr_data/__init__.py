"""ginr-data: datasets for generalizable INRs, built on PIL and Hugging Face ``datasets``.

* ``image_dataset(source, split, protocol=..., resolution=...)``: the embedded photographs
  (``"photos"``, offline), folders of images, ``save_to_disk`` directories and Hub datasets, with
  the paper's protocols (``IMAGE_PROTOCOLS``) and robust decoding (``ImageLoadError``).
* ``light_field_dataset(source, split, category=...)``: posed multi-view objects for novel view
  synthesis in the learnit ShapeNet layout (``LightFieldDataset``), including ``"scenes"``: textured
  3D objects that ginr renders itself (``ginr_data.scenes``), offline.
* ``sample_pixels``: full-grid or subsampled coordinates and targets, with optional jitter, in the
  coordinate convention of ``ginr_core``.
"""

from .augment import augment_images
from .cache import cache_dir
from .digits import DIGIT_CLASSES, EmbeddedDigits
from .fingerprint import fingerprint_changes, fingerprint_digest, source_fingerprint
from .images import (
    IMAGE_EXTENSIONS,
    HFImageDataset,
    ImageFolder,
    ImageLoadError,
    StreamedImages,
    find_images,
    load_rgb,
    random_crop_flip,
    resize_center_crop,
    to_rgb,
    to_tensor,
)
from .lightfields import LightFieldDataset, LightFieldError, light_field_dataset, posed_views, read_transforms
from .photos import PHOTO_SPLITS, EmbeddedPhotos, PhotoCrops
from .protocols import IMAGE_PROTOCOLS, DatasetUnavailableError, ImageProtocol, SplitRule, image_dataset
from .sampling import jitter_coords, pixel_targets, sample_pixels

__version__ = "0.1.0"

__all__ = [
    "DIGIT_CLASSES",
    "IMAGE_EXTENSIONS",
    "IMAGE_PROTOCOLS",
    "PHOTO_SPLITS",
    "DatasetUnavailableError",
    "EmbeddedDigits",
    "EmbeddedPhotos",
    "HFImageDataset",
    "ImageFolder",
    "ImageLoadError",
    "ImageProtocol",
    "LightFieldDataset",
    "LightFieldError",
    "PhotoCrops",
    "SplitRule",
    "StreamedImages",
    "__version__",
    "augment_images",
    "cache_dir",
    "find_images",
    "fingerprint_changes",
    "fingerprint_digest",
    "image_dataset",
    "jitter_coords",
    "light_field_dataset",
    "load_rgb",
    "pixel_targets",
    "posed_views",
    "random_crop_flip",
    "read_transforms",
    "resize_center_crop",
    "sample_pixels",
    "source_fingerprint",
    "to_rgb",
    "to_tensor",
]
