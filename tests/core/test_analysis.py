"""Locality maps and scores (Fig. 5, Fig. 12), test-time optimisation and FFNet (Sec. 4.5, Fig. 7)."""

import math

import pytest
import torch

from ginr_core import image_coords
from ginr_core.analysis import locality_scores, token_difference_maps
from ginr_core.fitting import FFNet, fit_ffnet, refine_decoder, refine_latents
from ginr_core.models.ipc import IPC


def _photo(size=32, seed=0):
    """A smooth random image with some structure: a few blurred blobs."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


class FirstTokenIPC(IPC):
    """An IPC whose decoder provably reads token 0 only (the others are masked out before composing)."""

    def _prepare(self, latents):
        mask = torch.zeros_like(latents)
        mask[:, 0] = 1
        return super()._prepare(latents * mask)


# ------------------------------------------------------------------ locality maps
def test_a_token_the_decoder_ignores_has_a_zero_difference_map(tiny, family):
    model = tiny(family).eval()
    if model.d_in != 2:
        pytest.skip("images only here")
    latents = model.encode(torch.rand(2, 3, 16, 16))
    last = latents.shape[1] - 1
    latents[:, last] = 0  # already zero: replacing it by zero changes nothing, exactly
    coords = image_coords(16).view(1, -1, 2)
    maps = token_difference_maps(model, latents, coords, tokens=[0, last])
    assert maps.shape == (2, 2, 256) and torch.equal(maps[:, 1], torch.zeros(2, 256))
    scores = locality_scores(maps, 16, 16)
    assert (scores["area"][:, 1] == 0).all() and torch.isnan(scores["centre"][:, 1]).all()
    if last > 0:
        assert (scores["area"][:, 0] > 0).all()  # every family reads its first token


def test_only_the_tokens_a_decoder_reads_move_its_output(tiny):
    settings = {k: v for k, v in tiny("ipc").config.items()}
    torch.manual_seed(0)
    model = FirstTokenIPC(**settings).eval()
    latents = model.encode(torch.rand(1, 3, 16, 16))
    maps = token_difference_maps(model, latents, image_coords(16).view(1, -1, 2), chunk_size=50)
    assert maps.shape == (1, 8, 256)
    assert maps[0, 0].abs().sum() > 0 and torch.equal(maps[0, 1:], torch.zeros(7, 256))


def test_locality_scores_on_known_maps():
    h = w = 10
    maps = torch.zeros(1, 3, h * w)
    maps[0, 0, 0] = 1.0  # one pixel: the top-left corner
    maps[0, 1] = 1.0  # every pixel alike
    maps[0, 2, [55, 56]] = torch.tensor([2.0, 1.0])  # 90 % of (4 + 1) needs both pixels
    scores = locality_scores(maps, h, w)
    torch.testing.assert_close(scores["area"][0], torch.tensor([0.01, 0.9, 0.02]))
    corner = -1 + 1 / h
    torch.testing.assert_close(scores["centre"][0, 0], torch.tensor([corner, corner]))
    torch.testing.assert_close(scores["centre"][0, 1], torch.tensor([0.0, 0.0]), atol=1e-6, rtol=0)
    assert 0 < scores["spread"][0] < math.sqrt(2)
    with pytest.raises(ValueError, match="maps must be"):
        locality_scores(maps, 9, 10)
    with pytest.raises(ValueError, match="token indices"):
        token_difference_maps(None, torch.zeros(1, 4, 2), torch.zeros(1, 3, 2), tokens=[4])


# ------------------------------------------------------------------ test-time optimisation and FFNet
def test_ffnet_overfits_one_32px_crop_above_40_db():
    image = _photo(32)
    result = fit_ffnet(image, steps=400, lr=2e-3, eval_every=50, progress=False, sigma=4.0)
    assert result.best_psnr > 40, result.history[-1]
    assert result.history[0]["step"] == 0 and result.history[0]["psnr"] < 20  # random initialisation
    assert isinstance(result.ffnet, FFNet) and result.ffnet(image_coords(32).view(1, -1, 2)).shape == (1, 1024, 3)


def test_ffnet_instances_are_independent_and_reproducible():
    a = FFNet(2, generator=torch.Generator().manual_seed(1))
    b = FFNet(2, generator=torch.Generator().manual_seed(1))
    coords = torch.rand(1, 5, 2)
    assert torch.equal(a(coords), b(coords)) and not torch.equal(a(coords)[0], a(coords)[1])
    # Tancik et al.'s sigmoid output, or the INRs' linear output + 0.5 from the same weights
    out = a(coords)
    assert out.min() > 0 and out.max() < 1
    linear = FFNet(2, sigmoid=False, generator=torch.Generator().manual_seed(1))(coords)
    assert torch.allclose(torch.sigmoid(linear - 0.5), out, atol=1e-6)


@pytest.mark.parametrize("mode", ["latents", "decoder"])
def test_tto_returns_the_best_of_its_history_never_below_zero_shot(tiny, mode):
    model = tiny("locinr").eval()
    images = torch.cat([_photo(16, seed=1), _photo(16, seed=2)])
    refine = refine_latents if mode == "latents" else refine_decoder
    result = refine(model, images, steps=30, lr=1e-2 if mode == "latents" else 1e-3, eval_every=5, progress=False)
    zero_shot = result.history[0]["psnr"]
    best = max(h["psnr"] for h in result.history)
    assert result.best_psnr == best >= zero_shot and best > zero_shot + 0.5  # it improves the fit
    assert [h["step"] for h in result.history] == [0, 5, 10, 15, 20, 25, 30]
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(result.history, result.history[1:]))
    coords = image_coords(16).view(1, -1, 2)
    targets = images.permute(0, 2, 3, 1).reshape(2, -1, 3)
    with torch.no_grad():
        if mode == "latents":
            assert result.latents.shape == model.encode(images).shape
            out = model.decode(result.latents, coords)
        else:
            out = torch.cat([m.decode(m.encode(images[i : i + 1]), coords) for i, m in enumerate(result.models)])
            assert all(not p.requires_grad for m in result.models for p in m.parameters())
    from ginr_core import psnr

    assert float(psnr(out, targets).mean()) == pytest.approx(result.best_psnr, abs=1e-3)
    # the model handed in is left as it was
    assert all(p.requires_grad for p in model.parameters())


def test_tto_refines_at_another_resolution_and_with_a_time_budget(tiny):
    model = tiny("ipc").eval()
    images = _photo(16, seed=3)
    latents = model.encode(images)
    big = _photo(24, seed=3)  # decoding is continuous: fit the same latents to a 24 px image
    result = refine_latents(model, big, latents, seconds=0.5, eval_every=3, progress=False)
    assert result.history[-1]["seconds"] >= 0.5 and result.latents.shape == latents.shape
    with pytest.raises(ValueError, match="give steps or seconds"):
        refine_latents(model, big, latents, progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        refine_latents(model, big, latents, steps=1, optimizer="lbfgs", progress=False)
