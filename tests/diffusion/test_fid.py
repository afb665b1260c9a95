"""FID: the Inception network loads the standard weight-file layout, FID behaves, errors say what to do."""

import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ginr_diffusion import InceptionWeightsError, fid, inception_features, load_fid_inception
from ginr_diffusion.convert import main as convert_main
from ginr_diffusion.fid import FID_SAFETENSORS_FILE, FID_WEIGHTS_FILE, FID_WEIGHTS_URL


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def inception(fid_weights):
    return load_fid_inception(fid_weights)


def test_weights_load_strictly_and_features_are_2048_d(fid_weights, inception):
    saved = load_file(fid_weights)
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
    cached = tmp_path / "torch" / "hub" / "checkpoints" / FID_SAFETENSORS_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(fid_weights)
    model = load_fid_inception()
    assert torch.equal(
        model.Mixed_7c.branch_pool.conv.weight, load_file(fid_weights)["Mixed_7c.branch_pool.conv.weight"]
    )


def test_files_that_are_not_the_weights_are_named(tmp_path, fid_weights):
    state = load_file(fid_weights)
    del state["Mixed_6e.branch7x7dbl_4.conv.weight"]
    state["Mixed_6e.extra"] = torch.zeros(1)
    save_file(state, tmp_path / "partial.safetensors")
    with pytest.raises(InceptionWeightsError) as error:
        load_fid_inception(tmp_path / "partial.safetensors")
    message = str(error.value)
    assert str(tmp_path / "partial.safetensors") in message and "Mixed_6e.branch7x7dbl_4.conv.weight" in message
    assert "1 unexpected ['Mixed_6e.extra']" in message
    (tmp_path / "corrupt.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InceptionWeightsError, match="cannot read Inception weights from .*corrupt.safetensors"):
        load_fid_inception(tmp_path / "corrupt.safetensors")


class _Payload:
    """A pickle that runs code when unpickled: it would write ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_pickle_weight_file_is_refused_with_the_command_that_converts_it(tmp_path, fid_weights, capsys):
    pickle = tmp_path / FID_WEIGHTS_FILE
    torch.save(load_file(fid_weights), pickle)  # the standard file is a pickle of this state dict
    converted = tmp_path / FID_SAFETENSORS_FILE
    with pytest.raises(InceptionWeightsError) as error:
        load_fid_inception(pickle)
    assert f"{pickle} is a pickle file" in str(error.value)
    assert f"python -m ginr_diffusion.convert {pickle} {converted}" in str(error.value)
    convert_main([str(pickle), str(converted)])  # the documented command, run once by the user
    model = load_fid_inception(converted)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in load_file(fid_weights).items())
    # a malicious pickle is neither loaded nor converted: nothing in it runs
    marker = tmp_path / "marker"
    torch.save({"x": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(InceptionWeightsError, match="evil.pth is a pickle file"):
        load_fid_inception(tmp_path / "evil.pth")
    with pytest.raises(SystemExit):
        convert_main([str(tmp_path / "evil.pth"), str(tmp_path / "evil.safetensors")])
    err = capsys.readouterr().err
    assert f"cannot read {tmp_path / 'evil.pth'} as tensors" in err
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


def test_a_cached_pickle_is_refused_and_a_download_is_converted(monkeypatch, tmp_path, fid_weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / FID_WEIGHTS_FILE).write_bytes(b"pytorch-fid's download")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InceptionWeightsError) as error:
        load_fid_inception()
    pickle, converted = checkpoints / FID_WEIGHTS_FILE, checkpoints / FID_SAFETENSORS_FILE
    assert f"python -m ginr_diffusion.convert {pickle} {converted}" in str(error.value)
    pickle.unlink()

    def download(url, dst, hash_prefix=None, progress=True):  # torch.hub's checked download of the standard file
        assert url == FID_WEIGHTS_URL and hash_prefix == "6726825d"
        torch.save(load_file(fid_weights), dst)

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    model = load_fid_inception()
    assert [p.name for p in checkpoints.iterdir()] == [FID_SAFETENSORS_FILE]  # converted, the pickle gone
    assert torch.equal(model.fc.weight, load_file(converted)["fc.weight"])
