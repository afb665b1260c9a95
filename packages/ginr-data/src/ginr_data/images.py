"""Image datasets: folders of files and Hugging Face ``datasets``, with the paper's transforms.

Every dataset item is a dict ``{"image": (3, r, r) float32 tensor in [0, 1], "index": i,
"skipped": k}``, where ``k`` counts unreadable files skipped to produce it (0 normally), plus
``"label": c`` (an int) when the dataset is labeled: class sub-folders (``root/<class>/*.jpg``, the
classes sorted by name as torchvision's ``ImageFolder``) or a ``ClassLabel`` column. A labeled
dataset's ``class_names`` lists the name of each class id (``None`` when unlabeled). Every
dataset also has ``render(i, resolution)``: item ``i`` through the evaluation transform at another
resolution, which is what evaluating a decoder at x2 compares against.

Transforms (the ginr-ipc protocol, NOTES.md):

* ``resize_center_crop``: resize the shorter side to r (bilinear, antialiased), then centre crop
  r x r. CelebA, FFHQ, ImageNet and every evaluation split.
* ``random_crop_flip``: a random r x r crop of the image at its own size plus a random horizontal
  flip: ImageNette training. An image smaller than the crop is first resized so that its shorter
  side is r.

Bad input is converted or named: greyscale, palette, CMYK and 16-bit images become 8-bit RGB
(16-bit values are scaled, not clipped), transparent images are composited on white, and a file
that cannot be decoded raises ``ImageLoadError`` naming it, or (``on_error="skip"``) is skipped with
a warning and counted in the item's ``"skipped"`` field, so that a long run neither crashes hours in
nor hides the problem.
"""

from __future__ import annotations

import io
import itertools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESAMPLE",
    "HFImageDataset",
    "ImageFolder",
    "ImageLoadError",
    "StreamedImages",
    "class_folders",
    "find_images",
    "load_rgb",
    "random_crop_flip",
    "resize_center_crop",
    "to_rgb",
    "to_tensor",
]

# Formats PIL recognises but cannot decode itself (stubs for an external handler, or ghostscript for EPS)
_UNREADABLE_FORMATS = {"BUFR", "EPS", "GRIB", "HDF5", "MPEG", "WMF"}


def _readable_extensions() -> tuple[str, ...]:
    """Every file extension of a format PIL opens (jpg, png, webp, tif, bmp, gif, ...), lower case."""
    Image.init()
    formats = Image.registered_extensions().items()
    return tuple(sorted(ext for ext, fmt in formats if fmt in Image.OPEN and fmt not in _UNREADABLE_FORMATS))


IMAGE_EXTENSIONS = _readable_extensions()
RESAMPLE = Image.Resampling.BILINEAR  # torchvision's Resize default, antialiased by PIL
MAX_CONSECUTIVE_SKIPS = 100


class ImageLoadError(ValueError):
    """An image that cannot be read or converted; the message names the file."""


# ---------------------------------------------------------------------------------------------- reading
EXIF_ORIENTATION = 0x0112


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation tag says (itself when it has none or is upright)."""
    if image.getexif().get(EXIF_ORIENTATION, 1) in (1, None):
        return image
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Any PIL image -> 8-bit RGB, upright as its EXIF orientation says (a phone's portrait photo stands);
    transparency is composited on white, 16-bit values scaled to 8 bits."""
    image = upright(image)
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        if mode == "F" and array.max(initial=0) <= 1.0:
            top = 1.0
        gray = np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise ImageLoadError(f"{name}: cannot convert a {mode!r} image to RGB: {err}") from None


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open, fully decode and convert an image file to 8-bit RGB, or raise ``ImageLoadError`` naming it."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated and corrupt files fail here, not later
            return to_rgb(image, str(path))
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageLoadError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """8-bit RGB PIL image (or its ``(H, W, 3)`` uint8 pixels) -> ``(3, H, W)`` float32 tensor in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


# ---------------------------------------------------------------------------------------------- transforms
def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (antialiased), then crop the centre ``size x size``."""
    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    if new != image.size:
        image = image.resize(new, RESAMPLE)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def random_crop_flip(image: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """A random ``size x size`` crop at the image's own scale and a random horizontal flip."""
    width, height = image.size
    if min(width, height) < size:
        scale = size / min(width, height)
        image = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), RESAMPLE)
        width, height = image.size
    left = int(rng.integers(0, width - size + 1))
    top = int(rng.integers(0, height - size + 1))
    image = image.crop((left, top, left + size, top + size))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


