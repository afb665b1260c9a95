"""Multi-view objects for few-shot novel view synthesis (Sec. 4.2), in the learnit ShapeNet layout.

Layout (NOTES.md; the embedded default scenes are written the same way)::

    <root>/<category>/<object id>/transforms.json     camera_angle_x, frames: [{file_path, transform_matrix}]
    <root>/<category>/<object id>/<file_path>.png     RGBA, composited on white
    <root>/<singular category>_splits.json            {"train": [ids], "test": [ids]}  (cars -> car_splits.json)

Each item is one object seen from ``num_support`` support views plus one query view::

    {"support": (V, 9, H, W)  RGB in [0, 1] then the 6 channels of each pixel's ray,
     "query_rays": (N, 6), "query_rgb": (N, 3),
     "support_poses": (V, 4, 4), "query_pose": (4, 4), "focal": float,
     "object": id, "views": (V + 1,) frame indices (query last), "index": i, "skipped": k}

Training (``train=True``) draws the support and query views from the first ``train_views`` (25)
frames of an object, afresh for every (seed, epoch, item), and ``query_rays`` random pixels of the
query view. Evaluation draws from all frames, each object ``repeats`` times (100 in the paper) with
a fixed seed, and returns every pixel of the query view in row-major order. The support views come
in random order, so the first v of them are a random v-subset: a model trained on 1..V views is
evaluated on v views by slicing ``support[:, :v]``.

Rays come in the format the model takes (``ray_format``, ``ginr_core.RAY_FORMATS``): Plücker
coordinates for light-field models (the default), or the camera centre and unnormalised direction
for the NeRF-style baselines (``ginr_core.ray_format_of(model)`` says which).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ginr_core import RAY_FORMATS, focal_from_fov, posed_rays

from .images import ImageLoadError, load_rgb, to_tensor
from .protocols import DatasetUnavailableError

__all__ = ["LightFieldDataset", "LightFieldError", "light_field_dataset", "posed_views", "read_transforms"]

MAX_CONSECUTIVE_SKIPS = 100
TRAIN_VIEWS = 25  # the learnit protocol: training draws from an object's first 25 views
LEARNIT_URL = "https://github.com/tancik/learnit"


VIEW_CACHE_BYTES = 256 * 2**20  # decoded views kept in memory per process: the embedded scenes whole, at 32 px


class LightFieldError(ValueError):
    """A light-field dataset that cannot be used as it is; the message names the file and what was expected."""


def _rigid(matrix: np.ndarray, tol: float = 1e-3) -> str | None:
    """Why ``matrix`` is not a rigid camera-to-world transform, or None if it is."""
    if matrix.shape != (4, 4):
        return f"is {matrix.shape[0]}x{matrix.shape[1] if matrix.ndim > 1 else ''}, expected 4x4"
    if not np.isfinite(matrix).all():
        return "has non-finite entries"
    if not np.allclose(matrix[3], [0, 0, 0, 1], atol=tol):
        return f"has last row {matrix[3].tolist()}, expected [0, 0, 0, 1]"
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=tol) or np.linalg.det(rotation) < 0:
        return "has a rotation part that is not orthonormal with determinant +1 (scaled, sheared or mirrored)"
    return None


def read_transforms(path: str | os.PathLike) -> dict:
    """An object's ``transforms.json``, checked: ``{meta, id, camera_angle_x, frames (png paths), poses (F, 4, 4)}``."""
    path = Path(path)
    if not path.is_file():
        raise LightFieldError(f"{path} not found: expected a transforms.json with camera_angle_x and frames")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LightFieldError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise LightFieldError(f"{path}: expected a JSON object (camera_angle_x, frames), got {type(meta).__name__}")
    for key in ("camera_angle_x", "frames"):
        if key not in meta:
            raise LightFieldError(f"{path}: missing field {key!r} (expected camera_angle_x and frames)")
    angle = meta["camera_angle_x"]
    if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not 0 < angle < np.pi:
        raise LightFieldError(
            f"{path}: camera_angle_x must be the horizontal field of view in radians, in (0, pi), got {angle!r}"
        )
    if not isinstance(meta["frames"], list):
        raise LightFieldError(f"{path}: frames must be a list of frames, got {type(meta['frames']).__name__}")
    frames, poses = [], []
    for k, frame in enumerate(meta["frames"]):
        if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
            has = sorted(frame) if isinstance(frame, dict) else type(frame).__name__
            raise LightFieldError(f"{path}: frame {k} needs file_path and transform_matrix, has {has}")
        try:
            matrix = np.asarray(frame["transform_matrix"], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise LightFieldError(
                f"{path}: frame {k} transform_matrix is not a 4x4 matrix of numbers ({err})"
            ) from None
        problem = _rigid(matrix)
        if problem:
            raise LightFieldError(
                f"{path}: frame {k} transform_matrix {problem}; expected a rigid camera-to-world matrix"
            )
        name = frame["file_path"]
        if not isinstance(name, str) or not name:
            raise LightFieldError(f"{path}: frame {k} file_path must be a file name, got {name!r}")
        file = path.parent / (name if name.endswith(".png") else name + ".png")
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise LightFieldError(f"{path}: frame {k} file_path {name!r} leaves the object's folder")
        frames.append(file)
        poses.append(matrix)
    return {
        "meta": path,
        "id": path.parent.name,
        "camera_angle_x": float(angle),
        "frames": frames,
        "poses": torch.tensor(np.stack(poses), dtype=torch.float32) if poses else torch.empty(0, 4, 4),
    }


def _object_ids(splits_path: Path, splits: dict, split: str) -> list[str]:
    """The object ids of ``split``, checked: a list of distinct folder names."""
    ids = splits[split]
    if not isinstance(ids, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids):
        raise LightFieldError(f"{splits_path}: split {split!r} must be a list of object ids (folder names)")
    ids = [str(i) for i in ids]
    bad = [i for i in ids if not i or i in (".", "..") or "/" in i or "\\" in i]
    if bad:
        raise LightFieldError(f"{splits_path}: split {split!r} has ids that are not folder names: {bad[:5]}")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise LightFieldError(f"{splits_path}: split {split!r} lists objects more than once: {repeated[:5]}")
    return ids


def _splits_file(root: Path, category: str) -> Path:
    singular = category[:-1] if category.endswith("s") else category
    return root / f"{singular}_splits.json"


class LightFieldDataset(Dataset):
    """Objects of one category and split of a learnit-layout dataset (see the module docstring).

    Args:
        root: the folder holding ``<category>/`` and ``<singular>_splits.json``.
        category: ``"cars"``, ``"chairs"``, ``"lamps"``, or ``"shapes"`` (the embedded scenes).
        split: ``"train"`` or ``"test"`` (a key of the splits file).
        num_support: support views per item (V; at most 5 in the paper).
        train: the training protocol (first ``train_views`` frames, random query pixels, fresh
            draws per epoch); default: ``split == "train"``.
        query_rays: pixels of the query view per training item (None: all of them).
        adaptive_epochs: in the first ``adaptive_epochs`` epochs (0-indexed: 2 covers epochs 0 and 1,
            the official ``epoch <= 1``), half of the ``query_rays`` are drawn from the query view's
            foreground (pixels with a channel below 1: not the white background) and the rest
            uniformly, as the official "adaptive_random" sampling; a foreground smaller than half
            is taken whole and topped up with random repeats of its pixels, as there; a view with
            no foreground is drawn uniformly. Later epochs draw uniformly.
        repeats: items per object (evaluation: 100 in the paper); default 1 for training, 100 else.
        resolution: resize views to this size (focal scaled to match); default: as stored.
        seed: draws depend on (seed, epoch, item) only: reproducible and resumable.
        ray_format: ``"plucker"`` or ``"origin_direction"``: the six numbers of each ray (the ray
            channels of the support views and ``query_rays``), as the model takes them.
        on_error: ``"skip"`` an object whose views cannot be read (warn and count in
            ``"skipped"``) or ``"raise"``.
        max_objects: use only the first objects of the split (quick runs).
        cache_bytes: keep decoded views in memory, as 8-bit pixels, up to this many bytes per process
            (each loader worker has its own): a view is read from its file once, then the first views
            read until the budget is spent are served from memory. 0: read every view from its file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        category: str,
        split: str = "train",
        *,
        num_support: int = 1,
        train: bool | None = None,
        query_rays: int | None = None,
        adaptive_epochs: int = 0,
        repeats: int | None = None,
        resolution: int | None = None,
        train_views: int = TRAIN_VIEWS,
        seed: int = 0,
        ray_format: str = "plucker",
        on_error: str = "skip",
        max_objects: int | None = None,
        cache_bytes: int = VIEW_CACHE_BYTES,
    ):
        root = Path(root)
        if ray_format not in RAY_FORMATS:
            raise ValueError(f"ray_format must be one of {RAY_FORMATS}, got {ray_format!r}")
        self.ray_format = ray_format
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        if int(num_support) != num_support or num_support < 1:
            raise ValueError(f"num_support must be a positive integer, got {num_support!r}")
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
        self.cache_bytes, self._cached, self._cached_bytes = int(cache_bytes), {}, 0
        self.root, self.category, self.split = root, category, split
        self.train = split == "train" if train is None else bool(train)
        self.num_support, self.query_rays, self.seed, self.on_error = int(num_support), query_rays, seed, on_error
        self.repeats = (1 if self.train else 100) if repeats is None else int(repeats)
        self.adaptive_epochs = int(adaptive_epochs)
        self.train_views, self.epoch = train_views, 0
        splits_path = _splits_file(root, category)
        if not splits_path.is_file():
            raise LightFieldError(
                f"{splits_path} not found: a learnit-layout dataset needs <root>/{category}/<object id>/ folders "
                f"and {splits_path.name} (get ShapeNet renderings from {LEARNIT_URL})"
            )
        try:
            splits = json.loads(splits_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise LightFieldError(f"{splits_path}: not valid JSON ({err})") from None
        if not isinstance(splits, dict) or split not in splits:
            keys = list(splits) if isinstance(splits, dict) else []
            raise LightFieldError(f"{splits_path}: no split {split!r}; it has {keys}")
        ids = _object_ids(splits_path, splits, split)[:max_objects]

        self.objects: list[dict] = []
        empty = []
        for object_id in ids:
            folder = root / category / object_id
            meta_path = folder / "transforms.json"
            if not meta_path.is_file():
                if not folder.is_dir() or not any(folder.iterdir()):
                    empty.append(object_id)  # the public learnit cars have empty folders: skip them
                    continue
                raise LightFieldError(f"{meta_path} is missing (the folder holds files but no transforms.json)")
            self.objects.append(read_transforms(meta_path))
        if empty:
            warnings.warn(
                f"{category}/{split}: skipped {len(empty)} empty or missing object folder(s), e.g. "
                f"{root / category / empty[0]}",
                stacklevel=2,
            )
        if not self.objects:
            raise LightFieldError(f"{root / category}: no usable objects in split {split!r}")
        needed = self.num_support + 1
        for obj in self.objects:
            available = min(len(obj["frames"]), self.train_views) if self.train else len(obj["frames"])
            if available < needed:
                where = f"the first {self.train_views} frames" if self.train else "its frames"
                raise LightFieldError(
                    f"{obj['meta']}: {needed} views are needed ({self.num_support} support + 1 query) but {where} "
                    f"offer {available}"
                )
        self.stored = self._frame_size(self.objects[0], 0)
        self.resolution = self.stored[0] if resolution is None else int(resolution)
        if self.stored[0] != self.stored[1]:
            raise LightFieldError(
                f"{self.objects[0]['frames'][0]}: views are {self.stored[0]}x{self.stored[1]} pixels; square views are "
                "needed (the focal length comes from camera_angle_x and the width, and views would be stretched)"
            )

    def _frame_size(self, obj: dict, k: int) -> tuple[int, int]:
        path = obj["frames"][k]
        try:
            with Image.open(path) as image:
                return image.size
        except OSError as err:
            raise ImageLoadError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None

    # ------------------------------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.objects) * self.repeats

    def set_epoch(self, epoch: int) -> None:
        """Training draws depend on (seed, epoch, item): reproducible and resumable."""
        self.epoch = int(epoch)

    def __repr__(self) -> str:
        return (
            f"LightFieldDataset({self.root / self.category}, split={self.split!r}, {len(self.objects)} objects x "
            f"{self.repeats}, {self.num_support} support views, {self.resolution} px)"
        )

    def focal(self, obj: dict) -> float:
        return focal_from_fov(obj["camera_angle_x"], self.resolution)

    def load_view(self, obj: dict, k: int) -> torch.Tensor:
        """Frame ``k`` of an object as ``(3, r, r)`` in [0, 1], composited on white; checks its size."""
        path = obj["frames"][k]
        pixels = self._cached.get(path)
        if pixels is None:
            image = load_rgb(path)  # raises ImageLoadError naming a missing or corrupt file
            if image.size != self.stored:
                raise ImageLoadError(
                    f"{path}: is {image.size[0]}x{image.size[1]}, expected {self.stored[0]}x{self.stored[1]} "
                    f"like the other views"
                )
            if image.size != (self.resolution, self.resolution):
                image = image.resize((self.resolution, self.resolution), Image.Resampling.BILINEAR)
            pixels = np.asarray(image)
            if self._cached_bytes + pixels.nbytes <= self.cache_bytes:
                self._cached[path] = pixels
                self._cached_bytes += pixels.nbytes
        return to_tensor(pixels)

    def _views(self, index: int) -> tuple[dict, np.ndarray, np.random.Generator]:
        obj = self.objects[index // self.repeats]
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            pool = min(len(obj["frames"]), self.train_views)
        else:
            rng = np.random.default_rng([self.seed, index, 7919])
            pool = len(obj["frames"])
        return obj, rng.choice(pool, size=self.num_support + 1, replace=False), rng

    def _item(self, index: int) -> dict:
        obj, views, rng = self._views(index)
        r = self.resolution
        focal = self.focal(obj)
        poses = obj["poses"][views]
        rgb = torch.stack([self.load_view(obj, int(k)) for k in views])  # (V + 1, 3, r, r)
        rays = posed_rays(poses, focal, r, r, self.ray_format)  # (V + 1, r, r, 6)
        support = torch.cat([rgb[:-1], rays[:-1].permute(0, 3, 1, 2)], dim=1)  # (V, 9, r, r)
        query_rays, query_rgb = rays[-1].reshape(-1, 6), rgb[-1].permute(1, 2, 0).reshape(-1, 3)
        if self.train and self.query_rays is not None and self.query_rays < r * r:
            pick = torch.from_numpy(self._pick_rays(query_rgb, rng))
            query_rays, query_rgb = query_rays[pick], query_rgb[pick]
        return {
            "support": support,
            "query_rays": query_rays,
            "query_rgb": query_rgb,
            "support_poses": poses[:-1],
            "query_pose": poses[-1],
            "focal": focal,
            "object": obj["id"],
            "views": torch.from_numpy(views),
        }

    def _pick_rays(self, rgb: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
        """Indices of the ``query_rays`` pixels a training item supervises (see ``adaptive_epochs``)."""
        count, n = self.query_rays, rgb.shape[0]
        foreground = np.flatnonzero((rgb < 1.0).any(dim=-1).numpy()) if self.epoch < self.adaptive_epochs else []
        if not len(foreground):  # later epochs, or a blank view (the official sampler has no rule for one)
            return rng.choice(n, size=count, replace=False)
        half = count // 2
        if len(foreground) >= half:
            chosen = rng.choice(foreground, size=half, replace=False)
        else:  # a small object: all of its pixels, topped up with random repeats of them (as the official code)
            chosen = np.concatenate([foreground, rng.choice(foreground, size=half - len(foreground))])
        return np.concatenate([chosen, rng.choice(n, size=count - half, replace=False)])

    def __getitem__(self, index: int) -> dict:
        size = len(self)
        step = self.repeats  # skipping moves to the next object, not the next repeat of the same one
        for skipped in range(min(len(self.objects), MAX_CONSECUTIVE_SKIPS)):
            current = (index + skipped * step) % size
            try:
                item = self._item(current)
            except ImageLoadError as err:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping an object with an unreadable view: {err}", stacklevel=2)
                continue
            return {**item, "index": index, "skipped": skipped}
        tried = min(len(self.objects), MAX_CONSECUTIVE_SKIPS)
        which = f"all {tried}" if tried == len(self.objects) else f"{tried} consecutive"
        raise ImageLoadError(
            f"{which} objects have unreadable views, from item {index} on ({self.root / self.category}): the dataset "
            "looks broken, not just one file"
        )

    def skipped_sources(self, index: int, skipped: int) -> list[str]:
        """The objects that item ``index`` skipped (its ``"skipped"`` count), as object ids."""
        size = len(self)
        return [self.objects[((index + j * self.repeats) % size) // self.repeats]["id"] for j in range(skipped)]


def light_field_dataset(
    source: str | os.PathLike = "scenes",
    split: str = "train",
    *,
    category: str | None = None,
    resolution: int | None = None,
    **kwargs,
) -> LightFieldDataset:
    """A ``LightFieldDataset`` from ``"scenes"`` (the embedded rendered objects) or a learnit root folder.

    ``"scenes"`` renders the default objects into the cache on first use (``ginr_data.scenes``),
    at ``resolution`` (default 32 px); its category is ``"shapes"``. A folder needs ``category``.
    """
    if str(source) == "scenes":
        from .scenes import CATEGORY, default_scenes

        if category not in (None, CATEGORY):
            raise LightFieldError(f"the embedded scenes have one category, {CATEGORY!r}, not {category!r}")
        return LightFieldDataset(default_scenes(resolution or 32), CATEGORY, split, **kwargs)
    root = Path(source)
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"light-field data {str(source)!r} is not a folder: download the learnit ShapeNet renderings "
            f"({LEARNIT_URL}) and point source at the folder holding cars/, chairs/, lamps/ and the *_splits.json "
            f"files, or use source='scenes' for the embedded objects"
        )
    if category is None:
        found = sorted(p.name.removesuffix("_splits.json") for p in root.glob("*_splits.json"))
        raise LightFieldError(f"{root}: name a category (data.category); split files found for {found}")
    return LightFieldDataset(root, category, split, resolution=resolution, **kwargs)


def posed_views(
    transforms: str | os.PathLike,
    frames: list[int] | None = None,
    resolution: int | None = None,
    ray_format: str = "plucker",
) -> dict:
    """Views of one object that a user has, as a model's support input.

    Args:
        transforms: a ``transforms.json`` (learnit / NeRF-synthetic layout) listing the images and
            their camera-to-world matrices.
        frames: which frames to use (default: all).
        resolution: resize the views to this size (the model's), focal scaled to match.
        ray_format: the ray channels' format, the model's ``ray_format``.

    Returns:
        ``{"support": (V, 9, r, r), "poses": (V, 4, 4), "focal": float}`` (focal in pixels at r).
    """
    obj = read_transforms(transforms)
    frames = list(range(len(obj["frames"]))) if frames is None else list(frames)
    for k in frames:
        if not 0 <= k < len(obj["frames"]):
            raise LightFieldError(f"{obj['meta']}: frame {k} does not exist (it lists {len(obj['frames'])} frames)")
    images = [load_rgb(obj["frames"][k]) for k in frames]
    sizes = {image.size for image in images}
    if len(sizes) > 1 or images[0].size[0] != images[0].size[1]:
        raise LightFieldError(f"{obj['meta']}: the views must be square and of one size, got {sorted(sizes)}")
    r = resolution or images[0].size[0]
    rgb = torch.stack(
        [to_tensor(im.resize((r, r), Image.Resampling.BILINEAR) if im.size != (r, r) else im) for im in images]
    )
    focal = focal_from_fov(obj["camera_angle_x"], r)
    poses = obj["poses"][frames]
    rays = posed_rays(poses, focal, r, r, ray_format).permute(0, 3, 1, 2)
    return {"support": torch.cat([rgb, rays], 1), "poses": poses, "focal": focal}
