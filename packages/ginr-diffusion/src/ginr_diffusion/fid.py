"""Fréchet Inception Distance (FID) of generated images against a reference image set.

FID (Heusel et al., 2017) is the Fréchet distance between Gaussians fitted to the 2048-d final
pool features of the Inception-v3 that TensorFlow's reference FID code uses. Its weights, ported
to PyTorch by pytorch-fid (``pt_inception-2015-12-05-6726825d.pth``, 91 MB), are the ones every
published PyTorch FID is computed with. That network is not torchvision's Inception-v3: three of
its average pools ignore padding (TensorFlow's convention), the last block max-pools, and its
classifier has 1008 classes. ``FIDInception`` below is that network written out (no torchvision
needed); its parameter names follow the weight file, so the file loads strictly.

Weights: a local safetensors file (``weights=PATH``), else torch.hub's cache
(``$TORCH_HOME/hub/checkpoints``, shared with pytorch-fid), else downloaded there once. ginr reads
safetensors only: the standard ``.pth`` is a pickle, refused with the command that converts it once
(``python -m ginr_diffusion.convert X.pth X.safetensors``, ``ginr_diffusion.convert``). The one
``.pth`` that ginr converts itself is the one it downloads from ``FID_WEIGHTS_URL`` (checked by
torch.hub against the hash in its name), into ``FID_SAFETENSORS_FILE`` beside it. Offline
(``HF_HUB_OFFLINE=1``, which ginr honours for every download) or when the download fails,
``InceptionWeightsError`` says where to put the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ginr_core import frechet_distance

from .convert import convert, pickle_refusal

__all__ = [
    "FID_SAFETENSORS_FILE",
    "FID_WEIGHTS_FILE",
    "FID_WEIGHTS_URL",
    "FIDInception",
    "InceptionWeightsError",
    "fid",
    "inception_features",
    "load_fid_inception",
]

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_WEIGHTS_FILE}"
FID_SAFETENSORS_FILE = FID_WEIGHTS_FILE.removesuffix(".pth") + ".safetensors"  # what ginr reads
_HASH_PREFIX = "6726825d"  # of the file's sha256 (torch.hub's convention: in the file name)


class InceptionWeightsError(RuntimeError):
    """The FID Inception weights are neither at the given path nor in the cache, and cannot be downloaded."""


class _Conv(nn.Module):
    """Convolution (no bias) -> batch norm (eps 1e-3, TensorFlow's) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)  # TF: padding not averaged


class _BlockA(nn.Module):
    """35 x 35 block: 1x1 | 5x5 | double 3x3 | pool -> 64 + 64 + 96 + ``pool_features`` channels."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = _Conv(cin, 48, 1), _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = _Conv(64, 96, 3, padding=1), _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat(
            [self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)), double, self.branch_pool(_avg_pool(x))], 1
        )


class _ReductionB(nn.Module):
    """35 -> 17: strided 3x3 | strided double 3x3 | max pool -> 384 + 96 + ``cin`` channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = _Conv(cin, 64, 1), _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _BlockC(nn.Module):
    """17 x 17 block with factorised 7x7 convolutions (``c7`` inner channels) -> 4 x 192 channels."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1, self.branch7x7_2 = _Conv(cin, c7, 1), _Conv(c7, c7, **row)
        self.branch7x7_3 = _Conv(c7, 192, **col)
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2, self.branch7x7dbl_3 = _Conv(c7, c7, **col), _Conv(c7, c7, **row)
        self.branch7x7dbl_4, self.branch7x7dbl_5 = _Conv(c7, c7, **col), _Conv(c7, 192, **row)
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), single, double, self.branch_pool(_avg_pool(x))], 1)


class _ReductionD(nn.Module):
    """17 -> 8: 1x1 + strided 3x3 | 1x1, 1x7, 7x1, strided 3x3 | max pool -> 320 + 192 + ``cin`` channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = _Conv(cin, 192, 1), _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tower = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            tower = layer(tower)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), tower, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _BlockE(nn.Module):
    """8 x 8 block with split 1x3 / 3x1 outputs -> 320 + 768 + 768 + 192 = 2048 channels.

    The FID network's last block max-pools its pool branch (``max_pool=True``); the one before averages.
    """

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.max_pool = max_pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a, self.branch3x3_2b = _Conv(384, 384, **row), _Conv(384, 384, **col)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = _Conv(cin, 448, 1), _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a, self.branch3x3dbl_3b = _Conv(384, 384, **row), _Conv(384, 384, **col)
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            1,
        )