# ---------------------------------------------------------------------------------------------- datasets
class _ImageDataset(Dataset):
    """Shared behaviour: transform, skip-or-raise on unreadable images, ``render``, ``set_epoch``."""

    def __init__(self, resolution: int, random_crop: bool, on_error: str, seed: int):
        if int(resolution) != resolution or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.resolution, self.random_crop, self.on_error, self.seed = int(resolution), random_crop, on_error, seed
        self.epoch = 0
        self.class_names: list[str] | None = None  # labeled datasets: the name of each class id

    def label(self, index: int) -> int:
        """The class id of image ``index`` (labeled datasets only)."""
        raise NotImplementedError

    # subclasses: number of items, how to read item i, and how to name it in messages
    def __len__(self) -> int:
        raise NotImplementedError

    def _read(self, index: int) -> Image.Image:
        raise NotImplementedError

    def describe(self, index: int) -> str:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Random crops and flips depend on (seed, epoch, index) only: reproducible, resumable."""
        self.epoch = int(epoch)

    def _transform(self, image: Image.Image, index: int, resolution: int) -> torch.Tensor:
        if self.random_crop:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return to_tensor(random_crop_flip(image, resolution, rng))
        return to_tensor(resize_center_crop(image, resolution))

    def __getitem__(self, index: int) -> dict:
        size = len(self)
        for skipped in range(min(size, MAX_CONSECUTIVE_SKIPS)):
            current = (index + skipped) % size
            try:
                image = self._read(current)
            except ImageLoadError as err:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping unreadable image {err}", stacklevel=2)
                continue
            item = {"image": self._transform(image, current, self.resolution), "index": index, "skipped": skipped}
            if self.class_names is not None:
                item["label"] = self.label(current)
            return item
        tried = min(size, MAX_CONSECUTIVE_SKIPS)
        raise ImageLoadError(
            f"all {size} images are unreadable (e.g. {self.describe(index)})"
            if tried == size
            else f"{tried} consecutive unreadable images from {self.describe(index)} on: the dataset looks broken, "
            "not just one file"
        )

    def skipped_sources(self, index: int, skipped: int) -> list[int]:
        """The unreadable images that item ``index`` skipped (its ``"skipped"`` count), as image indices."""
        return [(index + j) % len(self) for j in range(skipped)]

    def render(self, index: int, resolution: int | None = None) -> torch.Tensor:
        """Item ``index`` through the evaluation transform (resize + centre crop) at ``resolution``."""
        return to_tensor(resize_center_crop(self._read(index), resolution or self.resolution))


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (every format PIL reads, ``IMAGE_EXTENSIONS``, any case), recursively, in sorted
    order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_folders(root: str | os.PathLike, files: Sequence[Path]) -> list[str] | None:
    """The class names of a folder whose images sit in class sub-folders, else None.

    Labeled when every image is directly inside a first-level sub-folder of ``root``, there are at
    least two such folders and not all their names are numbers (FFHQ's ``00000/``, ``01000/`` ...
    are chunks of one set, not classes). Classes are the sub-folder names, sorted, empty ones included (which
    ``ImageFolder`` then names as an error, rather than dropping a class and shifting the ids after it).
    """
    root = Path(root)
    parents = set()
    for f in files:
        relative = Path(f).relative_to(root) if Path(f).is_absolute() == root.is_absolute() else None
        if relative is None or len(relative.parts) != 2:
            return None
        parents.add(relative.parts[0])
    if len(parents) < 2 or all(p.isdigit() for p in parents):
        return None
    return sorted(parents | set(_sub_folders(root)))


def _sub_folders(root: Path) -> list[str]:
    return [d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")] if root.is_dir() else []


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() for p in folder.rglob("*"))


def _check_class_folders(root: Path, names: list[str], labels: list[int]) -> None:
    """A class folder without images is an error naming it; a class with no folder here is named in a warning
    (its id is kept: ids come from one list for every split)."""
    present, absent = set(labels), []
    for i, name in enumerate(names):
        if i in present:
            continue
        folder = root / name
        if not folder.is_dir():
            absent.append(name)
        elif not _has_images(folder):
            raise ValueError(
                f"{folder}: the class folder {name!r} holds no images; add its images or remove the folder "
                "(class ids are the sorted class folders)"
            )
    if absent:
        warnings.warn(
            f"{root}: no folder for class(es) {', '.join(absent)} of the {len(names)} classes; the other classes "
            "keep their ids",
            stacklevel=3,
        )


class ImageFolder(_ImageDataset):
    """Images found recursively under a folder (or an explicit list of files), labeled by class sub-folder.

    Args:
        root: folder to scan (every format PIL reads: ``IMAGE_EXTENSIONS``, any case).
        resolution: output side r.
        random_crop: training transform ``random_crop_flip`` instead of ``resize_center_crop``.
        files: use these files (e.g. a protocol's split) instead of scanning ``root``.
        on_error: ``"skip"`` (warn, count, use the next readable file) or ``"raise"``.
        seed: seed of the random crops.
        classes: ``"auto"`` (labels from class sub-folders when the layout has them: ``class_folders``),
            ``None`` (unlabeled), or the list of class folder names in id order (e.g. those of every
            split, so that a split missing a class keeps the same ids). A class folder without images is
            an error naming it; a class without a folder here is named in a warning.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        resolution: int,
        random_crop: bool = False,
        files: Sequence[str | os.PathLike] | None = None,
        on_error: str = "skip",
        seed: int = 0,
        classes: str | Sequence[str] | None = "auto",
    ):
        super().__init__(resolution, random_crop, on_error, seed)
        self.root = Path(root)
        self.held_out: dict | None = None  # a flat folder's seeded split (ginr_data.image_dataset), or None
        self.files = [Path(f) for f in files] if files is not None else find_images(self.root)
        if not self.files:
            raise FileNotFoundError(
                f"no images (jpg, png, webp, tif, bmp, gif, ... as PIL reads) found under {self.root}"
            )
        if isinstance(classes, str):
            if classes != "auto":
                raise ValueError(f"classes must be 'auto', None or a list of folder names, got {classes!r}")
            classes = class_folders(self.root, self.files)
        if classes is not None:
            ids = {name: i for i, name in enumerate(classes)}
            self._labels = []
            for f in self.files:
                folder = f.parent.name
                if folder not in ids or f.parent.parent != self.root:
                    raise ValueError(
                        f"{f}: not in one of the {len(ids)} class folders of {self.root} "
                        f"({', '.join(list(ids)[:5])}{', ...' if len(ids) > 5 else ''})"
                    )
                self._labels.append(ids[folder])
            self.class_names = list(classes)
            _check_class_folders(self.root, self.class_names, self._labels)

    def label(self, index: int) -> int:
        return self._labels[index]

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, index: int) -> Image.Image:
        return load_rgb(self.files[index])

    def describe(self, index: int) -> str:
        return str(self.files[index])

    def __repr__(self) -> str:
        note = f", {self.held_out['part']} part of a flat folder" if self.held_out else ""
        return f"ImageFolder({str(self.root)!r}, {len(self)} images, resolution={self.resolution}{note})"


