"""Shared test setup: offline Hub with a throwaway cache, tiny model configurations."""

import os
import shutil
import tempfile

# Both must hold before huggingface_hub is first imported: it reads them once, at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="ginr-tests-hf-home-")
os.environ["GINR_CACHE"] = tempfile.mkdtemp(prefix="ginr-tests-cache-")  # generated datasets
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="ginr-tests-torch-home-")  # torch.hub downloads (FID weights)

import pytest
import torch

TINY_ENCODER = {
    "image_size": 16,
    "patch_size": 4,
    "encoder_width": 32,
    "encoder_depth": 2,
    "encoder_heads": 2,
    "hidden_dim": 16,
    "fourier_dim": 16,
    "dropout": 0.0,
}
TINY = {
    "locinr": {**TINY_ENCODER, "num_latents": 8, "sigmas": (8.0, 4.0), "sigma_q": 2.0},
    "ipc": {**TINY_ENCODER, "num_latents": 8, "sigma": 8.0},
    "transinr": {**TINY_ENCODER, "sigma": 8.0, "tokens_per_layer": 4},
    "learned_init": {**TINY_ENCODER, "sigma": 8.0, "inner_lr": 0.05},
}
# the NeRF-style families take posed views and rays only: 2 views of 16 px, 8 points per ray
_TINY_NERF = {**TINY_ENCODER, "num_views": 2, "sigma": 8.0, "num_layers": 3, "points_per_ray": 8, "near": 1.0}
TINY["ipc_nerf"] = {**_TINY_NERF, "num_latents": 8}
TINY["transinr_nerf"] = {**_TINY_NERF, "tokens_per_layer": 4}


def tiny_inputs(model, batch: int = 2, num: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded inputs a tiny model takes: images and pixel coordinates, or views and rays."""
    generator = torch.Generator().manual_seed(1)
    if model.d_in == 2:
        return torch.rand(batch, 3, 16, 16, generator=generator), torch.rand(batch, num, 2, generator=generator) * 2 - 1
    views = torch.rand(batch, model.num_views, model.in_channels, 16, 16, generator=generator)
    return views, torch.randn(batch, num, model.d_in, generator=generator)


def tiny_model(family: str, **overrides):
    """A small model of ``family`` ("locinr", "ipc", "transinr"), deterministic from a seed."""
    from ginr_core import get_model_class

    if family not in TINY:
        raise KeyError(f"tests/conftest.py: no tiny settings for model family {family!r}; add them to TINY")
    torch.manual_seed(0)
    return get_model_class(family)(**{**TINY[family], **overrides})


@pytest.fixture(scope="session")
def tiny_scenes(tmp_path_factory):
    """A small rendered light-field dataset in the learnit layout: 6 train + 2 test objects, 8 views of 16 px."""
    from ginr_data.scenes import render_scenes

    return render_scenes(tmp_path_factory.mktemp("scenes"), num_train=6, num_test=2, views=8, resolution=16)


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory):
    """A stand-in for the FID Inception weight file converted to safetensors (``ginr_diffusion.convert``): random
    weights in its exact layout (with the 1008-way fc)."""
    from safetensors.torch import save_file

    from ginr_diffusion import FIDInception

    torch.manual_seed(0)
    model = FIDInception()
    for module in model.modules():  # batch-norm statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.safetensors"
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}  # as in the file
    save_file(state, path, metadata={"format": "pt"})
    return path


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(os.environ["HF_HOME"], ignore_errors=True)
    shutil.rmtree(os.environ["GINR_CACHE"], ignore_errors=True)
    shutil.rmtree(os.environ["TORCH_HOME"], ignore_errors=True)


def _families() -> list[str]:
    from ginr_core import list_families

    return list(list_families())


@pytest.fixture(params=_families())
def family(request) -> str:
    return request.param


@pytest.fixture
def tiny():
    """Factory: ``tiny(family, **overrides)`` -> a small seeded model."""
    return tiny_model


@pytest.fixture
def inputs():
    """Factory: ``inputs(model, batch=2, num=30)`` -> seeded ``(data, coordinates)`` the model takes."""
    return tiny_inputs
