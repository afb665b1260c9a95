"""A latent cache larger than memory: safetensors shards, memory-mapped when read.

A cache is a folder::

    manifest.json            written last: the cache is complete (count, shapes, dtype, classes, key)
    shard-00000.safetensors  "latents" (n, R, D) in the storage dtype, "labels" (n,) int64 when labeled,
    shard-00001.safetensors  "count", "mean", "m2": the shard's statistics (float64, of the float32 latents)
    ...

Shard ``s`` holds items ``[s * shard_size, (s + 1) * shard_size)`` of the dataset, so any process can
write any shard: the apps give shard ``s`` to rank ``s % world`` and every rank encodes its own
shards in parallel. A shard is written atomically when it is whole; an encoding that stops halfway
keeps its finished shards and ``missing_shards`` names the ones left, so a restart resumes there and
ends with the same cache. ``LatentCache`` opens the shards with ``numpy.memmap``: reading a batch
touches only its rows (no read-ahead), and the pages are released from the process after each read
(they stay in the operating system's page cache), so a process never holds the cache in memory
(ImageNet's 1.28 M x 256 x 256 latents are ~336 GB in float32, half in float16 or bfloat16). The
statistics of the whole set are merged from the shards' own, with no second pass over the data.

A stream (a ``datasets.IterableDataset``: no length, no random access) is encoded in one ordered pass by
each process over its own share of the stream, into shards of its own (``stream-r{rank}-{i}``, each
``shard_size`` items but the last, recording in its metadata the stream position after its last item).
A stopped encoding resumes after each process's last whole shard (the stream read again to there, not
decoded); a process that reached the end of its share leaves ``stream-r{rank}-done.json``. The manifest
then lists the shards and their counts in rank order (``files``), and ``LatentCache`` reads both layouts.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

from .statistics import LatentStatistics

__all__ = [
    "STORAGE_DTYPES",
    "LatentCache",
    "LatentCacheError",
    "missing_shards",
    "stream_progress",
    "stream_shard_name",
    "write_manifest",
    "write_shard",
    "write_stream_done",
    "write_stream_manifest",
]

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# safetensors dtype -> (numpy dtype of the memory map, torch dtype to view it as)
_SAFETENSORS_DTYPES = {
    "F32": (np.float32, None),
    "F16": (np.float16, None),
    "BF16": (np.uint16, torch.bfloat16),
    "F64": (np.float64, None),
    "I64": (np.int64, None),
}
MANIFEST = "manifest.json"


class LatentCacheError(ValueError):
    """A cache folder that is incomplete, damaged or of another shape; the message names the file."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def stream_shard_name(rank: int, index: int) -> str:
    return f"stream-r{rank:03d}-{index:05d}.safetensors"


def num_shards(count: int, shard_size: int) -> int:
    return max(1, math.ceil(count / shard_size))


