"""The paper's image protocols and ``image_dataset``, the one entry point to every image source.

``image_dataset(source, split, protocol=..., resolution=...)`` returns a dataset of
``{"image", "index", "skipped"}`` items from:

* ``"photos"``: the embedded crops of public-domain photographs (``ginr_data.photos``), offline;
* a folder of images (recursive; jpg, png, webp), optionally split by a protocol (sub-folders or
  numbered files);
* a local ``datasets`` directory written by ``save_to_disk``;
* a Hugging Face Hub dataset id with an image column (``split`` selects the split).

Protocols (``IMAGE_PROTOCOLS``) fix the resolution, the transforms and the splits of the paper's
image experiments; each says where a user gets the data and what to point ``source`` at.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .images import HFImageDataset, ImageFolder, StreamedImages, _sub_folders, class_folders, find_images
from .photos import EmbeddedPhotos

__all__ = ["IMAGE_PROTOCOLS", "DatasetUnavailableError", "ImageProtocol", "SplitRule", "image_dataset"]


class DatasetUnavailableError(RuntimeError):
    """A dataset that cannot be reached or found; the message says which and what to do."""


@dataclass(frozen=True)
class SplitRule:
    """How a protocol finds one split: a sub-folder, a range of numbered files, a ``datasets`` split."""

    subdir: str | None = None
    id_range: tuple[int, int] | None = None  # inclusive range of integer file names (000001.jpg -> 1)
    hf_split: str | None = None
    id_list: str | None = None  # a list of file ids shipped in ginr_data/assets/: the split is these ids
    exclude_list: str | None = None  # ... or every id of id_range except these

    def ids(self) -> set[int] | None:
        """The ids of the split when a shipped list defines it (None: ``id_range`` alone does)."""
        if self.id_list is not None:
            return shipped_ids(self.id_list)
        if self.exclude_list is not None:
            low, high = self.id_range
            return set(range(low, high + 1)) - shipped_ids(self.exclude_list)
        return None


@functools.cache
def shipped_ids(name: str) -> frozenset[int]:
    """The integer ids listed (one per line) in the asset file ``name`` of ginr_data."""
    text = importlib.resources.files("ginr_data").joinpath("assets", name).read_text(encoding="utf-8")
    return frozenset(int(line) for line in text.split())


@dataclass(frozen=True)
class ImageProtocol:
    name: str
    resolution: int
    random_crop_train: bool
    splits: dict[str, SplitRule]
    source: str = ""
    notes: str = field(default="", compare=False)
    class_folders: bool = False  # folders: labels from the class sub-folders of the training split's folder


_CELEBA = {
    "train": SplitRule(id_range=(1, 162770)),
    "val": SplitRule(id_range=(162771, 182637)),
    "test": SplitRule(id_range=(182638, 202599)),
}
# The official random split of ginr-ipc (src/datasets/assets/ffhq{train,validation}.txt): its 10,000
# validation ids are shipped in assets/ffhq_validation_ids.txt; train is every other id of 0-69,999.
_FFHQ = {
    "train": SplitRule(id_range=(0, 69999), exclude_list="ffhq_validation_ids.txt"),
    "test": SplitRule(id_range=(0, 69999), id_list="ffhq_validation_ids.txt"),
}
_FFHQ_SOURCE = (
    "FFHQ (https://github.com/NVlabs/ffhq-dataset): point source at the folder of 00000.png ... 69999.png "
    "(images1024x1024; sub-folders are searched); the official random split: 60,000 train / 10,000 test "
    "(the test ids ship in ginr_data/assets/ffhq_validation_ids.txt)"
)

IMAGE_PROTOCOLS: dict[str, ImageProtocol] = {
    "celeba-178": ImageProtocol(
        "celeba-178",
        178,
        False,
        _CELEBA,
        "CelebA 'Align&Cropped' (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html): point source at "
        "img_align_celeba/ (000001.jpg ... 202599.jpg); official splits by image id, the test split is evaluated",
    ),
    **{f"ffhq-{r}": ImageProtocol(f"ffhq-{r}", r, False, _FFHQ, _FFHQ_SOURCE) for r in (178, 256, 512, 1024)},
    "imagenette-178": ImageProtocol(
        "imagenette-178",
        178,
        True,
        {"train": SplitRule(subdir="train"), "test": SplitRule(subdir="val")},
        "imagenette2-320 (https://github.com/fastai/imagenette, imagenette2-320.tgz): point source at the "
        "extracted imagenette2-320/ (train/ and val/ inside); training uses RandomCrop(178) + flip",
        class_folders=True,
    ),
    "imagenet-256": ImageProtocol(
        "imagenet-256",
        256,
        False,
        {"train": SplitRule(subdir="train", hf_split="train"), "test": SplitRule(subdir="val", hf_split="validation")},
        "ImageNet-1k (ILSVRC2012): point source at a folder with train/ and val/ (class sub-folders), or use the "
        "gated Hub dataset ILSVRC/imagenet-1k after accepting its terms and logging in; class names from "
        "LOC_synset_mapping.txt beside train/ when it is there, else the synset ids",
        class_folders=True,
    ),
}


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _numbered(files: list[Path], rule: SplitRule) -> list[Path]:
    """The files of ``rule``'s split among numbered ``files`` (``00042.png`` has id 42)."""
    low, high = rule.id_range
    ids = rule.ids()
    return [f for f in files if f.stem.isdigit() and low <= int(f.stem) <= high and (ids is None or int(f.stem) in ids)]


