"""The embedded default dataset: crops of real, public-domain photographs shipped by scikit-image.

Nothing is downloaded: the photographs are files inside the scikit-image wheel. The photographs
are split by source, so every test crop comes from a photograph the model never saw in training.
A crop is a square region of a photograph, chosen by a seeded generator (position, side between
1x and 8x the output resolution in source pixels, optional horizontal flip), and rendered with
antialiased resampling at any resolution: ``dataset.render(i, 64)`` is the same region as item
``i`` at 64 x 64.

The ``"smooth"`` split is a second held-out set: crops of the test photographs whose content is
smooth (sky, skin, walls, a table top: mean absolute difference between neighbouring pixels below
``SMOOTH_GRADIENT`` at 32 px, but not constant). Random crops of photographs are mostly textured;
these are where a model's own noise shows (a flat region must stay flat).

Photographs and licences (from scikit-image's documentation):

=====================  =====  ======================================================
photograph             split  licence
=====================  =====  ======================================================
astronaut              test   public domain (NASA)
coffee                 test   CC0 (Rachel Michetti)
chelsea                train  CC0 (Stefan van der Walt)
rocket                 train  public domain (SpaceX)
hubble_deep_field      train  public domain (NASA)
immunohistochemistry   train  no known copyright restrictions
retina                 train  CC0 (Häggström)
camera (grey)          train  CC0 (Lav Varshney)
clock (grey)           train  public domain (Stefan van der Walt)
coins (grey)           train  no known copyright restrictions
brick, grass, gravel   train  CC0 (cc0textures.com)
cell (grey)            train  CC0
text (grey)            train  public domain
=====================  =====  ======================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = ["PHOTO_SPLITS", "EmbeddedPhotos", "PhotoCrops", "photo"]

PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": (
        "chelsea",
        "rocket",
        "hubble_deep_field",
        "immunohistochemistry",
        "retina",
        "camera",
        "clock",
        "coins",
        "brick",
        "grass",
        "gravel",
        "cell",
        "text",
    ),
    "test": ("astronaut", "coffee"),
    "smooth": ("astronaut", "coffee"),  # the test photographs' smooth regions
}
DEFAULT_SIZES = {"train": 50_000, "test": 256, "smooth": 64}
SMOOTH_GRADIENT = 0.02  # a smooth crop's mean |neighbour difference| at 32 px (per channel, pixels in [0, 1])
SMOOTH_MIN_STD = 0.01  # ... and its pixels' standard deviation: not a constant patch
_SPLIT_CODES = {"train": 0, "test": 1, "smooth": 2}


@cache
def photo(name: str) -> Image.Image:
    """One of the photographs as an RGB PIL image (greyscale ones repeated over 3 channels)."""
    try:
        from skimage import data
    except ImportError as err:
        raise ImportError(
            "the embedded photographs come with scikit-image, in ginr-data's extra: pip install 'ginr-data[embedded]'"
        ) from err
    known = {name for names in PHOTO_SPLITS.values() for name in names}
    if name not in known:
        raise ValueError(f"unknown embedded photograph {name!r}; available: {sorted(known)}")
    array = np.asarray(getattr(data, name)())
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return Image.fromarray(array[..., :3].astype(np.uint8), mode="RGB")


class PhotoCrops(Dataset):
    """Square crops of a set of photographs, a deterministic function of ``(seed, stream, index)``.

    Args:
        photos: the photographs, by name (PIL images, kept in memory as RGB).
        resolution: output side in pixels.
        size: number of crops.
        seed: the crops are a deterministic function of (seed, stream, index).
        flip: random horizontal flips.
        max_zoom_out: largest crop side, in source pixels, as a multiple of ``resolution`` (the
            smallest is 1x, sampled log-uniformly in between and limited by the photograph); ``None``:
            up to the photograph's shorter side (crops of the downscaled photograph as well).
        smooth_fraction: the share of crops drawn from smooth regions of the photographs (mean
            absolute neighbour difference below ``SMOOTH_GRADIENT`` at 32 px, but not constant; each
            crop decides from its own seeded draw). 1: smooth crops only.
        stream: a number that separates the draws of sets built with the same seed.

    Items are dicts ``{"image": (3, r, r) float tensor in [0, 1], "index": i, "skipped": 0}``.
    """

    in_memory = True  # items are cut from images held in memory: no loader workers needed

    def __init__(
        self,
        photos: Mapping[str, Image.Image],
        resolution: int = 32,
        size: int = 256,
        seed: int = 0,
        flip: bool = False,
        max_zoom_out: float | None = 8.0,
        smooth_fraction: float = 0.0,
        stream: int = 0,
    ):
        if int(resolution) != resolution or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if not 0.0 <= smooth_fraction <= 1.0:
            raise ValueError(f"smooth_fraction must be in [0, 1], got {smooth_fraction!r}")
        if not photos:
            raise ValueError("PhotoCrops needs at least one photograph")
        self.photos = {name: im if im.mode == "RGB" else im.convert("RGB") for name, im in photos.items()}
        self.names = tuple(self.photos)
        self.resolution, self.size, self.seed, self.stream = int(resolution), int(size), seed, stream
        self.flip, self.smooth_fraction = bool(flip), float(smooth_fraction)
        self.max_zoom_out = None if max_zoom_out is None else float(max_zoom_out)
        self._smooth_regions: dict[int, tuple] = {}

    def __len__(self) -> int:
        return self.size

    def region(self, index: int) -> tuple[str, tuple[float, float, float, float], bool]:
        """``(photograph, (left, top, right, bottom) box in source pixels, flipped)`` of crop ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"crop {index} out of range for {self.size} crops")
        if self.smooth_fraction < 1.0:
            key = [self.seed, self.stream, index]
            smooth = self.smooth_fraction and np.random.default_rng(key).random() < self.smooth_fraction
            if not smooth:
                return self._draw(np.random.default_rng(key))
        if index not in self._smooth_regions:  # the first smooth candidate of this index's seeded draws
            for attempt in range(10_000):
                found = self._draw(np.random.default_rng([self.seed, self.stream, index, attempt]))
                if _is_smooth(self._crop_array(*found, 32)):
                    break
            else:
                raise RuntimeError(f"no smooth crop in 10,000 draws for crop {index} of {list(self.names)}")
            self._smooth_regions[index] = found
        return self._smooth_regions[index]

    def _draw(self, rng: np.random.Generator) -> tuple[str, tuple[float, float, float, float], bool]:
        name = self.names[rng.integers(len(self.names))]
        width, height = self.photos[name].size
        largest = min(width, height)
        if self.max_zoom_out is not None:
            largest = min(largest, self.resolution * self.max_zoom_out)
        smallest = min(self.resolution, largest)
        side = math.exp(rng.uniform(math.log(smallest), math.log(largest)))
        left = rng.uniform(0, width - side)
        top = rng.uniform(0, height - side)
        flipped = bool(self.flip and rng.random() < 0.5)
        return name, (left, top, left + side, top + side), flipped

    def render(self, index: int, resolution: int | None = None) -> torch.Tensor:
        """Crop ``index`` rendered at ``resolution`` (default: the dataset's): ``(3, r, r)`` in [0, 1]."""
        pixels = self._crop_array(*self.region(index), self.resolution if resolution is None else resolution)
        return torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32)).div_(255.0)

    def _crop_array(self, name: str, box: tuple[float, float, float, float], flipped: bool, resolution: int):
        """The crop as ``(r, r, 3)`` uint8 pixels (bicubic resampling of the box, then the flip).

        A box many times the output side is first reduced by a whole factor (PIL's ``reducing_gap``: a
        box filter, then bicubic over at least 3x the output side), so that a crop of a whole photograph
        costs about what a native-resolution one does; the result is nearly that of the direct
        bicubic resampling."""
        image = self.photos[name].resize((resolution, resolution), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
        if flipped:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(image)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.render(index), "index": index, "skipped": 0}

    def __repr__(self) -> str:
        return f"PhotoCrops(resolution={self.resolution}, size={self.size}, photographs={list(self.names)})"


