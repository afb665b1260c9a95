"""A labeled embedded dataset: the handwritten digits that scikit-learn ships (UCI, 1,797 images).

Each 8 x 8 digit (16 grey levels, dark ink on a light ground as written) is upsampled bicubically
to ``resolution`` (32 by default) and repeated over the three channels, in [0, 1]. The split is
fixed and stratified: within each class, every fifth image (in the order scikit-learn lists them)
is a test image, the rest train (1,442 / 355). Items carry their class: ``{"image", "label",
"index", "skipped"}``. Offline, no download: this is the labeled default of the latent prior.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = ["DIGIT_CLASSES", "EmbeddedDigits"]

DIGIT_CLASSES = [str(k) for k in range(10)]


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "the embedded digits come with scikit-learn, in ginr-data's extra: pip install 'ginr-data[embedded]'"
        ) from err

    data = load_digits()
    return 1.0 - data.images.astype(np.float32) / 16.0, data.target.astype(np.int64)  # ink dark on white


def _split(split: str) -> np.ndarray:
    _, labels = _digits()
    rank = np.zeros_like(labels)
    for c in range(10):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    test = rank % 5 == 4
    return np.flatnonzero(test if split == "test" else ~test)


class EmbeddedDigits(Dataset):
    """One split (``"train"`` or ``"test"``) of the embedded handwritten digits at ``resolution`` px."""

    num_classes = 10
    in_memory = True  # items are drawn from arrays held in memory: no loader workers needed

    def __init__(self, split: str = "train", resolution: int = 32, size: int | None = None):
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r} of the embedded digits; choose train or test")
        if int(resolution) != resolution or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        self.split, self.resolution = split, int(resolution)
        self.class_names = [str(c) for c in range(self.num_classes)]
        self.ids = _split(split)[:size]

    def __len__(self) -> int:
        return len(self.ids)

    def render(self, index: int, resolution: int | None = None) -> torch.Tensor:
        """Digit ``index`` at ``resolution`` (default: the dataset's): ``(3, r, r)`` in [0, 1]."""
        r = resolution or self.resolution
        images, _ = _digits()
        image = Image.fromarray(images[self.ids[index]], mode="F").resize((r, r), Image.Resampling.BICUBIC)
        grey = torch.from_numpy(np.clip(np.asarray(image), 0.0, 1.0))
        return grey.expand(3, r, r).contiguous()

    def label(self, index: int) -> int:
        return int(_digits()[1][self.ids[index]])

    def __getitem__(self, index: int) -> dict:
        return {"image": self.render(index), "label": self.label(index), "index": index, "skipped": 0}

    def __repr__(self) -> str:
        return f"EmbeddedDigits(split={self.split!r}, resolution={self.resolution}, size={len(self)})"
