"""The contract of every generalizable INR in ginr: shared settings, the encode/decode API, Hub I/O.

A model turns data into a set of latent tokens (``encode``) and evaluates a coordinate decoder
conditioned on those tokens at any coordinates (``decode``). A family is a subclass that sets
``family`` (it then registers itself, see ``registry.py``), writes out its constructor's arguments
(its own and the shared ones below) in a ``@register_to_config`` ``__init__``, passes the shared
ones to ``GeneralizableINR.__init__`` (which checks them and builds the shared Transformer encoder)
and supplies the decoder through three hooks:

* ``_latents_from_tokens(tokens)``: encoder outputs ``(B, R, E)`` -> latents ``(B, R, D)``;
* ``_prepare(latents)``: per-instance work done once per ``decode`` call (keys and values of the
  cross-attention, modulated weights), whatever the number of coordinates;
* ``_decode(state, coords)``: ``(b, n, d_in)`` coordinates -> ``(B, n, d_out)`` outputs, where
  ``b`` is ``B`` or 1 (one coordinate set shared by the batch, e.g. a full grid: the coordinate-only
  parts of the decoder are then computed once for the whole batch).

The constructor's arguments are the saved configuration (``config.json``, ``model.config``), as in
diffusers. The shared ones (``GeneralizableINR.__init__``):

* ``tokenizer``: what turns the data into encoder tokens (``tokenizers.py``): ``"patches"`` of
  images and posed views by default, or a modality a plug-in registers;
* ``image_size``: side (or ``(H, W)``) of the encoder's input views;
* ``patch_size``: patch side in pixels; ``padding``: zero padding per side (``None``: the tokenizer's
  default, for patches the symmetric padding the size needs);
* ``in_channels``: channels per view (3 for RGB, 9 for light fields); ``num_views``: view slots of
  the encoder (1 for images, up to V support views);
* ``d_in``: coordinate dimensionality (2 for pixels, 6 for rays); ``d_out``: output dimensionality;
* ``num_latents``: R, latent tokens per instance;
* ``encoder_width``, ``encoder_depth``, ``encoder_heads``, ``encoder_mlp_ratio``: the Transformer
  encoder's width E, blocks, heads and MLP width over E;
* ``dropout``: residual dropout in the encoder (0.1, as the official code);
* ``output_bias``: constant added to the output (0.5 for pixels in [0, 1]).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub.errors import LocalEntryNotFoundError
from torch import nn

from ..checks import image_size_pair, integer_at_least, positive_number
from ..hub import (
    CONFIG_FILE,
    PIPELINE_INDEX,
    WEIGHTS_FILE,
    check_source,
    inspect_artifact,
    not_cached_message,
    read_json,
    resolve_file,
)
from ..memory import TooLargeError, check_model_memory
from .encoder import LatentEncoder
from .registry import class_by_name, list_families, register_family
from .tokenizers import get_tokenizer

__all__ = [
    "SHARED_SETTINGS",
    "CheckpointMismatchError",
    "GeneralizableINR",
    "ModelConfig",
    "float32_output",
    "full",
    "full_linear",
    "instance_linear",
    "register_to_config",
]

PAPER_URL = "https://arxiv.org/abs/2310.05624"
REPO_URL = "https://github.com/ginr-project/ginr"  # the code (model cards: "Code")
DOCS_URL = "https://ginr-project.github.io/ginr"  # the documentation (model cards: "Docs")
CARD_TAGS = ["ginr", "implicit-neural-representation"]


def float32_output(like: torch.Tensor):
    """Autocast switched off, for a decoder's final layer and its prediction: under bf16/fp16 autocast
    the outputs (and the loss the apps compute from them) stay float32; feed the layer ``full(...)``
    inputs. ``with float32_output(h): out = full_linear(last_layer, h)``."""
    return torch.autocast(like.device.type, enabled=False)


def full(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is in a half type (bf16, fp16); float32 and float64 stay as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def full_linear(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """``layer(h)`` in float32, also for a bf16/fp16 model: a decoder's output layer (under ``float32_output``)."""
    return F.linear(full(h), full(layer.weight), None if layer.bias is None else full(layer.bias))