class EmbeddedPhotos(PhotoCrops):
    """Square crops of the embedded photographs of one split.

    Args:
        split: ``"train"``, ``"test"`` (photographs never seen in training) or ``"smooth"`` (the
            smooth crops of the test photographs).
        resolution: output side in pixels (32 by default; any size works).
        size: number of crops (train: 50,000; test: 256; smooth: 64).
        seed: the crops of a split are a deterministic function of (split, seed, index).
        flip: random horizontal flips (default: on for train, off for test).
        max_zoom_out, smooth_fraction: as in ``PhotoCrops``.
    """

    def __init__(
        self,
        split: str = "train",
        resolution: int = 32,
        size: int | None = None,
        seed: int = 0,
        flip: bool | None = None,
        max_zoom_out: float | None = 8.0,
        smooth_fraction: float = 0.0,
    ):
        if split not in PHOTO_SPLITS:
            raise ValueError(f"unknown split {split!r} of the embedded photographs; choose one of {list(PHOTO_SPLITS)}")
        self.split = split
        super().__init__(
            {name: photo(name) for name in PHOTO_SPLITS[split]},
            resolution=resolution,
            size=DEFAULT_SIZES[split] if size is None else int(size),
            seed=seed,
            flip=split == "train" if flip is None else flip,
            max_zoom_out=max_zoom_out,
            smooth_fraction=1.0 if split == "smooth" else smooth_fraction,
            stream=_SPLIT_CODES[split],
        )

    def __repr__(self) -> str:
        return (
            f"EmbeddedPhotos(split={self.split!r}, resolution={self.resolution}, size={self.size}, "
            f"photographs={list(self.names)})"
        )


def _is_smooth(pixels: np.ndarray) -> bool:
    """Mean absolute neighbour difference below ``SMOOTH_GRADIENT``, standard deviation above ``SMOOTH_MIN_STD``
    (``(r, r, 3)`` uint8 pixels read as values in [0, 1]; the sums are exact integers, so the test is cheap:
    the smooth split searches many candidates per crop)."""
    values = pixels.astype(np.int32)
    rows = np.abs(values[1:] - values[:-1]).sum() / (values[1:].size * 255.0)
    cols = np.abs(values[:, 1:] - values[:, :-1]).sum() / (values[:, 1:].size * 255.0)
    return rows + cols < SMOOTH_GRADIENT and float(values.std(ddof=1)) / 255.0 > SMOOTH_MIN_STD
