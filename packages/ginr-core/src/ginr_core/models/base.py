"""What every generalizable INR in ginr shares: the encoder, the encode/decode API, Hub I/O.

A model turns data into a set of latent tokens (``encode``) and evaluates a coordinate decoder
conditioned on those tokens at any coordinates (``decode``). Subclasses supply the decoder through
three hooks:

* ``_latents_from_tokens(tokens)``: encoder outputs ``(B, R, E)`` -> latents ``(B, R, D)``;
* ``_prepare(latents)``: per-instance work done once per ``decode`` call (keys and values of the
  cross-attention, modulated weights), whatever the number of coordinates;
* ``_decode(state, coords)``: ``(b, n, d_in)`` coordinates -> ``(B, n, d_out)`` outputs, where
  ``b`` is ``B`` or 1 (one coordinate set shared by the batch, e.g. a full grid: the coordinate-only
  parts of the decoder are then computed once for the whole batch).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError
from torch import nn

from ..coords import image_coords
from .encoder import LatentEncoder, symmetric_padding

__all__ = ["CheckpointMismatchError", "GeneralizableINR"]

PAPER_URL = "https://arxiv.org/abs/2310.05624"


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the class or configuration it is being loaded into."""


def _int_at_least(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        need = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {need}, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _image_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, Sequence) and len(value) == 2):
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {value!r}")
    return (_int_at_least("image_size[0]", value[0]), _int_at_least("image_size[1]", value[1]))


def _has_file(model_id: str, filename: str, revision, cache_dir, token, local_files_only: bool) -> bool:
    """Whether a local folder or Hub repository holds ``filename`` (False when that cannot be known)."""
    if os.path.isdir(model_id):
        return os.path.isfile(os.path.join(model_id, filename))
    try:
        hf_hub_download(
            repo_id=model_id,
            filename=filename,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=local_files_only,
        )
    except Exception:
        return False
    return True


def _pipeline_message(model_id: str, cls: type) -> str:
    return (
        f"{model_id} holds a diffusers pipeline (model_index.json), not a {cls.__name__} checkpoint: "
        "load it with ginr_diffusion.LatentINRPipeline.from_pretrained"
    )