def instance_linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``h @ weight + bias`` per instance: ``(b, n, fan_in)`` points, ``(B, fan_in, fan_out)`` weights and a
    ``(fan_out,)`` (or ``(b, n, fan_out)``) bias -> ``(max(b, B), n, fan_out)``; ``b`` or ``B`` may be 1 (one
    coordinate set, or one weight, for the whole batch). One ``baddbmm`` on expanded views, which adds the bias
    in the same pass and copies neither operand (``torch.matmul`` copies a broadcast one)."""
    batch = max(h.shape[0], weight.shape[0])
    if not torch.is_autocast_enabled(h.device.type):  # under autocast, baddbmm casts its operands itself
        h, bias = h.to(weight.dtype), bias.to(weight.dtype)
    return torch.baddbmm(bias, h.expand(batch, -1, -1), weight.expand(batch, -1, -1))


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the class or configuration it is being loaded into."""


class ModelConfig(dict):
    """``model.config``: the constructor's arguments as ``config.json`` holds them (tuples as lists). A mapping
    that also reads as attributes: ``model.config["num_latents"] == model.config.num_latents``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the model config has no setting {name!r}; it has: {', '.join(self)}") from None


def register_to_config(init: Callable) -> Callable:
    """Decorator of a family's ``__init__`` (as diffusers' of the same name): the arguments of the call, with
    the defaults filled in, become ``model.config``, which ``save_pretrained`` writes to ``config.json``. An
    argument the signature does not name is a ``TypeError`` that lists the ones it does."""
    signature = inspect.signature(init)
    names = [p for p in signature.parameters if p != "self"]

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown settings {unknown}; its settings are: {names}")
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        # a subclass's __init__ calls its parent's through super(): the outermost call records last
        self._init_arguments = {k: bound.arguments[k] for k in names}

    return wrapper


def _dropout(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _dtype(dtype: torch.dtype | str | None, torch_dtype: torch.dtype | str | None) -> torch.dtype | str | None:
    """``from_pretrained``'s ``dtype`` (or its alias ``torch_dtype``): a floating torch dtype, its name, or "auto"."""
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; pass one of them")
    dtype = torch_dtype if dtype is None else dtype
    if dtype is None or dtype == "auto" or (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        return dtype
    named = getattr(torch, dtype.removeprefix("torch."), None) if isinstance(dtype, str) else None
    if not isinstance(named, torch.dtype) or not named.is_floating_point:
        raise ValueError(
            f"dtype must be a floating torch dtype, its name ('float32', 'bfloat16', 'float16', 'float64') or "
            f"'auto' (the saved dtype); got {dtype!r}"
        )
    return named


# the shared settings: GeneralizableINR.__init__'s arguments, which every family's signature writes out
SHARED_SETTINGS = (
    "tokenizer",
    "image_size",
    "patch_size",
    "padding",
    "in_channels",
    "num_views",
    "d_in",
    "d_out",
    "num_latents",
    "encoder_width",
    "encoder_depth",
    "encoder_heads",
    "encoder_mlp_ratio",
    "dropout",
    "output_bias",
)


class GeneralizableINR(nn.Module):
    """Base class of every model family (``LocalityAwareINR``, ``IPC``, ``TransINR``, plug-ins).

    ``GeneralizableINR.from_pretrained(path_or_repo_id)`` loads a checkpoint of any registered
    family, picking the class that ``config.json`` names. The shared keyword arguments are
    described in this module's docstring (``SHARED_SETTINGS`` names them).
    """

    family: ClassVar[str] = ""
    # constructor kwargs per preset name (the whole configuration); see ginr_core.presets
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # False for a family without the Transformer encoder (Learned Init adapts weights by gradient steps)
    uses_encoder: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("family"):
            register_family(cls)

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int],
        patch_size: int,
        padding: int | None,
        in_channels: int,
        num_views: int,
        d_in: int,
        d_out: int,
        num_latents: int,
        encoder_width: int,
        encoder_depth: int,
        encoder_heads: int,
        encoder_mlp_ratio: float,
        dropout: float,
        output_bias: float,
        tokenizer: str = "patches",
    ) -> None:
        """Check the shared settings and build the shared ``LatentEncoder`` on the model's tokenizer."""
        super().__init__()
        self.tokenizer_class = get_tokenizer(tokenizer)
        # how training prepared the inputs (ginr_core.images: resize, crop, value range); config.json's
        # _preprocessing, set by the apps before save_pretrained and restored by from_pretrained
        self.preprocessing: dict | None = None
        self.image_size = image_size_pair(image_size)
        self.patch_size = integer_at_least("patch_size", patch_size)
        if padding is None:
            try:
                padding = self.tokenizer_class.default_padding(self.image_size, self.patch_size)
            except ValueError as err:
                raise ValueError(f"{type(self).__name__}: {err}") from None
        self.padding = integer_at_least("padding", padding, minimum=0)
        self.in_channels = integer_at_least("in_channels", in_channels)
        self.num_views = integer_at_least("num_views", num_views)
        self.d_in = integer_at_least("d_in", d_in)
        self.d_out = integer_at_least("d_out", d_out)
        if num_latents is None:
            raise ValueError(f"{type(self).__name__}: num_latents must be set")
        self.num_latents = integer_at_least("num_latents", num_latents)
        self.encoder_width = integer_at_least("encoder_width", encoder_width)
        self.encoder_depth = integer_at_least("encoder_depth", encoder_depth, minimum=0)
        self.encoder_heads = integer_at_least("encoder_heads", encoder_heads)
        self.encoder_mlp_ratio = positive_number("encoder_mlp_ratio", encoder_mlp_ratio)
        self.dropout = _dropout("dropout", dropout)
        self.output_bias = _finite("output_bias", output_bias)
        self.encoder = None
        if self.uses_encoder:
            data_tokens = self.tokenizer_class(
                image_size=self.image_size,
                patch_size=self.patch_size,
                padding=self.padding,
                in_channels=self.in_channels,
                num_views=self.num_views,
                width=self.encoder_width,
            )
            self.encoder = LatentEncoder(
                tokenizer=data_tokens,
                num_latents=self.num_latents,
                width=self.encoder_width,
                depth=self.encoder_depth,
                heads=self.encoder_heads,
                mlp_ratio=self.encoder_mlp_ratio,
                dropout=self.dropout,
            )

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """Build the model of a named configuration, e.g. ``LocalityAwareINR.from_preset("ffhq-256")``.

        Keyword arguments override single settings of the preset. See ``ginr_core.list_presets()``.
        """
        from ..presets import get_preset

        return cls(**{**get_preset(name, cls.family), **overrides})

    @property
    def config(self) -> ModelConfig:
        """The constructor's arguments, as ``config.json`` holds them (a fresh copy)."""
        arguments = self.__dict__.get("_init_arguments")
        if arguments is None:
            raise TypeError(f"{type(self).__name__}.__init__ must be decorated with @register_to_config")
        return ModelConfig(json.loads(json.dumps(arguments)))

    def num_parameters(self, only_trainable: bool = False) -> int:
        """The number of parameters (those with ``requires_grad`` only, with ``only_trainable``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    @property
    def device(self) -> torch.device:
        """Where the weights are (as a diffusers component reports it)."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the weights."""
        return next(self.parameters()).dtype

    @property
    def evaluations_per_coordinate(self) -> int:
        """Decoder evaluations per coordinate: 1, or the points per ray of a volume-rendering model."""
        return 1

    @property
    def num_patches(self) -> int:
        """Data tokens per view (of the tokenizer's ``num_tokens`` for ``num_views`` views)."""
        return self.encoder.tokenizer.num_tokens // self.num_views

    # ------------------------------------------------------------------ the API
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Data -> latent tokens.

        Args:
            x: what the model's tokenizer takes: for ``"patches"``, ``(B, C, H, W)`` images or
                ``(B, V, C, H, W)`` views (``V <= num_views``), values as the model was trained on
                (pixels in [0, 1]; light fields add 6 ray channels).

        Returns:
            ``(B, R, D)`` latents.
        """
        return self._latents_from_tokens(self.encoder(self.tokenizer_class.check(x, self)))

    def decode(self, latents: torch.Tensor, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Evaluate the INR of each instance at coordinates.

        Args:
            latents: ``(B, R, D)`` from ``encode``.
            coords: ``(B, N, d_in)``, or ``(1, N, d_in)`` / ``(N, d_in)`` for one coordinate set
                shared by the whole batch (cheaper: coordinate-only features are computed once).
            chunk_size: decode at most this many coordinates at a time (a volume-rendering model:
                this many points, i.e. ``chunk_size // points_per_ray`` rays). Per-instance work
                (keys and values, modulated weights) is done once; the result equals unchunked
                decoding and peak memory grows with ``chunk_size`` instead of N. ``None`` decodes
                in one go.

        Returns:
            ``(B, N, d_out)``.
        """
        latents = self._check_latents(latents)
        coords = self._check_coords(coords, latents.shape[0])
        if chunk_size is not None:
            chunk_size = max(1, integer_at_least("chunk_size", chunk_size) // self.evaluations_per_coordinate)
        state = self._prepare(latents)
        num = coords.shape[1]
        if chunk_size is None or chunk_size >= num:
            return self._decode(state, coords)
        return torch.cat([self._decode(state, coords[:, i : i + chunk_size]) for i in range(0, num, chunk_size)], dim=1)

    def forward(self, x: torch.Tensor, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``decode(encode(x), coords, chunk_size)``."""
        return self.decode(self.encode(x), coords, chunk_size=chunk_size)

    def compile(self, **options) -> GeneralizableINR:
        """Compile the hot parts with ``torch.compile`` in place: the encoder and the per-coordinate decoding
        (``_decode``: frequency features, band sums, attention, MLP), where fusing the many small
        element-wise kernels pays; the input checks and the chunk loop stay in Python. ``options`` go to
        ``torch.compile`` (``mode``, ``dynamic``, ``backend``, ...). The weights, ``state_dict`` and
        ``save_pretrained`` are unchanged; outputs equal eager ones within float tolerance. The first
        call at each new shape compiles (seconds to a minute); later calls reuse it. Returns ``self``.
        """
        if self.encoder is not None:
            self.encoder.compile(**options)
        self._decode = torch.compile(self._decode, **options)
        return self

    @property
    def compiled(self) -> bool:
        """Whether ``compile`` was called."""
        return "_decode" in self.__dict__

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
    def save_pretrained(self, save_directory: str | os.PathLike, *, config: dict | None = None) -> Path:
        """Write ``model.safetensors``, ``config.json`` (``config``, by default ``self.config``, plus
        ``_class_name``, ``_family`` and ``_ginr_version``) and a model card ``README.md``; returns the folder."""
        from safetensors.torch import save_model

        from .. import __version__

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        saved = {**(self.config if config is None else config), "_class_name": type(self).__name__}
        saved.update(_family=self.family, _ginr_version=__version__)
        if self.preprocessing is not None:
            saved["_preprocessing"] = self.preprocessing
        save_model(self, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
        (folder / CONFIG_FILE).write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        self.generate_model_card().save(folder / "README.md")
        return folder

    def generate_model_card(self):
        """A minimal model card: the library, the paper, how to load it (the apps write a fuller one)."""
        from huggingface_hub import ModelCard, ModelCardData

        data = ModelCardData(library_name="ginr", license="apache-2.0", tags=CARD_TAGS)
        name = type(self).__name__
        text = (
            f"# {name}\n\nA ginr {name} ({self.family}): {self.num_parameters():,} parameters. Paper: {PAPER_URL}; "
            f"code: {REPO_URL}; docs: {DOCS_URL}.\n\n```python\nfrom ginr_core import GeneralizableINR\n\n"
            'model = GeneralizableINR.from_pretrained("<this folder or repo id>")\n```\n'
        )
        return ModelCard(f"---\n{data.to_yaml()}\n---\n{text}")

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        commit_message: str = "Upload a ginr model",
        create_pr: bool = False,
    ):
        """``save_pretrained`` into a temporary folder, then upload it to ``repo_id`` (created if need be)."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory(prefix="ginr-push-") as folder:
            self.save_pretrained(folder)
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                revision=revision,
                commit_message=commit_message,
                create_pr=create_pr,
            )

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        subfolder: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        map_location: torch.device | str | None = None,
        device_map: Any = None,
        strict: bool = True,
        **unknown: Any,
    ):
        """Load a model saved by ``save_pretrained`` from a local folder or a Hub repo id (online, or with
        ``HF_HUB_OFFLINE=1`` from the Hub cache), in evaluation mode.

        Args:
            pretrained_model_name_or_path: a folder, or ``<user>/<name>`` on the Hub.
            subfolder: the model's folder inside it (a pipeline's INR: ``subfolder="inr"``).
            revision, cache_dir, force_download, local_files_only, token: as ``hf_hub_download``'s.
            dtype: the weights' dtype: a floating torch dtype, its name (``"bfloat16"``), or ``"auto"``
                (the dtype they were saved in); ``None`` keeps float32. ``torch_dtype`` is an alias.
            device: where the weights go (``map_location`` is an alias). ``device_map`` is refused: a
                ginr model lives on one device.
            strict: every tensor of the model in the file and no other (``load_state_dict``'s).

        ``GeneralizableINR.from_pretrained`` builds the class that ``config.json`` names; a family's
        own ``from_pretrained`` refuses a checkpoint of another class. Raises ``CheckpointMismatchError``
        when the checkpoint does not fit (another class, settings this class does not take, tensors of
        the wrong shape, dtype or values), ``TypeError`` for an argument it does not take.
        """
        if unknown:
            known = [p for p in inspect.signature(cls.from_pretrained).parameters if p not in ("cls", "unknown")]
            raise TypeError(f"{cls.__name__}.from_pretrained got unknown arguments {sorted(unknown)}; it takes {known}")
        if device_map is not None:
            raise ValueError(
                f"device_map={device_map!r} is not supported: a ginr model lives on one device; pass device='cuda' "
                "(or any one device) instead"
            )
        if device is not None and map_location is not None and torch.device(device) != torch.device(map_location):
            raise ValueError(f"device={device!r} and map_location={map_location!r} disagree; pass one of them")
        dtype, device = _dtype(dtype, torch_dtype), device if device is not None else map_location
        model_id = os.fspath(pretrained_model_name_or_path)
        check_source(model_id)
        where = f"{model_id}/{subfolder}" if subfolder else model_id
        download = {"subfolder": subfolder, "revision": revision, "cache_dir": cache_dir, "token": token}
        download["local_files_only"] = local_files_only
        try:
            config_file = resolve_file(model_id, CONFIG_FILE, force_download=force_download, **download)
        except LocalEntryNotFoundError as error:
            # offline, no config.json cached: say so plainly if what is cached is a pipeline
            held = inspect_artifact(model_id, **{**download, "local_files_only": True})
            if held is not None and held.kind == "pipeline":
                raise CheckpointMismatchError(_pipeline_message(where, cls)) from None
            raise LocalEntryNotFoundError(f"{not_cached_message(model_id)} (huggingface_hub: {error})") from None
        if config_file is None:
            held = inspect_artifact(model_id, **download)
            if held is not None and held.kind == "pipeline":
                raise CheckpointMismatchError(_pipeline_message(where, cls))
            raise CheckpointMismatchError(f"{where}: no {CONFIG_FILE} found; it is not a ginr checkpoint")
        config = read_json(config_file, CONFIG_FILE)
        target = cls._class_for(config, where)
        settings = target._settings_from(config, where)
        try:
            check_model_memory(target, settings, f"{where}/{CONFIG_FILE}")
        except TooLargeError as err:
            raise CheckpointMismatchError(str(err)) from None
        try:
            model = target(**settings)
        except (TypeError, ValueError) as err:  # a setting out of range, a tokenizer that is not installed
            if isinstance(err, CheckpointMismatchError):
                raise
            raise CheckpointMismatchError(f"{where}: config.json does not build a {target.__name__}: {err}") from None
        weights = resolve_file(model_id, WEIGHTS_FILE, force_download=force_download, **download)
        if weights is None:
            raise CheckpointMismatchError(f"{where}: no {WEIGHTS_FILE} next to {CONFIG_FILE}")
        state = _read_weights(weights, model)
        if dtype == "auto":
            dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as err:
            raise CheckpointMismatchError(
                f"{where}: the weights in {WEIGHTS_FILE} do not match "
                f"{target.__name__}({json.dumps(model.config, sort_keys=True)}):\n{err}"
            ) from None
        preprocessing = config.get("_preprocessing")
        if preprocessing is not None and not isinstance(preprocessing, dict):
            raise CheckpointMismatchError(
                f"{where}: config.json's _preprocessing must be a mapping, got {preprocessing!r}"
            )
        model.preprocessing = preprocessing
        return model.to(device=device, dtype=dtype).eval()

    @classmethod
    def _class_for(cls, config: dict[str, Any], where: str) -> type[GeneralizableINR]:
        """The class to build for ``config.json``: the one it names (from the base class), or ``cls`` itself."""
        saved = config.get("_class_name")
        if cls is GeneralizableINR:
            target = class_by_name(saved)
            if target is None:
                raise CheckpointMismatchError(
                    f"{where}: config.json names no ginr model class that is installed (_class_name={saved!r}, "
                    f"_family={config.get('_family')!r}); known: {sorted(c.__name__ for c in list_families().values())}"
                    " (a family from another package must be installed: it registers through the ginr.families "
                    "entry points)"
                )
            return target
        if saved is not None and saved != cls.__name__:
            raise CheckpointMismatchError(
                f"{where} holds a {saved} checkpoint; it cannot be loaded with {cls.__name__}.from_pretrained "
                f"(use GeneralizableINR.from_pretrained, or {saved}.from_pretrained)"
            )
        return cls

    @classmethod
    def _settings_from(cls, config: dict[str, Any], where: str) -> dict[str, Any]:
        """``config.json``'s settings as this class's constructor arguments, or an error naming the unknown ones
        (with the version of ginr-core that wrote them when it is newer than this one)."""
        from .. import __version__

        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        settings = {k: v for k, v in config.items() if not k.startswith("_")}
        unknown = sorted(set(settings) - accepted)
        if unknown:
            written = str(config.get("_ginr_version", "unknown"))
            newer = _version_tuple(written) > _version_tuple(__version__)
            hint = f"; it was written by ginr-core {written}, newer than this {__version__}: upgrade" if newer else ""
            raise CheckpointMismatchError(
                f"{where}: config.json has settings that {cls.__name__} does not take: {unknown}{hint}"
            )
        return settings


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"0.2.0"`` -> ``(0, 2, 0)``; the numeric prefix of each part (an unreadable version is ``()``, oldest)."""
    parts = []
    for part in version.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _read_weights(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, refused if unreadable, or if a tensor of a floating parameter is not
    floating (an int or bool file would be cast silently) or holds non-finite values."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except (SafetensorError, OSError) as err:
        raise CheckpointMismatchError(
            f"{path}: not a readable safetensors file ({err}); it is truncated or corrupt: save or download it again"
        ) from None
    expected = model.state_dict()
    for name, tensor in state.items():
        if name in expected and expected[name].is_floating_point():
            if not tensor.is_floating_point():
                raise CheckpointMismatchError(f"{path}: tensor {name} is {tensor.dtype}, expected a floating dtype")
            if not torch.isfinite(tensor).all():
                raise CheckpointMismatchError(f"{path}: tensor {name} holds NaN or Inf values")
    return state


def _pipeline_message(model_id: str, cls: type) -> str:
    return (
        f"{model_id} holds a diffusers pipeline ({PIPELINE_INDEX}), not a {cls.__name__} checkpoint: "
        "load it with ginr_diffusion.LatentINRPipeline.from_pretrained, or its INR with "
        f"GeneralizableINR.from_pretrained({model_id!r}, subfolder='inr')"
    )