def _decode_entry(entry: dict | None, where: str) -> Image.Image:
    """A ``datasets`` Image entry read undecoded (``{"bytes", "path"}``) as RGB, or an ``ImageLoadError``."""
    entry = entry or {}
    source = entry.get("path") or where
    if entry.get("bytes") is not None:
        try:
            with Image.open(io.BytesIO(entry["bytes"])) as image:
                image.load()
                return to_rgb(image, source)
        except ImageLoadError:
            raise
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageLoadError(f"{source}: cannot read image ({type(err).__name__}: {err})") from None
    if entry.get("path"):
        return load_rgb(entry["path"])
    raise ImageLoadError(f"{where}: empty image entry")


def _image_column(features, image_column: str | None, name: str) -> str:
    """The Image column of a ``datasets`` source: ``image_column``, or its only Image feature."""
    from datasets import Image as ImageFeature

    if features is None:
        if image_column is None:
            raise ValueError(f"{name}: the stream does not declare its features; pass image_column")
        return image_column
    images = [k for k, feature in features.items() if isinstance(feature, ImageFeature)]
    if image_column is None:
        if len(images) != 1:
            raise ValueError(
                f"{name}: cannot tell which column holds the images (Image columns: {images}, all columns: "
                f"{list(features)}); pass image_column"
            )
        return images[0]
    if image_column not in features:
        raise ValueError(f"{name}: no column {image_column!r}; columns: {list(features)}")
    return image_column


