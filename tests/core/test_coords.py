import math

import pytest
import torch

from ginr_core import FourierFeatures, image_coords, pixel_centers


def test_image_coords_are_pixel_centres_in_ij_order():
    c = image_coords(178, 178)
    assert c.shape == (178, 178, 2) and c.dtype == torch.float32
    assert c[0, 0, 0].item() == pytest.approx(-0.99438, abs=1e-5)
    assert c[-1, -1, 1].item() == pytest.approx(0.99438, abs=1e-5)
    # channel 0 is the row: it varies down the rows and is constant along a row
    assert torch.equal(c[:, 0, 0], c[:, 5, 0]) and torch.equal(c[0, :, 1], c[7, :, 1])
    assert c[1, 0, 0] > c[0, 0, 0] and c[0, 1, 0] == c[0, 0, 0]


def test_image_coords_rectangular_and_formula():
    c = image_coords(3, 5)
    assert c.shape == (3, 5, 2)
    assert torch.allclose(c[:, 0, 0], torch.tensor([-2 / 3, 0.0, 2 / 3]))
    assert torch.allclose(c[0, :, 1], torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8]))
    # a finer grid covers the same range: centres of the x2 grid straddle the x1 centres
    assert torch.allclose(pixel_centers(4).view(2, 2).mean(1), pixel_centers(2))


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_pixel_centers_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive integer"):
        pixel_centers(bad)


def test_fourier_features_match_hand_computation_of_eq2():
    ff = FourierFeatures(d_in=2, d_f=8, sigma=4.0)  # n = 2 frequencies per dimension: 1 and 4
    v = torch.tensor([[0.5, -0.25]])
    pi = math.pi
    args = [pi * 1 * 0.5, pi * 4 * 0.5, pi * 1 * -0.25, pi * 4 * -0.25]  # (dim 0: w0, w1), (dim 1: w0, w1)
    expected = torch.tensor([[math.cos(a) for a in args] + [math.sin(a) for a in args]])
    assert torch.allclose(ff(v), expected, atol=1e-6)
    assert torch.allclose(ff.frequencies(), torch.tensor([1.0, 4.0]))


def test_fourier_frequencies_are_log_spaced_from_one_to_sigma():
    w = FourierFeatures(2, 256, 128.0).frequencies()
    assert w.shape == (64,)
    assert w[0].item() == pytest.approx(1.0) and w[-1].item() == pytest.approx(128.0, rel=1e-5)
    ratios = w[1:] / w[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-4)


def test_fourier_features_are_not_trainable_and_stay_float32():
    ff = FourierFeatures(6, 252, 8.0)
    assert list(ff.parameters()) == [] and ff.out_features == 252
    rays = torch.randn(2, 5, 6, dtype=torch.bfloat16)
    out = ff(rays)
    assert out.shape == (2, 5, 252) and out.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d_in": 2, "d_f": 7, "sigma": 4.0}, "even number >= 2 \\* d_in = 4"),
        ({"d_in": 6, "d_f": 10, "sigma": 4.0}, "even number >= 2 \\* d_in = 12"),
        ({"d_in": 2, "d_f": 8, "sigma": 0.0}, "positive number"),
        ({"d_in": 2, "d_f": 8, "sigma": -1.0}, "positive number"),
        ({"d_in": 0, "d_f": 8, "sigma": 2.0}, "d_in"),
    ],
)
def test_fourier_features_reject_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FourierFeatures(**kwargs)


def test_fourier_features_reject_wrong_coordinate_width():
    with pytest.raises(ValueError, match="last dim 2"):
        FourierFeatures(2, 8, 4.0)(torch.zeros(3, 6))


def test_fourier_features_share_any_even_width_among_the_dimensions():
    """d_F = 256 for rays (d_in = 6): 128 frequency slots, 22 on two coordinates and 21 on four."""
    features = FourierFeatures(6, 256, 8.0)
    assert features.counts == [22, 22, 21, 21, 21, 21] and features.out_features == 256
    coords = torch.rand(5, 6) * 2 - 1
    out = features(coords)
    assert out.shape == (5, 256)
    # dimension 0's cosines use 22 log-spaced frequencies from 1 to sigma; dimension 2's use 21
    w22 = torch.logspace(0, math.log10(8.0), 22)
    torch.testing.assert_close(out[:, :22], torch.cos(math.pi * coords[:, :1] * w22), atol=1e-5, rtol=0)
    w21 = torch.logspace(0, math.log10(8.0), 21)
    torch.testing.assert_close(out[:, 44:65], torch.cos(math.pi * coords[:, 2:3] * w21), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 128 : 128 + 22], torch.sin(math.pi * coords[:, :1] * w22), atol=1e-5, rtol=0)