def shard_range(index: int, count: int, shard_size: int) -> range:
    """The dataset items of shard ``index``."""
    return range(index * shard_size, min(count, (index + 1) * shard_size))


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_shard(
    folder: str | os.PathLike,
    index: int,
    latents: torch.Tensor,
    labels: torch.Tensor | None = None,
    dtype: str = "float32",
    name: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write shard ``index`` (or the file ``name``) atomically: ``(n, R, D)`` latents in ``dtype``, labels,
    their statistics and string ``metadata``."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    if latents.dim() != 3:
        raise ValueError(f"latents must be (n, R, D), got {tuple(latents.shape)}")
    if labels is not None and labels.shape != latents.shape[:1]:
        raise ValueError(f"{labels.shape[0]} labels for {latents.shape[0]} latents")
    stats = LatentStatistics().update(latents.float())
    tensors = {
        "latents": latents.to(STORAGE_DTYPES[dtype]).contiguous(),
        "count": torch.tensor([latents.shape[0]], dtype=torch.int64),
        "mean": stats.mean,
        "m2": stats.m2,
    }
    if labels is not None:
        tensors["labels"] = labels.to(torch.int64).contiguous()
    path = Path(folder) / (name or shard_name(index))
    _write_atomically(path, save(tensors, metadata=metadata))
    return path


def _header(path: Path) -> tuple[dict, int]:
    """The safetensors header of a file and the offset of its data."""
    try:
        with open(path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(file.read(length))
    except (OSError, ValueError, struct.error) as err:
        raise LatentCacheError(f"{path}: not a readable safetensors shard ({type(err).__name__}: {err})") from None
    return header, 8 + length


def _shard_complete(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        header, offset = _header(path)
    except LatentCacheError:
        return False
    end = max((entry["data_offsets"][1] for k, entry in header.items() if k != "__metadata__"), default=0)
    return "latents" in header and path.stat().st_size == offset + end


def missing_shards(folder: str | os.PathLike, count: int, shard_size: int) -> list[int]:
    """The shards of a ``count``-item cache still to write (an interrupted encoding resumes with these)."""
    folder = Path(folder)
    return [s for s in range(num_shards(count, shard_size)) if not _shard_complete(folder / shard_name(s))]


def write_manifest(folder: str | os.PathLike, count: int, shard_size: int, **info) -> Path:
    """Check that every shard is whole and holds its items, then mark the cache complete."""
    folder = Path(folder)
    missing = missing_shards(folder, count, shard_size)
    if missing:
        raise LatentCacheError(f"{folder}: shards {missing[:10]} are missing or incomplete")
    for s in range(num_shards(count, shard_size)):
        rows = _rows(folder / shard_name(s))
        expected = len(shard_range(s, count, shard_size))
        if rows != expected:
            raise LatentCacheError(f"{folder / shard_name(s)}: {rows} latents, expected {expected}")
    manifest = {"count": count, "shard_size": shard_size, "shards": num_shards(count, shard_size), **info}
    path = folder / MANIFEST
    _write_atomically(path, json.dumps(manifest, indent=2).encode())
    return path


def _rows(path: Path) -> int:
    return int(_header(path)[0]["latents"]["shape"][0])


def stream_progress(folder: str | os.PathLike, rank: int) -> tuple[int, int, bool]:
    """Where process ``rank``'s encoding of a stream stands: ``(whole shards written, stream position after
    them, whether its share is done)``."""
    folder = Path(folder)
    written, position = 0, 0
    while _shard_complete(folder / stream_shard_name(rank, written)):
        metadata = _header(folder / stream_shard_name(rank, written))[0].get("__metadata__") or {}
        position = int(metadata.get("next_position", position))
        written += 1
    return written, position, (folder / f"stream-r{rank:03d}-done.json").is_file()


def write_stream_done(folder: str | os.PathLike, rank: int, shards: int) -> None:
    """Mark process ``rank``'s share of a stream encoded: ``shards`` whole shards."""
    _write_atomically(Path(folder) / f"stream-r{rank:03d}-done.json", json.dumps({"shards": shards}).encode())


def write_stream_manifest(folder: str | os.PathLike, world: int, shard_size: int, **info) -> Path:
    """Check that every one of the ``world`` processes finished its share of the stream, then list their
    shards (rank order) and mark the cache complete."""
    folder = Path(folder)
    files = []
    for rank in range(world):
        done = folder / f"stream-r{rank:03d}-done.json"
        if not done.is_file():
            raise LatentCacheError(f"{done}: missing; process {rank} did not finish its share of the stream")
        shards = int(json.loads(done.read_text())["shards"])
        for i in range(shards):
            path = folder / stream_shard_name(rank, i)
            if not _shard_complete(path):
                raise LatentCacheError(f"{path}: missing or incomplete")
            files.append([path.name, _rows(path)])
    count = sum(rows for _, rows in files)
    if count == 0:
        raise LatentCacheError(f"{folder}: the stream gave no images to encode")
    labeled = {"labels" in _header(folder / name)[0] for name, _ in files}
    if len(labeled) > 1:
        raise LatentCacheError(f"{folder}: some shards of the stream hold labels and others none")
    if labeled == {False}:
        info["class_names"] = None  # a stream whose rows carry no labels (imagefolder's split folders)
    elif not info.get("class_names"):
        raise LatentCacheError(f"{folder}: the shards hold labels but no class names were given")
    manifest = {"count": count, "shard_size": shard_size, "shards": len(files), "files": files, **info}
    path = folder / MANIFEST
    _write_atomically(path, json.dumps(manifest, indent=2).encode())
    return path


class _Shard:
    """The arrays of one shard file, memory-mapped (nothing is read until indexed)."""

    def __init__(self, path: Path):
        header, offset = _header(path)
        self.path, self.arrays = path, {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            if entry["dtype"] not in _SAFETENSORS_DTYPES:
                raise LatentCacheError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
            numpy_dtype, torch_view = _SAFETENSORS_DTYPES[entry["dtype"]]
            begin, end = entry["data_offsets"]
            shape = tuple(entry["shape"])
            if end - begin != int(np.prod(shape, dtype=np.int64)) * np.dtype(numpy_dtype).itemsize:
                raise LatentCacheError(f"{path}: tensor {name!r} has {end - begin} bytes for shape {shape}")
            if end > begin:
                array = np.memmap(path, dtype=numpy_dtype, mode="r", offset=offset + begin, shape=shape)
                if hasattr(array, "_mmap") and hasattr(mmap, "MADV_RANDOM"):
                    array._mmap.madvise(mmap.MADV_RANDOM)  # batches are random rows: no read-ahead
            else:
                array = np.zeros(shape, dtype=numpy_dtype)
            self.arrays[name] = (array, torch_view)

    def take(self, name: str, rows: np.ndarray) -> torch.Tensor:
        array, view = self.arrays[name]
        tensor = torch.from_numpy(np.array(array[rows]))  # a copy: the mapping is not held
        if hasattr(array, "_mmap") and hasattr(mmap, "MADV_DONTNEED"):
            # the pages leave this process (they stay in the page cache): its memory does not grow with reads
            array._mmap.madvise(mmap.MADV_DONTNEED)
        return tensor.view(view) if view is not None else tensor

    def whole(self, name: str) -> torch.Tensor:
        return self.take(name, np.arange(self.arrays[name][0].shape[0]))


class LatentCache:
    """A complete cache folder, read lazily: ``cache[indices]`` -> ``(latents float32, labels or None)``.

    Attributes:
        count, shape: number of items and the ``(R, D)`` of one latent set.
        class_names: the name of each class id (``None``: unlabeled).
        info: the manifest (storage dtype, the key it was built for, ...).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise LatentCacheError(f"{self.folder}: no {MANIFEST}; the cache is incomplete (encode it again to resume)")
        try:
            self.info = json.loads(manifest.read_text())
            self.count, self.shard_size = int(self.info["count"]), int(self.info["shard_size"])
            if "files" in self.info:  # a stream's shards, listed with their counts
                names = [str(name) for name, _ in self.info["files"]]
                rows = [int(n) for _, n in self.info["files"]]
            else:
                names = [shard_name(s) for s in range(num_shards(self.count, self.shard_size))]
                rows = [len(shard_range(s, self.count, self.shard_size)) for s in range(len(names))]
        except (ValueError, KeyError, TypeError) as err:
            raise LatentCacheError(f"{manifest}: damaged manifest ({type(err).__name__}: {err})") from None
        if any(Path(name).name != name for name in names) or sum(rows) != self.count:
            raise LatentCacheError(f"{manifest}: damaged manifest (its shard list does not add up to its count)")
        self.shards = [_Shard(self.folder / name) for name in names]
        for shard, n in zip(self.shards, rows):
            if shard.arrays["latents"][0].shape[0] != n:
                raise LatentCacheError(f"{shard.path}: {shard.arrays['latents'][0].shape[0]} latents, expected {n}")
        self.offsets = np.cumsum([0, *rows])  # shard s holds items offsets[s] .. offsets[s + 1] - 1
        self.shape = tuple(self.shards[0].arrays["latents"][0].shape[1:])
        self.labeled = "labels" in self.shards[0].arrays
        self.class_names = self.info.get("class_names")

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, indices) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1).numpy()
        if index.size and (index.min() < 0 or index.max() >= self.count):
            raise IndexError(f"latent cache of {self.count} items indexed with {index.min()}..{index.max()}")
        latents = torch.empty((index.size, *self.shape), dtype=torch.float32)
        labels = torch.empty(index.size, dtype=torch.long) if self.labeled else None
        shard_of = np.searchsorted(self.offsets, index, side="right") - 1
        for s in np.unique(shard_of):
            where = np.flatnonzero(shard_of == s)
            rows = index[where] - self.offsets[s]
            latents[where] = self.shards[s].take("latents", rows).float()
            if labels is not None:
                labels[where] = self.shards[s].take("labels", rows)
        return latents, labels

    def labels(self) -> torch.Tensor | None:
        """Every item's label ``(count,)`` (small: 8 bytes an item), or None."""
        if not self.labeled:
            return None
        return torch.cat([shard.whole("labels") for shard in self.shards])

    def statistics(self) -> LatentStatistics:
        """The per-token, per-channel mean and variance of the whole set, merged from the shards'."""
        stats = LatentStatistics()
        for shard in self.shards:
            stats.merge_moments(int(shard.whole("count")[0]), shard.whole("mean"), shard.whole("m2"))
        return stats

    def __repr__(self) -> str:
        return f"LatentCache({str(self.folder)!r}, {self.count} x {self.shape}, {self.info.get('dtype', 'float32')})"
