"""FID: the Inception network loads the standard weight-file layout, FID behaves, errors say what to do."""

import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ginr_diffusion import InceptionWeightsError, fid, inception_features, load_fid_inception
from ginr_diffusion.fid import FID_WEIGHTS_FILE, FID_WEIGHTS_URL


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def inception(fid_weights):
    return load_fid_inception(fid_weights)


def test_weights_load_strictly_and_features_are_2048_d(fid_weights, inception):
    saved = torch.load(fid_weights, weights_only=True)
    loaded = inception.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)  # every tensor of the file, fc included
    assert len(saved) == 472 and sum(v.numel() for v in saved.values()) == 23_885_392
    assert not inception.training and not any(p.requires_grad for p in inception.parameters())
    x = _smooth_images(3, 0)
    features = inception_features(inception, x, batch_size=2)
    assert features.shape == (3, 2048) and features.dtype == torch.float64
    # one-channel images are read as grey RGB; any input size is resized to 299 first
    grey = x.mean(1, keepdim=True)
    assert torch.allclose(inception(grey), inception(grey.expand(-1, 3, -1, -1)))
    with pytest.raises(ValueError, match=r"expected images \(B, 1 or 3, H, W\)"):
        inception(torch.rand(2, 4, 8, 8))


@pytest.mark.slow
def test_fid_is_zero_for_one_set_order_free_and_grows_with_distortion(inception):
    x = _smooth_images(10, 1)
    feats = inception_features(inception, x)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    assert fid(x, x, inception) == pytest.approx(0.0, abs=1e-6)
    assert fid(x.flip(0), x, inception) == pytest.approx(0.0, abs=1e-6)  # a set, not a sequence
    slight = fid((x + 0.02 * noise).clamp(0, 1), x, inception)
    strong = fid((x + 0.3 * noise).clamp(0, 1), x, inception)
    other = fid(_smooth_images(10, 3), x, inception)
    assert 0 < slight < strong and slight < other
    assert feats.std(0).mean() > 0  # the features do tell images apart


def test_offline_without_weights_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InceptionWeightsError) as error:
        load_fid_inception()
    message = str(error.value)
    assert "HF_HUB_OFFLINE" in message and FID_WEIGHTS_URL in message and "--inception-weights" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / FID_WEIGHTS_FILE) in message
    with pytest.raises(InceptionWeightsError, match="there is no file at /nowhere/weights.pth"):
        load_fid_inception("/nowhere/weights.pth")


def test_a_failed_download_is_reported_with_its_cause(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def no_network(url, dst, hash_prefix=None, progress=True):
        calls.append((url, Path(dst).name, hash_prefix))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(InceptionWeightsError, match="downloading them failed \\(URLError"):
        load_fid_inception()
    assert calls == [(FID_WEIGHTS_URL, FID_WEIGHTS_FILE, "6726825d")]  # torch.hub checks the file's sha256 prefix


def test_cached_weights_are_used_offline(monkeypatch, tmp_path, fid_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / FID_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(fid_weights)
    model = load_fid_inception()
    assert torch.equal(
        model.Mixed_7c.branch_pool.conv.weight, torch.load(fid_weights)["Mixed_7c.branch_pool.conv.weight"]
    )


def test_files_that_are_not_the_weights_are_named(tmp_path, fid_weights):
    state = torch.load(fid_weights, weights_only=True)
    del state["Mixed_6e.branch7x7dbl_4.conv.weight"]
    state["Mixed_6e.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(InceptionWeightsError) as error:
        load_fid_inception(tmp_path / "partial.pth")
    message = str(error.value)
    assert str(tmp_path / "partial.pth") in message and "Mixed_6e.branch7x7dbl_4.conv.weight" in message
    assert "1 unexpected ['Mixed_6e.extra']" in message
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InceptionWeightsError, match="cannot read Inception weights from .*corrupt.pth"):
        load_fid_inception(tmp_path / "corrupt.pth")