class GeneralizableINR(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="ginr",
    paper_url=PAPER_URL,
    license="apache-2.0",
    tags=["ginr", "implicit-neural-representation"],
):
    """Base class of ``LocalityAwareINR``, ``IPC`` and ``TransINR``.

    ``GeneralizableINR.from_pretrained(path_or_repo_id)`` loads a checkpoint of any of them, picking
    the class that ``config.json`` names.
    """

    family: ClassVar[str] = ""

    # ------------------------------------------------------------------ construction
    def _build_encoder(
        self,
        *,
        image_size,
        patch_size,
        padding,
        in_channels,
        num_views,
        d_in,
        d_out,
        num_latents,
        encoder_width,
        encoder_depth,
        encoder_heads,
        encoder_mlp_ratio,
        dropout,
        output_bias,
    ) -> None:
        """Validate the shared arguments and build the shared ``LatentEncoder``."""
        name = type(self).__name__
        size = _image_size(image_size)
        patch_size = _int_at_least("patch_size", patch_size)
        if padding is None:
            pads = {symmetric_padding(side, patch_size) for side in size}
            if len(pads) > 1:
                raise ValueError(f"{name}: image_size={size} needs different padding per side; pass padding explicitly")
            padding = pads.pop()
        else:
            _int_at_least("padding", padding, minimum=0)
        positive = {
            "in_channels": in_channels,
            "num_views": num_views,
            "d_in": d_in,
            "d_out": d_out,
            "num_latents": num_latents,
            "encoder_width": encoder_width,
            "encoder_heads": encoder_heads,
        }
        for arg, value in positive.items():
            _int_at_least(arg, value)
        _int_at_least("encoder_depth", encoder_depth, minimum=0)
        _positive_float("encoder_mlp_ratio", encoder_mlp_ratio)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not (isinstance(output_bias, (int, float)) and math.isfinite(output_bias)):
            raise ValueError(f"output_bias must be a finite number, got {output_bias!r}")

        self.image_size, self.patch_size, self.padding = size, patch_size, padding
        self.in_channels, self.num_views = in_channels, num_views
        self.d_in, self.d_out, self.output_bias = d_in, d_out, float(output_bias)
        self.encoder = LatentEncoder(
            image_size=size,
            patch_size=patch_size,
            padding=padding,
            in_channels=in_channels,
            num_views=num_views,
            num_latents=num_latents,
            width=encoder_width,
            depth=encoder_depth,
            heads=encoder_heads,
            mlp_ratio=encoder_mlp_ratio,
            dropout=dropout,
        )

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """Build the model of a named paper configuration, e.g. ``LocalityAwareINR.from_preset("ffhq-256")``.

        Keyword arguments override single settings of the preset. See ``ginr_core.list_presets()``.
        """
        from ..presets import get_preset

        return cls(**{**get_preset(name, cls.family), **overrides})

    @property
    def config(self) -> dict[str, Any]:
        """The constructor's keyword arguments, as ``config.json`` holds them (tuples become lists)."""
        return json.loads(json.dumps(self._hub_mixin_config or {}))

    @property
    def num_latents(self) -> int:
        """R, the number of latent tokens per instance."""
        return self.encoder.num_latents

    @property
    def num_patches(self) -> int:
        """Data tokens per view."""
        return self.encoder.tokenizer.num_patches

    # ------------------------------------------------------------------ the API
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Data -> latent tokens.

        Args:
            x: ``(B, C, H, W)`` images or ``(B, V, C, H, W)`` views (``V <= num_views``), values as
                the model was trained on (pixels in [0, 1]; light fields add 6 ray channels).

        Returns:
            ``(B, R, D)`` latents.
        """
        return self._latents_from_tokens(self.encoder(self._check_views(x)))

    def decode(self, latents: torch.Tensor, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Evaluate the INR of each instance at coordinates.

        Args:
            latents: ``(B, R, D)`` from ``encode``.
            coords: ``(B, N, d_in)``, or ``(1, N, d_in)`` / ``(N, d_in)`` for one coordinate set
                shared by the whole batch (cheaper: coordinate-only features are computed once).
            chunk_size: decode at most this many coordinates at a time. Per-instance work (keys
                and values, modulated weights) is done once; the result equals unchunked decoding
                and peak memory grows with ``chunk_size`` instead of N. ``None`` decodes in one go.

        Returns:
            ``(B, N, d_out)``.
        """
        latents = self._check_latents(latents)
        coords = self._check_coords(coords, latents.shape[0])
        if chunk_size is not None:
            chunk_size = _int_at_least("chunk_size", chunk_size)
        state = self._prepare(latents)
        num = coords.shape[1]
        if chunk_size is None or chunk_size >= num:
            return self._decode(state, coords)
        return torch.cat([self._decode(state, coords[:, i : i + chunk_size]) for i in range(0, num, chunk_size)], dim=1)

    def forward(self, x: torch.Tensor, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``decode(encode(x), coords, chunk_size)``."""
        return self.decode(self.encode(x), coords, chunk_size=chunk_size)

    def render_image(
        self, latents: torch.Tensor, height: int, width: int | None = None, chunk_size: int | None = 65536
    ) -> torch.Tensor:
        """Decode a full ``height x width`` pixel grid: ``(B, d_out, H, W)``, at any resolution."""
        if self.d_in != 2:
            raise ValueError(f"render_image needs a pixel-coordinate model (d_in=2); this one has d_in={self.d_in}")
        width = height if width is None else width
        coords = image_coords(height, width, device=latents.device).view(1, -1, 2)
        out = self.decode(latents, coords, chunk_size=chunk_size)
        return out.transpose(1, 2).reshape(latents.shape[0], self.d_out, height, width)

    # ------------------------------------------------------------------ hooks
    def _latents_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _prepare(self, latents: torch.Tensor) -> Any:
        raise NotImplementedError

    def _decode(self, state: Any, coords: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def latent_dim(self) -> int:
        """D, the width of each latent token."""
        raise NotImplementedError

    # ------------------------------------------------------------------ input checks
    def _check_views(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}.encode expects a tensor, got {type(x).__name__}")
        if x.ndim == 4:
            x = x.unsqueeze(1)
        if x.ndim != 5:
            raise ValueError(
                f"{name}.encode expects (B, C, H, W) images or (B, V, C, H, W) views, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"{name}.encode expects floating-point input (pixels in [0, 1]), got dtype {x.dtype}")
        _, views, channels, height, width = x.shape
        if channels != self.in_channels:
            raise ValueError(
                f"{name} expects {self.in_channels} input channels, got {channels} (input shape {tuple(x.shape)})"
            )
        if (height, width) != self.image_size:
            raise ValueError(
                f"{name} was built for {self.image_size[0]}x{self.image_size[1]} inputs (image_size), "
                f"got {height}x{width}; resize the input (decoding works at any resolution, encoding at this one)"
            )
        if views > self.num_views:
            raise ValueError(f"{name} was built for at most {self.num_views} views (num_views), got {views}")
        return x

    def _check_latents(self, latents: torch.Tensor) -> torch.Tensor:
        expected = (self.num_latents, self.latent_dim)
        if not isinstance(latents, torch.Tensor) or latents.ndim != 3 or tuple(latents.shape[1:]) != expected:
            shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise ValueError(
                f"{type(self).__name__}.decode expects latents of shape (B, {expected[0]}, {expected[1]}), got {shape}"
            )
        return latents

    def _check_coords(self, coords: torch.Tensor, batch: int) -> torch.Tensor:
        name = type(self).__name__
        if not isinstance(coords, torch.Tensor) or not coords.is_floating_point():
            raise TypeError(f"{name}.decode expects floating-point coordinates")
        if coords.ndim == 2:
            coords = coords.unsqueeze(0)
        if coords.ndim != 3 or coords.shape[-1] != self.d_in or coords.shape[0] not in (1, batch):
            raise ValueError(
                f"{name}.decode expects coordinates of shape ({batch}, N, {self.d_in}), (1, N, {self.d_in}) or "
                f"(N, {self.d_in}); got {tuple(coords.shape)}"
            )
        return coords

    # ------------------------------------------------------------------ Hub I/O
    def save_pretrained(self, save_directory: str | Path, *, config: dict | None = None, **kwargs):
        """Save ``model.safetensors``, ``config.json`` (constructor arguments + ``_class_name``) and a model card."""
        config = {**(config if config is not None else self.config), "_class_name": type(self).__name__}
        from .. import __version__

        config["_ginr_version"] = __version__
        return super().save_pretrained(save_directory, config=config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs):
        """Load a model saved by ``save_pretrained``: a local folder or a Hub repo id (online, or with
        ``HF_HUB_OFFLINE=1`` from the Hub cache). See ``_from_pretrained`` for the checks."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except LocalEntryNotFoundError:
            # offline, no config.json cached: say so plainly if what is cached is a pipeline
            model_id = str(pretrained_model_name_or_path)
            if _has_file(model_id, "model_index.json", kwargs.get("revision"), kwargs.get("cache_dir"), None, True):
                raise CheckpointMismatchError(_pipeline_message(model_id, cls)) from None
            raise

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self, str(Path(save_directory) / constants.SAFETENSORS_SINGLE_FILE), metadata={"format": "pt"})

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict | None = None,
        map_location: str = "cpu",
        strict: bool = True,
        proxies: dict | None = None,
        resume_download: bool | None = None,
        **model_kwargs,
    ):
        """Build the model from ``config.json`` and load ``model.safetensors`` strictly.

        ``proxies`` and ``resume_download`` are passed by huggingface_hub < 1.0 and ignored.

        Raises ``CheckpointMismatchError`` when the checkpoint belongs to another model class, has
        settings this class does not know, or its tensors do not match the configuration.
        """
        if config is None:
            if _has_file(model_id, "model_index.json", revision, cache_dir, token, local_files_only):
                raise CheckpointMismatchError(_pipeline_message(model_id, cls))
            raise CheckpointMismatchError(f"{model_id}: no config.json found; it is not a ginr checkpoint")
        saved = config.get("_class_name")
        if cls is GeneralizableINR:  # any ginr model: the class named in config.json
            from . import MODEL_CLASSES

            classes = {c.__name__: c for c in MODEL_CLASSES.values()}
            if saved not in classes:
                raise CheckpointMismatchError(
                    f"{model_id}: config.json names no ginr model class (_class_name={saved!r}); "
                    f"known: {sorted(classes)}"
                )
            target = classes[saved]
            return target._from_pretrained(
                model_id=model_id,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                local_files_only=local_files_only,
                token=token,
                config=config,
                map_location=map_location,
                strict=strict,
                **{k: v for k, v in model_kwargs.items() if k in target._hub_mixin_init_parameters},
            )
        if saved is not None and saved != cls.__name__:
            raise CheckpointMismatchError(
                f"{model_id} holds a {saved} checkpoint; it cannot be loaded with {cls.__name__}.from_pretrained "
                f"(use ginr_core.{saved}.from_pretrained)"
            )
        unknown = sorted(k for k in config if not k.startswith("_") and k not in cls._hub_mixin_init_parameters)
        if unknown:
            raise CheckpointMismatchError(
                f"{model_id}: config.json has settings that {cls.__name__} does not take: {unknown}"
            )
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, constants.SAFETENSORS_SINGLE_FILE)
            if not os.path.isfile(weights):
                raise CheckpointMismatchError(f"{model_id}: no {constants.SAFETENSORS_SINGLE_FILE} next to config.json")
        else:
            weights = hf_hub_download(
                repo_id=model_id,
                filename=constants.SAFETENSORS_SINGLE_FILE,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        from safetensors.torch import load_file

        state = load_file(weights, device=str(map_location))
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as err:
            raise CheckpointMismatchError(
                f"{model_id}: the weights in {constants.SAFETENSORS_SINGLE_FILE} do not match "
                f"{cls.__name__}({json.dumps(model.config, sort_keys=True)}):\n{err}"
            ) from None
        return model.eval()