def _label_column(features, label_column: str | bool | None, name: str) -> str | None:
    """The ``ClassLabel`` column of a ``datasets`` source: ``label_column``, its only one when ``None`` (no
    labels when it has none), no labels for ``False``."""
    from datasets import ClassLabel

    labels = [k for k, feature in (features or {}).items() if isinstance(feature, ClassLabel)]
    if label_column is None:
        if len(labels) > 1:
            raise ValueError(f"{name}: several ClassLabel columns {labels}; pass label_column (or False)")
        return labels[0] if labels else None
    if label_column is not False and label_column not in labels:
        raise ValueError(f"{name}: {label_column!r} is not a ClassLabel column; ClassLabel columns: {labels}")
    return label_column or None


class StreamedImages(torch.utils.data.IterableDataset):
    """This process's share of a streamed ``datasets.IterableDataset`` of images, endless over epochs
    (or ``passes`` of them: 1 reads each item once, in order, e.g. to encode it).

    The stream is shuffled through a seeded buffer of ``buffer_size`` items (reshuffled each epoch with
    ``set_epoch``), split over the ``world`` processes by ``datasets.distributed.split_dataset_by_node``
    and read in order: item k of this process's sequence (counted over the epochs) is cropped with the
    draw keyed by (seed, k). ``start`` (resume) passes over the first items of the sequence: they are read
    again, not decoded, so a resumed run sees exactly the items an uninterrupted one would, at the cost of
    reading the consumed part of the stream once more. Items are ``{"image", "index": k, "skipped": 0}``;
    an unreadable entry is skipped with a warning (``on_error="skip"``) or raises. Resume counts the items
    yielded before the checkpoint and passes over as many positions: it is exact when no entry before the
    checkpoint was unreadable; after s skipped entries the resumed run continues s items earlier than the
    interrupted one did (``on_error="raise"`` keeps it exact by stopping at the first).

    A labeled stream (its only ``ClassLabel`` column, or ``label_column``; ``False``: none) adds ``"label"``
    to each item and names its classes in ``class_names`` (an inferred column that a row leaves empty, as
    ``imagefolder``'s split folders do, leaves that item unlabeled).
    """

    def __init__(
        self,
        stream,
        resolution: int,
        random_crop: bool = False,
        image_column: str | None = None,
        on_error: str = "skip",
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        buffer_size: int = 1000,
        name: str = "stream",
        label_column: str | bool | None = None,
        passes: int | None = None,
    ):
        from datasets import Image as ImageFeature
        from datasets.distributed import split_dataset_by_node

        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.image_column = _image_column(stream.features, image_column, name)
        if stream.features is not None:  # decoded here, so that a corrupt entry is skipped by name, not a crash
            stream = stream.cast_column(self.image_column, ImageFeature(decode=False))
        self.label_column = _label_column(stream.features, label_column, name)
        self.class_names = list(stream.features[self.label_column].names) if self.label_column else None
        # a label that `datasets` inferred (imagefolder's parent folders) may be absent from every row (split
        # folders): such items come unlabeled; a label column that was asked for must be in each row
        self._label_asked = label_column is not None
        if not self.label_column:
            stream = stream.select_columns(self.image_column)
        stream = stream.shuffle(seed=seed, buffer_size=buffer_size) if buffer_size > 1 else stream
        self.stream = split_dataset_by_node(stream, rank=rank, world_size=world)
        self.resolution, self.random_crop, self.on_error, self.seed = int(resolution), random_crop, on_error, seed
        self.name, self.rank, self.world, self.start = name, rank, world, 0
        if passes is not None and passes < 1:
            raise ValueError(f"passes must be >= 1 (or None: endless), got {passes}")
        self.passes = passes

    def __iter__(self):
        position = 0
        for epoch in itertools.count() if self.passes is None else range(self.passes):
            self.stream.set_epoch(epoch)
            read = 0
            for row in self.stream:
                read += 1
                position += 1
                k = position - 1
                if k < self.start:
                    continue
                try:
                    image = _decode_entry(row[self.image_column], f"{self.name} item {k} (process {self.rank})")
                except ImageLoadError as err:
                    if self.on_error == "raise":
                        raise
                    warnings.warn(f"skipping unreadable image {err}", stacklevel=2)
                    continue
                if self.random_crop:
                    picture = random_crop_flip(image, self.resolution, np.random.default_rng([self.seed, k]))
                else:
                    picture = resize_center_crop(image, self.resolution)
                item = {"image": to_tensor(picture), "index": k, "skipped": 0}
                if self.label_column and (self._label_asked or row.get(self.label_column) is not None):
                    item["label"] = self._label(row.get(self.label_column), k)
                yield item
            if read == 0:
                raise ImageLoadError(f"{self.name}: the stream of process {self.rank} of {self.world} holds no items")

    def _label(self, value, k: int) -> int:
        if value is None or not 0 <= int(value) < len(self.class_names):
            raise ValueError(
                f"{self.name} item {k} (process {self.rank}): label {value} in column {self.label_column!r} is not "
                f"one of its {len(self.class_names)} classes"
            )
        return int(value)

    def skipped_sources(self, index: int, skipped: int) -> list[int]:
        return []  # unreadable stream entries are warned about as they are met

    def __repr__(self) -> str:
        return (
            f"StreamedImages({self.name!r}, streamed, process {self.rank} of {self.world}, "
            f"resolution={self.resolution})"
        )


