"""What a folder or Hub repository holds, and reading its files: one answer for every package.

ginr writes two kinds of artifact:

* an **INR** (``GeneralizableINR.save_pretrained``): ``config.json`` naming the model class in
  ``_class_name``, ``model.safetensors``, a model card;
* a **pipeline** (``ginr_diffusion.LatentINRPipeline.save_pretrained``, a diffusers pipeline):
  ``model_index.json`` at the top, one folder per component; its ``inr/`` folder is itself an INR.

``inspect_artifact`` tells them apart for a local folder or a repo id (online, or from the Hub
cache with ``HF_HUB_OFFLINE=1``); the model loader, the pipeline loader and ``apps/publish.py`` all
ask it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

__all__ = [
    "CONFIG_FILE",
    "PIPELINE_INDEX",
    "WEIGHTS_FILE",
    "Artifact",
    "check_source",
    "inspect_artifact",
    "not_cached_message",
    "read_json",
    "resolve_file",
]

CONFIG_FILE = constants.CONFIG_NAME  # "config.json"
WEIGHTS_FILE = constants.SAFETENSORS_SINGLE_FILE  # "model.safetensors"
PIPELINE_INDEX = "model_index.json"


@dataclass(frozen=True)
class Artifact:
    """``kind`` is ``"inr"`` or ``"pipeline"``; ``class_name`` the class its index file names."""

    kind: str
    class_name: str | None
    source: str


def read_json(path: str | Path, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object from ``path``, or a ``ValueError`` naming the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the {what} ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the {what} must be a JSON object, got {type(data).__name__}")
    return data


def check_source(model_id: str | os.PathLike) -> None:
    """Raise ``FileNotFoundError`` if ``model_id`` is neither a folder nor a possible Hub repo id
    (a mistyped local path is named as such, not as a malformed repo id)."""
    source = os.fspath(model_id)
    if os.path.isdir(source):
        return
    if os.path.exists(source):
        raise NotADirectoryError(f"{source} is a file; expected a model folder (config.json + weights) or a repo id")
    try:
        validate_repo_id(source)
    except HFValidationError:
        raise FileNotFoundError(
            f"{source}: no such folder (and not a Hub repo id, which reads <user or organisation>/<name>)"
        ) from None


def not_cached_message(model_id: str) -> str:
    """Why a repo id could not be loaded without the network, and what to do."""
    if constants.HF_HUB_OFFLINE:
        return (
            f"{model_id} is neither a local folder nor in the local Hub cache ({constants.HF_HUB_CACHE}), and "
            "HF_HUB_OFFLINE is set: "
            "download it once with the network (unset HF_HUB_OFFLINE), or pass a local folder"
        )
    return (
        f"{model_id} is not a local folder, could not be downloaded from {constants.ENDPOINT} and is not in the "
        "local Hub cache "
        f"({constants.HF_HUB_CACHE}): check the repo id and the network (or pass a local folder)"
    )


def resolve_file(
    model_id: str | os.PathLike,
    filename: str,
    *,
    subfolder: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    quiet: bool = False,
) -> Path | None:
    """The local path of ``filename`` (in ``subfolder``) of a folder or a Hub repository (downloaded or from the
    cache).

    None when a local folder does not hold it; for a repo id, huggingface_hub's error (not found,
    offline and not cached, ...) unless ``quiet``, which returns None instead."""
    model_id = os.fspath(model_id)
    if os.path.isdir(model_id):
        path = Path(model_id, subfolder or "", filename)
        return path if path.is_file() else None
    try:
        return Path(
            hf_hub_download(
                repo_id=model_id,
                filename=filename,
                subfolder=subfolder or None,
                revision=revision,
                cache_dir=cache_dir,
                token=token,
                local_files_only=local_files_only,
                force_download=force_download,
            )
        )
    except Exception:
        if quiet:
            return None
        raise


def inspect_artifact(model_id: str | os.PathLike, **download) -> Artifact | None:
    """What ``model_id`` (a folder or repo id) holds: a pipeline, an INR, or None (neither, or unreachable).

    ``download`` takes ``subfolder``, ``revision``, ``cache_dir``, ``token`` and ``local_files_only``.
    """
    source = os.fspath(model_id)
    for kind, filename in (("pipeline", PIPELINE_INDEX), ("inr", CONFIG_FILE)):
        path = resolve_file(source, filename, quiet=True, **download)
        if path is not None:
            return Artifact(kind, read_json(path, filename).get("_class_name"), source)
    return None
