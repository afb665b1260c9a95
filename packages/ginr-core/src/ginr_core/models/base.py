"""The contract of every generalizable INR in ginr: shared settings, the encode/decode API, Hub I/O.

A model turns data into a set of latent tokens (``encode``) and evaluates a coordinate decoder
conditioned on those tokens at any coordinates (``decode``). A family is a subclass that sets
``family`` (it then registers itself, see ``registry.py``), takes its own settings as keyword
arguments plus ``**shared`` (the settings of ``SHARED_SETTINGS``, declared once, here), calls
``super().__init__(**shared)`` (which builds the shared Transformer encoder) and supplies the
decoder through three hooks:

* ``_latents_from_tokens(tokens)``: encoder outputs ``(B, R, E)`` -> latents ``(B, R, D)``;
* ``_prepare(latents)``: per-instance work done once per ``decode`` call (keys and values of the
  cross-attention, modulated weights), whatever the number of coordinates;
* ``_decode(state, coords)``: ``(b, n, d_in)`` coordinates -> ``(B, n, d_out)`` outputs, where
  ``b`` is ``B`` or 1 (one coordinate set shared by the batch, e.g. a full grid: the coordinate-only
  parts of the decoder are then computed once for the whole batch).

The constructor's keyword arguments, shared ones included, are the saved configuration
(``config.json``), as in diffusers: the class signature shows them all.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from huggingface_hub.errors import LocalEntryNotFoundError
from torch import nn

from ..checks import image_size_pair, integer_at_least, positive_number
from ..coords import image_coords
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
from .encoder import LatentEncoder, symmetric_padding
from .registry import class_by_name, register_family

__all__ = [
    "SHARED_SETTINGS",
    "CheckpointMismatchError",
    "GeneralizableINR",
    "SharedSetting",
    "float32_output",
    "full",
    "full_linear",
    "instance_linear",
]

# Rows (instances x coordinate evaluations) per decoding chunk with chunk_size="auto" on CPU: a
# (4096 x 256) float32 activation is 4 MB, which stays in the last-level cache, where the decoder's
# tall, thin matmuls run at the square-matmul rate instead of ~0.8 of it (benchmarks/train_step.py).
CPU_CHUNK_ROWS = 4096
# Coordinates per chunk when render_image(chunk_size="auto") decodes on an accelerator: memory, not caches.
ACCELERATOR_CHUNK = 65536

PAPER_URL = "https://arxiv.org/abs/2310.05624"
REPO_URL = "https://github.com/ginr-project/ginr"  # the code (model cards: "Code")
DOCS_URL = "https://ginr-project.github.io/ginr"  # the documentation (model cards: "Docs")


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


def batch_sum(x: torch.Tensor) -> torch.Tensor:
    """``(B, ...)`` -> ``(1, ...)``, the sum over the batch: for a few instances added up one by one, ~2x faster
    on CPU than ``sum(0)``, and in ``x``'s own memory layout (a transposed gradient stays transposed). Half types
    go through ``sum``, which accumulates in float32."""
    if not 2 <= x.shape[0] <= 8 or x.dtype not in (torch.float32, torch.float64):
        return x.sum(0, keepdim=True)
    total = x[0] + x[1]
    for row in x[2:]:
        total.add_(row)
    return total.unsqueeze(0)


class _BroadcastBatch(torch.autograd.Function):
    generate_vmap_rule = True  # usable under torch.func transforms (grad, vmap, jacrev, jvp)

    @staticmethod
    def forward(x: torch.Tensor, batch: int) -> torch.Tensor:
        return x.expand(batch, *x.shape[1:])

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.batch = inputs[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return batch_sum(grad), None

    @staticmethod
    def jvp(ctx, x_tangent: torch.Tensor, _):
        return x_tangent.expand(ctx.batch, *x_tangent.shape[1:])


def broadcast_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``(1, ...)`` -> ``(batch, ...)``: ``x.expand(batch, ...)`` (a view), whose gradient is summed by
    ``batch_sum`` rather than ``expand``'s ``sum``: one coordinate set shared by the batch."""
    if x.shape[0] == batch or not (x.requires_grad and torch.is_grad_enabled()) or torch.compiler.is_compiling():
        return x.expand(batch, *x.shape[1:])
    return _BroadcastBatch.apply(x, batch)