class FIDInception(nn.Module):
    """The FID Inception-v3: images ``(B, 3, H, W)`` in ``[0, 1]`` -> pool features ``(B, 2048)``.

    Inputs are resized to 299 x 299 (bilinear, no corner alignment) and mapped to ``[-1, 1]`` as the
    reference implementation does; one-channel images are repeated to RGB. The 1008-way classifier
    of the weight file (``fc``) is kept so the file loads strictly, but FID never uses it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _BlockA(192, 32), _BlockA(256, 64), _BlockA(288, 64)
        self.Mixed_6a = _ReductionB(288)
        self.Mixed_6b, self.Mixed_6c = _BlockC(768, 128), _BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = _BlockC(768, 160), _BlockC(768, 192)
        self.Mixed_7a = _ReductionD(768)
        self.Mixed_7b, self.Mixed_7c = _BlockE(1280, max_pool=False), _BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"FIDInception: expected images (B, 1 or 3, H, W), got shape {tuple(images.shape)}")
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c):
            x = block(x)
        for block in (self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _unavailable(reason: str, cached: Path) -> InceptionWeightsError:
    pickle = cached.with_name(FID_WEIGHTS_FILE)
    return InceptionWeightsError(
        f"FID needs the Inception-v3 weights of pytorch-fid ({FID_WEIGHTS_FILE}, 91 MB) and {reason}. "
        f"Download {FID_WEIGHTS_URL} where there is network to {pickle} and convert it once: "
        f"python -m ginr_diffusion.convert {pickle} {cached} (then it is used from there), or pass a converted "
        "file (--inception-weights PATH.safetensors, or weights=PATH)."
    )


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix != ".safetensors":
        raise InceptionWeightsError(pickle_refusal(path))
    try:
        from safetensors.torch import load_file

        return load_file(str(path))
    except Exception as error:
        raise InceptionWeightsError(f"cannot read Inception weights from {path}: {error}") from error


def _download(cached: Path) -> None:
    """Download the standard ``.pth`` (hash-checked by torch.hub) and convert it to ``cached`` (safetensors)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as folder:
        pickle = Path(folder) / FID_WEIGHTS_FILE
        torch.hub.download_url_to_file(FID_WEIGHTS_URL, str(pickle), hash_prefix=_HASH_PREFIX, progress=True)
        convert(pickle, cached)


def load_fid_inception(weights: str | os.PathLike | None = None, device=None) -> FIDInception:
    """The FID Inception-v3 in eval mode, with weights from ``weights`` (a ``.safetensors`` file) or
    torch.hub's cache (``FID_SAFETENSORS_FILE``, downloaded and converted there once unless offline).

    Raises:
        InceptionWeightsError: no file, offline or a failed download, a pickle (``.pth``: the
            message gives the command that converts it), or a file that is not these weights (the
            message names the file and the keys).
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / FID_SAFETENSORS_FILE
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise _unavailable(f"there is no file at {path}", cached)
    else:
        path = cached
        if not path.is_file() and cached.with_name(FID_WEIGHTS_FILE).is_file():  # pytorch-fid's download
            raise InceptionWeightsError(pickle_refusal(cached.with_name(FID_WEIGHTS_FILE), cached))
        if not path.is_file():
            if _offline():
                raise _unavailable("they are not cached here while HF_HUB_OFFLINE is set", cached)
            try:
                _download(cached)
            except Exception as error:
                raise _unavailable(f"downloading them failed ({type(error).__name__}: {error})", cached) from error
    state = _read_weights(path)
    model = FIDInception()
    # TF ports carry no batch-norm batch counts: compare everything else
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k for k in state if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(set(expected) - given), sorted(given - set(expected))
    wrong = [k for k in expected if k in given and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise InceptionWeightsError(
            f"{path} does not hold the FID Inception-v3 weights ({FID_WEIGHTS_FILE}): "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} with other shapes {wrong[:3]}"
        )
    model.load_state_dict(state, strict=False)
    return model.eval().requires_grad_(False).to(device)


@torch.no_grad()
def inception_features(
    model: FIDInception, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 50
) -> torch.Tensor:
    """``(N, 2048)`` float64 pool features of images ``(N, C, H, W)`` in ``[0, 1]`` (or an iterable of batches)."""
    device = next(model.parameters()).device
    batches = images.split(batch_size) if isinstance(images, torch.Tensor) else images
    return torch.cat([model(batch.to(device)).double().cpu() for batch in batches])


def fid(
    generated: torch.Tensor | Iterable[torch.Tensor],
    reference: torch.Tensor | Iterable[torch.Tensor],
    model: FIDInception | None = None,
    batch_size: int = 50,
) -> float:
    """FID between two image sets ``(N, C, H, W)`` in ``[0, 1]`` (lower is better; 0 for identical sets).

    Both sets are resized to 299 x 299 by the network, so their resolutions may differ. Reported FIDs
    use at least a few thousand images per set; with fewer the estimate is biased upwards.
    """
    model = model if model is not None else load_fid_inception()
    return frechet_distance(
        inception_features(model, generated, batch_size), inception_features(model, reference, batch_size)
    )
