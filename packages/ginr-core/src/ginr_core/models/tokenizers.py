"""What turns an instance into the encoder's data tokens (Sec. 3.2): one registered class per modality.

A model's ``tokenizer`` setting names its tokenizer (``"patches"``, the default: images and posed
views). The tokenizer owns everything that depends on the data's form: which inputs ``encode``
accepts (``check``), the default padding (``default_padding``), the tokens and their positional
embeddings (``forward``). The shared Transformer, the latent tokens and every decoder stay the same,
so a new modality (a 1-D signal, a point set) is one ``Tokenizer`` subclass; a package outside ginr
registers its own through the ``ginr.tokenizers`` entry points::

    [project.entry-points."ginr.tokenizers"]
    signal-patches = "my_package.signals:SignalTokenizer"

A tokenizer is built from the model's shared input settings (``image_size``, ``patch_size``,
``padding``, ``in_channels``, ``num_views``) and the encoder width; a modality may read them its own
way (a 1-D signal of L samples: ``image_size=(1, L)``).

Shapes: B batch, V views, C channels, H x W view size, P patches per view, T data tokens, E width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .registry import load_plugins

if TYPE_CHECKING:
    from .base import GeneralizableINR

__all__ = [
    "TOKENIZER_ENTRY_POINTS",
    "PatchTokenizer",
    "Tokenizer",
    "get_tokenizer",
    "list_tokenizers",
    "symmetric_padding",
]

TOKENIZER_ENTRY_POINTS = "ginr.tokenizers"

_TOKENIZERS: dict[str, type[Tokenizer]] = {}
_entry_points_loaded = False


class Tokenizer(nn.Module):
    """Base class of the tokenizers. A subclass sets ``name`` (it then registers itself), takes the keyword
    arguments ``image_size``, ``patch_size``, ``padding``, ``in_channels``, ``num_views`` and ``width`` (the
    encoder's), sets ``num_tokens`` (data tokens per instance, at most) and implements ``check`` and
    ``forward``."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            held = _TOKENIZERS.get(cls.name)
            if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"tokenizer {cls.name!r} is already registered by {held.__module__}.{held.__name__}")
            _TOKENIZERS[cls.name] = cls

    num_tokens: int

    @classmethod
    def default_padding(cls, image_size: tuple[int, int], patch_size: int) -> int:
        """The padding per side when the model's ``padding`` is None."""
        return 0

    @classmethod
    def check(cls, x: Any, model: GeneralizableINR) -> torch.Tensor:
        """``x`` as ``forward`` takes it, or an error saying what ``model.encode`` expects."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Checked input -> ``(B, T, E)`` tokens with their positional embeddings."""
        raise NotImplementedError


def symmetric_padding(size: int, patch_size: int) -> int:
    """Zero padding per side that makes ``size`` a multiple of ``patch_size`` (178 px, patch 9 -> 1)."""
    missing = -size % patch_size
    if missing % 2:
        raise ValueError(
            f"an image side of {size} px needs {missing} px of padding to be divisible by patch_size={patch_size}, "
            f"which cannot be split evenly between both sides; pass padding explicitly or choose another patch_size"
        )
    return missing // 2


class PatchTokenizer(Tokenizer):
    """``(B, V, C, H, W)`` views -> ``(B, V * P, E)`` patch tokens with positional embeddings.

    Each view is zero padded by ``padding`` pixels on every side, split into ``patch_size`` patches,
    flattened channel-major (as ``nn.Unfold`` does) and embedded by one ``nn.Linear``. The learnable
    positional embedding (init N(0, 1)) has one row per patch of each of ``num_views`` view slots;
    fewer views than slots use the first slots.
    """

    name = "patches"

    def __init__(
        self,
        *,
        image_size: tuple[int, int],
        patch_size: int,
        padding: int,
        in_channels: int,
        num_views: int,
        width: int,
    ):
        super().__init__()
        height, width_px = image_size
        padded = (height + 2 * padding, width_px + 2 * padding)
        if padded[0] % patch_size or padded[1] % patch_size:
            raise ValueError(
                f"image_size={height}x{width_px} with padding={padding} gives {padded[0]}x{padded[1]}, "
                f"which is not divisible by patch_size={patch_size}"
            )
        self.patch_size, self.padding = patch_size, padding
        self.grid = (padded[0] // patch_size, padded[1] // patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.num_tokens = num_views * self.num_patches
        self.proj = nn.Linear(in_channels * patch_size * patch_size, width)
        self.pos_embed = nn.Parameter(torch.randn(num_views * self.num_patches, width))

    @classmethod
    def default_padding(cls, image_size: tuple[int, int], patch_size: int) -> int:
        """The symmetric padding both sides need (an error if they need different amounts)."""
        pads = {symmetric_padding(side, patch_size) for side in image_size}
        if len(pads) > 1:
            raise ValueError(f"image_size={image_size} needs different padding per side; pass padding explicitly")
        return pads.pop()

    @classmethod
    def check(cls, x: Any, model: GeneralizableINR) -> torch.Tensor:
        """``(B, C, H, W)`` images or ``(B, V, C, H, W)`` views of the model's size -> ``(B, V, C, H, W)``."""
        name = type(model).__name__
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
        if channels != model.in_channels:
            raise ValueError(
                f"{name} expects {model.in_channels} input channels, got {channels} (input shape {tuple(x.shape)})"
            )
        if (height, width) != model.image_size:
            raise ValueError(
                f"{name} was built for {model.image_size[0]}x{model.image_size[1]} inputs (image_size), "
                f"got {height}x{width}; resize the input (decoding works at any resolution, encoding at this one)"
            )
        if views > model.num_views:
            raise ValueError(f"{name} was built for at most {model.num_views} views (num_views), got {views}")
        return x

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        batch, num_views, channels, height, width = views.shape
        p, (gh, gw) = self.patch_size, self.grid
        x = views.reshape(batch * num_views, channels, height, width)
        if self.padding:
            x = F.pad(x, (self.padding,) * 4)
        x = x.reshape(batch, num_views, channels, gh, p, gw, p)
        x = x.permute(0, 1, 3, 5, 2, 4, 6).reshape(batch, num_views * gh * gw, channels * p * p)
        return self.proj(x) + self.pos_embed[: num_views * self.num_patches]


def _tokenizer_problem(name: str, cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer) and cls.name == name):
        return f"is not a Tokenizer subclass named {name!r}"
    return None


def list_tokenizers() -> dict[str, type[Tokenizer]]:
    """``{name: tokenizer class}``: the built-in ones and those of installed plug-ins (``ginr.tokenizers``)."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_plugins(TOKENIZER_ENTRY_POINTS, "tokenizer", _tokenizer_problem)  # loading one registers it
    return dict(sorted(_TOKENIZERS.items()))


def get_tokenizer(name: str) -> type[Tokenizer]:
    """A tokenizer's name -> its class, or an error listing the known ones."""
    tokenizers = list_tokenizers()
    try:
        return tokenizers[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown tokenizer {name!r}; choose one of {sorted(tokenizers)} (a tokenizer from another package "
            f"must be installed: it registers through the {TOKENIZER_ENTRY_POINTS} entry points)"
        ) from None