def _load_hub_dataset(source: str, split: str, options: dict | None = None):
    """``datasets.load_dataset(source, split=split, **options)`` (``name``, ``revision``, ``data_files``,
    ``data_dir``), its failures as errors that say what to do."""
    import datasets

    offline = os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    try:
        return datasets.load_dataset(source, split=split, **options)
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        hint = (
            "the Hugging Face Hub is offline here (HF_HUB_OFFLINE=1) and the dataset is not in the local cache; "
            "download it once with network access, or point source at a local folder"
            if offline
            else "check the dataset id and your network or login (gated datasets need `hf auth login`)"
        )
        raise DatasetUnavailableError(
            f"dataset {source!r} (split {split!r}) is not available: there is no local folder of that name, and {hint} "
            f"({type(err).__name__}: {err})"
        ) from None
    except ValueError as err:  # e.g. an unknown split
        raise DatasetUnavailableError(f"dataset {source!r}: {err}") from None


def _protocol_classes(path: Path, spec: ImageProtocol) -> list[str]:
    """The class folders of a protocol's training split (sorted), so that every split numbers them alike."""
    train = path / spec.splits["train"].subdir
    if not train.is_dir():
        raise FileNotFoundError(f"{train} does not exist: protocol {spec.name!r} expects {spec.source}")
    classes = sorted(d.name for d in train.iterdir() if d.is_dir())
    if not classes:
        raise FileNotFoundError(f"{train} has no class sub-folders: protocol {spec.name!r} expects {spec.source}")
    return classes


# sub-folder names that make a folder a set of splits (any other sub-folders are classes or chunks)
SPLIT_FOLDERS = {"train", "training", "test", "testing", "val", "valid", "validation", "dev", "holdout", "smooth"}
FLAT_SPLIT_SEED = 0  # the held-out files of a flat folder do not depend on the run's seed