class HFImageDataset(_ImageDataset):
    """A Hugging Face ``datasets.Dataset`` with an image column; the other settings are as ``ImageFolder``'s.

    Args:
        dataset: the ``datasets.Dataset`` (one split).
        image_column: the column holding images; ``None`` picks the only ``Image`` feature.
        label_column: the ``ClassLabel`` column of the labels; ``None`` picks the only one (unlabeled
            when there is none); ``False``: unlabeled.
    """

    def __init__(
        self,
        dataset,
        resolution: int,
        random_crop: bool = False,
        image_column: str | None = None,
        on_error: str = "skip",
        seed: int = 0,
        name: str = "dataset",
        label_column: str | bool | None = None,
    ):
        super().__init__(resolution, random_crop, on_error, seed)
        from datasets import Image as ImageFeature

        image_column = _image_column(dataset.features, image_column, name)
        # decode ourselves, so that a corrupt entry is an ImageLoadError naming the row, not a crash
        self.dataset = dataset.cast_column(image_column, ImageFeature(decode=False))
        self.image_column, self.name = image_column, name
        chosen = label_column is not None
        self.label_column = _label_column(dataset.features, label_column, name)
        if self.label_column:
            self.class_names = list(dataset.features[self.label_column].names)
            # one column read once (Arrow, memory-mapped), not a row decoded per label
            self._labels = np.asarray(dataset.with_format("numpy", columns=[self.label_column])[self.label_column])
            if not chosen and self._labels.dtype.kind == "f" and np.isnan(self._labels).any():
                # a label inferred by `datasets` (imagefolder's parent folder) that some rows lack: unlabeled
                self.label_column, self.class_names, self._labels = None, None, None

    def label(self, index: int) -> int:
        value = int(self._labels[index])
        if not 0 <= value < len(self.class_names):
            raise ValueError(
                f"{self.describe(index)}: label {value} in column {self.label_column!r} is not one of its "
                f"{len(self.class_names)} classes (a missing label is -1)"
            )
        return value

    def __len__(self) -> int:
        return len(self.dataset)

    def describe(self, index: int) -> str:
        return f"{self.name} row {index}"

    def _read(self, index: int) -> Image.Image:
        return _decode_entry(self.dataset[index][self.image_column], self.describe(index))

    def __repr__(self) -> str:
        return f"HFImageDataset({self.name!r}, {len(self)} images, resolution={self.resolution})"