def instance_linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``h @ weight + bias`` per instance: ``(b, n, fan_in)`` points, ``(B, fan_in, fan_out)`` weights and a
    ``(fan_out,)`` (or ``(b, n, fan_out)``) bias -> ``(max(b, B), n, fan_out)``; ``b`` or ``B`` may be 1 (one
    coordinate set, or one weight, for the whole batch). One ``baddbmm`` on broadcast views: ``torch.matmul``
    copies a broadcast operand (and its gradient) and adds the bias in another pass, which made a shared-
    coordinate layer's forward and backward ~1.5x slower (and ~7 % slower without broadcasting) on CPU."""
    batch = max(h.shape[0], weight.shape[0])
    if not torch.is_autocast_enabled(h.device.type):  # under autocast, baddbmm casts its operands itself
        h, bias = h.to(weight.dtype), bias.to(weight.dtype)
    return torch.baddbmm(bias, broadcast_batch(h, batch), broadcast_batch(weight, batch))


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the class or configuration it is being loaded into."""


def _dropout(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _optional_padding(name: str, value: Any) -> int | None:
    return None if value is None else integer_at_least(name, value, minimum=0)


def _optional_count(name: str, value: Any) -> int | None:
    return None if value is None else integer_at_least(name, value)


@dataclass(frozen=True)
class SharedSetting:
    """One setting every family takes: its default, its check (``check(name, value)``), its meaning."""

    default: Any
    check: Callable[[str, Any], Any]
    doc: str
    annotation: Any = int


# The settings of the shared encoder and of the data contract, declared once. A family's signature
# gets them as keyword arguments (defaults here, or the family's ``shared_defaults``); settings
# named like a ``LatentEncoder`` argument (after ``ENCODER_ARGUMENTS``) go to the encoder, so a new
# encoder option is one entry here plus its argument there.
SHARED_SETTINGS: dict[str, SharedSetting] = {
    "image_size": SharedSetting(
        178, lambda n, v: image_size_pair(v, n), "side (or (H, W)) of the encoder's input views", int | tuple[int, int]
    ),
    "patch_size": SharedSetting(9, integer_at_least, "patch side in pixels"),
    "padding": SharedSetting(
        None, _optional_padding, "zero padding per side; None picks the symmetric padding the size needs", int | None
    ),
    "in_channels": SharedSetting(3, integer_at_least, "channels per view (3 for RGB; 9 for light fields)"),
    "num_views": SharedSetting(1, integer_at_least, "view slots of the encoder (1 for images; up to V support views)"),
    "d_in": SharedSetting(2, integer_at_least, "coordinate dimensionality (2 for pixels, 6 for rays)"),
    "d_out": SharedSetting(3, integer_at_least, "output dimensionality (3 for RGB)"),
    "num_latents": SharedSetting(256, _optional_count, "R, latent tokens per instance", int | None),
    "encoder_width": SharedSetting(768, integer_at_least, "width E of the Transformer encoder"),
    "encoder_depth": SharedSetting(6, lambda n, v: integer_at_least(n, v, minimum=0), "its number of blocks"),
    "encoder_heads": SharedSetting(12, integer_at_least, "its attention heads"),
    "encoder_mlp_ratio": SharedSetting(4.0, positive_number, "its MLP width over encoder_width", float),
    "dropout": SharedSetting(0.1, _dropout, "residual dropout in the encoder (0.1, as the official code)", float),
    "output_bias": SharedSetting(0.5, _finite, "constant added to the output (0.5 for pixels in [0, 1])", float),
}
# shared setting -> LatentEncoder argument, where the names differ
ENCODER_ARGUMENTS = {
    "encoder_width": "width",
    "encoder_depth": "depth",
    "encoder_heads": "heads",
    "encoder_mlp_ratio": "mlp_ratio",
}
_ENCODER_PARAMETERS = set(inspect.signature(LatentEncoder).parameters)


def _with_shared_settings(cls: type, init: Callable) -> inspect.Signature:
    """The signature of ``init(self, *, own..., **shared)`` with ``**shared`` spelled out as keywords."""
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:] if p.kind != p.VAR_KEYWORD]
    clash = sorted({p.name for p in own} & set(SHARED_SETTINGS))
    if clash:
        raise TypeError(f"{cls.__qualname__}.__init__ declares shared settings {clash}: take them through **shared")
    defaults = {**{k: s.default for k, s in SHARED_SETTINGS.items()}, **cls.shared_defaults}
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=setting.annotation)
        for name, setting in SHARED_SETTINGS.items()
    ]
    return signature.replace(parameters=[params[0], *own, *shared])


class GeneralizableINR(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="ginr",
    paper_url=PAPER_URL,
    repo_url=REPO_URL,
    docs_url=DOCS_URL,
    license="apache-2.0",
    tags=["ginr", "implicit-neural-representation"],
):
    """Base class of every model family (``LocalityAwareINR``, ``IPC``, ``TransINR``, plug-ins).

    ``GeneralizableINR.from_pretrained(path_or_repo_id)`` loads a checkpoint of any registered
    family, picking the class that ``config.json`` names.

    Shared keyword arguments (``SHARED_SETTINGS``): ``image_size``, ``patch_size``, ``padding``,
    ``in_channels``, ``num_views``, ``d_in``, ``d_out``, ``num_latents``, ``encoder_width``,
    ``encoder_depth``, ``encoder_heads``, ``encoder_mlp_ratio``, ``dropout``, ``output_bias``.
    """

    family: ClassVar[str] = ""
    # constructor kwargs per preset name, merged over ginr_core.presets' shared part of that preset
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # this family's defaults for shared settings, where they differ from SHARED_SETTINGS'
    shared_defaults: ClassVar[dict[str, Any]] = {}
    # False for a family without the Transformer encoder (Learned Init adapts weights by gradient steps)
    uses_encoder: ClassVar[bool] = True
    # whether the family takes posed views and rays (d_in=6) as well as images
    light_fields: ClassVar[bool] = True
    # whether it takes images and pixel coordinates (d_in=2); False for the volume-rendering families
    images: ClassVar[bool] = True
    # how its six ray coordinates (and the ray channels of its views) describe a ray: "plucker"
    # (light fields) or "origin_direction" (volume rendering); see ginr_core.rays.RAY_FORMATS
    ray_format: ClassVar[str] = "plucker"

    def __init_subclass__(cls, **kwargs) -> None:
        init = cls.__dict__.get("__init__")
        if init is not None and any(p.kind == p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            init.__signature__ = _with_shared_settings(cls, init)  # what the Hub mixin and --help-config read
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("family"):
            register_family(cls)

    @classmethod
    def shared_settings(cls, **shared) -> dict[str, Any]:
        """The shared settings with this family's defaults filled in and each value checked."""
        unknown = sorted(set(shared) - set(SHARED_SETTINGS))
        if unknown:
            raise TypeError(f"{cls.__name__} got unexpected settings {unknown}")
        values = {**{k: s.default for k, s in SHARED_SETTINGS.items()}, **cls.shared_defaults, **shared}
        return {k: SHARED_SETTINGS[k].check(k, v) for k, v in values.items()}

    def __init__(self, **shared) -> None:
        """Check the shared settings and build the shared ``LatentEncoder``."""
        super().__init__()
        settings = self.shared_settings(**shared)
        size, patch = settings["image_size"], settings["patch_size"]
        if settings["padding"] is None:
            pads = {symmetric_padding(side, patch) for side in size}
            if len(pads) > 1:
                name = type(self).__name__
                raise ValueError(f"{name}: image_size={size} needs different padding per side; pass padding explicitly")
            settings["padding"] = pads.pop()
        if settings["num_latents"] is None:
            raise ValueError(f"{type(self).__name__}: num_latents must be set")
        for name, value in settings.items():
            if not isinstance(getattr(type(self), name, None), property):
                setattr(self, name, value)
        encoder = {ENCODER_ARGUMENTS.get(k, k): v for k, v in settings.items()}
        encoder = {k: v for k, v in encoder.items() if k in _ENCODER_PARAMETERS}
        self.encoder = LatentEncoder(**encoder) if type(self).uses_encoder else None

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """Build the model of a named configuration, e.g. ``LocalityAwareINR.from_preset("ffhq-256")``.

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

    def decode(self, latents: torch.Tensor, coords: torch.Tensor, chunk_size: int | str | None = None) -> torch.Tensor:
        """Evaluate the INR of each instance at coordinates.

        Args:
            latents: ``(B, R, D)`` from ``encode``.
            coords: ``(B, N, d_in)``, or ``(1, N, d_in)`` / ``(N, d_in)`` for one coordinate set
                shared by the whole batch (cheaper: coordinate-only features are computed once).
            chunk_size: decode at most this many coordinates at a time (a volume-rendering model:
                this many points, i.e. ``chunk_size // points_per_ray`` rays). Per-instance work
                (keys and values, modulated weights) is done once; the result equals unchunked
                decoding and peak memory grows with ``chunk_size`` instead of N. ``None`` decodes
                in one go. ``"auto"``: on CPU, chunks of ``CPU_CHUNK_ROWS // B`` evaluations, so that
                each chunk's activations stay in the caches (measured: 2-4 % faster training
                steps, ~13 % faster matmuls); on accelerators, one go.

        Returns:
            ``(B, N, d_out)``.
        """
        latents = self._check_latents(latents)
        coords = self._check_coords(coords, latents.shape[0])
        if isinstance(chunk_size, str) and chunk_size != "auto":
            raise ValueError(f"chunk_size must be a positive integer, 'auto' or None; got {chunk_size!r}")
        if chunk_size == "auto":
            chunk_size = max(1, CPU_CHUNK_ROWS // latents.shape[0]) if latents.device.type == "cpu" else None
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

    def render_image(
        self, latents: torch.Tensor, height: int, width: int | None = None, chunk_size: int | str | None = "auto"
    ) -> torch.Tensor:
        """Decode a full ``height x width`` pixel grid: ``(B, d_out, H, W)``, at any resolution.

        ``chunk_size="auto"``: on CPU ``decode``'s (``CPU_CHUNK_ROWS // B`` coordinates at a time: the
        chunk's activations stay in the caches, and a 1024 x 1024 LocINR decode runs at ~1.3x its FLOP
        time at the matmul rate, against 1.5x with 8,192 and ~1.7x with 65,536), 65,536 on accelerators
        (memory); an int or None as ``decode``'s.
        """
        if self.d_in != 2:
            raise ValueError(f"render_image needs a pixel-coordinate model (d_in=2); this one has d_in={self.d_in}")
        if chunk_size == "auto" and latents.device.type != "cpu":
            chunk_size = ACCELERATOR_CHUNK
        width = height if width is None else width
        coords = image_coords(height, width, device=latents.device).view(1, -1, 2)
        out = self.decode(latents, coords, chunk_size=chunk_size)
        return out.transpose(1, 2).reshape(latents.shape[0], self.d_out, height, width)

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
        from .. import __version__

        config = {**(config if config is not None else self.config), "_class_name": type(self).__name__}
        config["_family"], config["_ginr_version"] = self.family, __version__
        return super().save_pretrained(save_directory, config=config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs):
        """Load a model saved by ``save_pretrained``: a local folder or a Hub repo id (online, or with
        ``HF_HUB_OFFLINE=1`` from the Hub cache). See ``_from_pretrained`` for the checks."""
        model_id = str(pretrained_model_name_or_path)
        check_source(model_id)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except LocalEntryNotFoundError as error:
            # offline, no config.json cached: say so plainly if what is cached is a pipeline
            revision, cache_dir = kwargs.get("revision"), kwargs.get("cache_dir")
            held = inspect_artifact(model_id, revision=revision, cache_dir=cache_dir, local_files_only=True)
            if held is not None and held.kind == "pipeline":
                raise CheckpointMismatchError(_pipeline_message(model_id, cls)) from None
            raise LocalEntryNotFoundError(f"{not_cached_message(model_id)} (huggingface_hub: {error})") from None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
            config = resolve_file(model_id, CONFIG_FILE, quiet=True, local_files_only=True)
            if config is None:
                raise
            read_json(config, CONFIG_FILE)  # names the file and what is wrong with it
            raise

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_model

        save_model(self, str(Path(save_directory) / WEIGHTS_FILE), metadata={"format": "pt"})

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
        torch_dtype: torch.dtype | None = None,
        **model_kwargs,
    ):
        """Build the model from ``config.json`` and load ``model.safetensors`` strictly.

        ``proxies`` and ``resume_download`` are passed by huggingface_hub < 1.0 and ignored;
        ``torch_dtype`` (passed by diffusers when the INR is a pipeline component) casts the weights.

        Raises ``CheckpointMismatchError`` when the checkpoint belongs to another model class, has
        settings this class does not know, or its tensors do not match the configuration.
        """
        download = {"revision": revision, "cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
        if config is None:
            held = inspect_artifact(model_id, **download)
            if held is not None and held.kind == "pipeline":
                raise CheckpointMismatchError(_pipeline_message(model_id, cls))
            raise CheckpointMismatchError(f"{model_id}: no {CONFIG_FILE} found; it is not a ginr checkpoint")
        saved = config.get("_class_name")
        if cls is GeneralizableINR:  # any ginr model: the class named in config.json
            target = class_by_name(saved)
            if target is None:
                from .registry import list_families

                raise CheckpointMismatchError(
                    f"{model_id}: config.json names no ginr model class that is installed (_class_name={saved!r}, "
                    f"_family={config.get('_family')!r}); known: {sorted(c.__name__ for c in list_families().values())}"
                    " (a family from another package must be installed: it registers through the ginr.families "
                    "entry points)"
                )
            return target._from_pretrained(
                model_id=model_id,
                force_download=force_download,
                config=config,
                map_location=map_location,
                strict=strict,
                torch_dtype=torch_dtype,
                **download,
                **{k: v for k, v in model_kwargs.items() if k in target._hub_mixin_init_parameters},
            )
        if saved is not None and saved != cls.__name__:
            raise CheckpointMismatchError(
                f"{model_id} holds a {saved} checkpoint; it cannot be loaded with {cls.__name__}.from_pretrained "
                f"(use GeneralizableINR.from_pretrained, or {saved}.from_pretrained)"
            )
        unknown = sorted(k for k in config if not k.startswith("_") and k not in cls._hub_mixin_init_parameters)
        if unknown:
            raise CheckpointMismatchError(
                f"{model_id}: config.json has settings that {cls.__name__} does not take: {unknown}"
            )
        model = cls(**model_kwargs)
        weights = resolve_file(model_id, WEIGHTS_FILE, force_download=force_download, **download)
        if weights is None:
            raise CheckpointMismatchError(f"{model_id}: no {WEIGHTS_FILE} next to {CONFIG_FILE}")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(weights, device=str(map_location))
        except (SafetensorError, OSError) as err:
            raise CheckpointMismatchError(
                f"{weights}: not a readable safetensors file ({err}); it is truncated or corrupt: save or download "
                "it again"
            ) from None
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as err:
            raise CheckpointMismatchError(
                f"{model_id}: the weights in {WEIGHTS_FILE} do not match "
                f"{cls.__name__}({json.dumps(model.config, sort_keys=True)}):\n{err}"
            ) from None
        if torch_dtype is not None:
            model = model.to(torch_dtype)
        return model.eval()


def _pipeline_message(model_id: str, cls: type) -> str:
    return (
        f"{model_id} holds a diffusers pipeline ({PIPELINE_INDEX}), not a {cls.__name__} checkpoint: "
        "load it with ginr_diffusion.LatentINRPipeline.from_pretrained, or its INR with "
        f"GeneralizableINR.from_pretrained(<that folder>/inr)"
    )