def _flat_split(path: Path, files: list[Path], train: bool, fraction: float) -> tuple[list[Path], dict]:
    """A flat folder's training part (``train``: the files not held out) or its held-out part: a seeded
    ``fraction`` of the files (rounded up: at least one), disjoint by file. Returns the files and what was held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {fraction!r}")
    part = "train" if train else "held-out"
    if len(files) < 2 and part == "train":
        return files, None  # nothing to hold out; asking for the held-out part of it is the error
    if len(files) < 2:
        raise ValueError(
            f"{path}: a flat folder needs at least 2 images to hold one out for testing, it has {len(files)}"
        )
    count = min(len(files) - 1, math.ceil(fraction * len(files) - 1e-9))  # at least one; one left to train on
    order = np.random.default_rng(FLAT_SPLIT_SEED).permutation(len(files))
    held = sorted(int(i) for i in order[:count])
    held_files = [files[i] for i in held]
    chosen = sorted(set(files) - set(held_files)) if part == "train" else held_files
    report = {
        "part": part,
        "of": len(files),
        "held_out": count,
        "test_fraction": fraction,
        "files": [str(f.relative_to(path)) for f in held_files],
    }
    return chosen, report


def _streamed(source, split, hub, train, resolution, random_crop, columns, on_error, seed, sharing, size):
    """``image_dataset`` of a stream: the training split (or any split read in ``passes``) as
    ``StreamedImages``, another split's first ``size`` items (256 by default) read into memory (a test set is
    scored item by item)."""
    import datasets

    image_column, label_column = columns
    stream = _load_hub_dataset(source, split, {**hub, "streaming": True})
    rank, world, buffer_size, passes = sharing
    if train or passes is not None:
        return StreamedImages(stream, resolution, random_crop, image_column, on_error, seed, rank, world,
                              buffer_size, name=source, label_column=label_column, passes=passes)  # fmt: skip
    held = datasets.Dataset.from_list(list(stream.take(size or 256)), features=stream.features)
    return HFImageDataset(held, resolution, False, image_column, on_error, seed, f"{source} ({split})", label_column)


def image_dataset(
    source: str | os.PathLike = "photos",
    split: str = "train",
    *,
    protocol: str | None = None,
    resolution: int | None = None,
    train: bool | None = None,
    size: int | None = None,
    image_column: str | None = None,
    on_error: str = "skip",
    seed: int = 0,
    smooth_fraction: float = 0.0,
    max_zoom_out: float | None = 8.0,
    test_fraction: float = 0.1,
    hub: dict | None = None,
    label_column: str | bool | None = None,
    streaming: bool = False,
    buffer_size: int = 1000,
    rank: int = 0,
    world: int = 1,
    passes: int | None = None,
) -> Dataset:
    """One split of an image source, transformed as its protocol says.

    Args:
        source: ``"photos"`` (embedded), ``"digits"`` (embedded, labeled), a folder, a ``save_to_disk``
            directory or a Hub dataset id.
        split: split name (``"train"``, ``"test"``, ...). A folder without a protocol: with split
            sub-folders (``train/``, ``test/``, ``val/``, ...), the one of that name (an error naming the
            ones there if it is missing); a flat folder is split by file, seeded: for ``"train"`` (or with
            ``train``) its training part, else its held-out part (``test_fraction`` of the
            files, at least one).
        protocol: a name from ``IMAGE_PROTOCOLS`` (resolution, transforms, splits).
        resolution: output side r (default: the protocol's, or 32 for the photos).
        train: apply training augmentation (random crops and flips where the protocol has them;
            flips for the photos). Default: ``split == "train"``.
        size: use only the first ``size`` items (e.g. a fixed test subset).
        image_column: the image column of a ``datasets`` source (default: the only Image feature).
        on_error: ``"skip"`` unreadable images with a warning (counted in each item's ``"skipped"``)
            or ``"raise"``.
        seed: seed of the random crops (and of the photos' crops).
        smooth_fraction: the embedded photos only: the share of crops taken from smooth regions.
        max_zoom_out: the embedded photos only: the largest crop side as a multiple of ``resolution``
            (``None``: up to the whole photograph).
        test_fraction: a flat folder: the share of its files held out (the same files for every seed).
        label_column: the ``ClassLabel`` column of a ``datasets`` source (default: the only one; False: none).
        hub: options of ``datasets.load_dataset`` for a Hub dataset (or a local copy of one): ``name`` (its
            config, e.g. frgfm/imagenette's ``"320px"``), ``revision``, ``data_files``, ``data_dir``. With any of
            them, a local folder is read by ``datasets`` too (its README's ``configs``, a loading script's
            builder), not as a plain folder of images.
        streaming: read a ``datasets`` source (a Hub id, ``"imagefolder"`` with ``hub={"data_dir": ...}``, a
            local folder) as a stream, nothing downloaded ahead: the training split (``train=True``) as
            ``StreamedImages`` (this process's share, ``rank`` of ``world``, shuffled through a buffer of
            ``buffer_size``), any other split as its first ``size`` items (default 256), held in memory.
            With ``passes`` (e.g. 1: each item once, in order, with ``buffer_size=1``), any split is streamed
            so, without augmentation unless ``train``.
    """
    train = split == "train" if train is None else train
    rule, random_crop = None, False
    if protocol is not None:
        if protocol not in IMAGE_PROTOCOLS:
            raise ValueError(f"unknown image protocol {protocol!r}; available: {', '.join(IMAGE_PROTOCOLS)}")
        spec = IMAGE_PROTOCOLS[protocol]
        if split not in spec.splits:
            raise ValueError(f"protocol {protocol!r} has no split {split!r}; it has {list(spec.splits)}")
        rule, random_crop = spec.splits[split], train and spec.random_crop_train
        resolution = spec.resolution if resolution is None else resolution

    if str(source) == "digits":
        if protocol is not None:
            raise ValueError("the embedded digits have their own split; do not combine them with a protocol")
        from .digits import EmbeddedDigits

        return EmbeddedDigits(split, resolution=resolution or 32, size=size)
    if str(source) == "photos":
        if protocol is not None:
            raise ValueError("the embedded photos have their own splits and crops; do not combine them with a protocol")
        return EmbeddedPhotos(
            split,
            resolution=resolution or 32,
            size=size,
            seed=seed,
            flip=train,
            smooth_fraction=smooth_fraction,
            max_zoom_out=max_zoom_out,
        )
    if smooth_fraction:
        raise ValueError("smooth_fraction applies to the embedded photos (source='photos') only")
    if resolution is None:
        raise ValueError(f"pass resolution (or a protocol) for the image source {str(source)!r}")

    path = Path(os.path.expanduser(str(source)))
    hub = {k: v for k, v in (hub or {}).items() if v is not None}
    if path.is_dir() and _is_saved_dataset(path):
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except Exception as err:  # pyarrow's ArrowInvalid, a JSON or file error: name the folder
            raise DatasetUnavailableError(
                f"{path}: cannot read this saved `datasets` folder ({type(err).__name__}: {err}); it looks corrupt or "
                "incomplete: save it again with Dataset.save_to_disk"
            ) from None
        if isinstance(loaded, datasets.DatasetDict):
            name = rule.hf_split if rule is not None and rule.hf_split else split
            if name not in loaded:
                raise ValueError(f"{path}: no split {name!r}; it has {list(loaded)}")
            loaded = loaded[name]
        if size is not None:
            loaded = loaded.select(range(min(size, len(loaded))))
        return HFImageDataset(loaded, resolution, random_crop, image_column, on_error, seed, str(path), label_column)
    if path.is_dir() and not hub and not streaming:
        root, held_out = path, None
        if rule is not None and rule.subdir:
            root = path / rule.subdir
        elif rule is None:
            splits = sorted(d.name for d in path.iterdir() if d.is_dir() and d.name.lower() in SPLIT_FOLDERS)
            if (path / split).is_dir() and split not in splits:  # any folder named as the split is one
                splits.append(split)
            if splits and split not in splits:
                raise ValueError(
                    f"{path} has the split folders {splits} but no {split!r}; set the split to one of them"
                )
            root = path / split if splits else path
        files = find_images(root)
        classes = "auto" if protocol is None else None
        if rule is None and root == path:
            classes = class_folders(path, files)  # of the whole folder: a class held out entirely keeps its id
            # the training part for the training split (augmented or not: a prior encodes it plain)
            files, held_out = _flat_split(path, files, train or split == "train", test_fraction)
        elif rule is None and class_folders(root, files) is not None:  # one class list for every split folder
            classes = sorted({name for s in splits for name in _sub_folders(path / s)})
        if rule is not None and rule.id_range is not None:
            files = _numbered(files, rule)
            if not files:
                which = (
                    f"the ids listed in ginr_data/assets/{rule.id_list}"
                    if rule.id_list
                    else f"ids {rule.id_range[0]}-{rule.id_range[1]}"
                    + (f" outside ginr_data/assets/{rule.exclude_list}" if rule.exclude_list else "")
                )
                raise FileNotFoundError(
                    f"no numbered images with {which} under {root} for split {split!r} of protocol {protocol!r}; "
                    f"expected {IMAGE_PROTOCOLS[protocol].source}"
                )
        if size is not None:
            files = files[:size]
        if protocol is not None and IMAGE_PROTOCOLS[protocol].class_folders:
            classes = _protocol_classes(path, IMAGE_PROTOCOLS[protocol])
        dataset = ImageFolder(
            root, resolution, random_crop, files=files or None, on_error=on_error, seed=seed, classes=classes
        )
        dataset.held_out = held_out
        names = path / "LOC_synset_mapping.txt"  # ImageNet: "n01440764 tench, Tinca tinca" per line
        if dataset.class_names is not None and names.is_file():
            mapping = dict(line.split(" ", 1) for line in names.read_text().splitlines() if " " in line)
            dataset.class_names = [mapping.get(c, c).strip() for c in dataset.class_names]
        return dataset
    if path.is_file():
        raise ValueError(f"{path} is a file; pass a folder of images, a saved dataset or a Hub dataset id")
    if not path.exists() and (str(source).startswith((".", "/", "~")) or str(source).count("/") > 1):
        raise FileNotFoundError(f"image source {source} does not exist")
    hf_split = rule.hf_split if rule is not None and rule.hf_split else split
    where = str(path if path.is_dir() else source)
    if streaming:
        return _streamed(where, hf_split, hub, train, resolution, random_crop, (image_column, label_column),
                         on_error, seed, (rank, world, buffer_size, passes), size)  # fmt: skip
    loaded = _load_hub_dataset(where, hf_split, hub)
    if size is not None:
        loaded = loaded.select(range(min(size, len(loaded))))
    return HFImageDataset(loaded, resolution, random_crop, image_column, on_error, seed, str(source), label_column)
