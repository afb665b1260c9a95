import math

import numpy as np
import pytest
import torch

from ginr_core import frechet_distance, gaussian_statistics, psnr, silhouette, silhouette_iou


def test_psnr_is_per_sample_with_unit_data_range():
    target = torch.zeros(3, 3, 4, 4)
    pred = target.clone()
    pred[0] += 0.1  # MSE 0.01 -> 20 dB
    pred[1, :, :2] += 0.5  # half the pixels off by 0.5: MSE 0.125 -> 9.03 dB
    values = psnr(pred, target)
    assert values.shape == (3,)
    assert values[0].item() == pytest.approx(20.0, abs=1e-4)
    assert values[1].item() == pytest.approx(-10 * math.log10(0.125), abs=1e-4)
    assert math.isinf(values[2].item())


def test_psnr_mean_of_per_image_values_differs_from_pooled_mse():
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.01)])
    per_image = psnr(pred, target)
    assert per_image.tolist() == pytest.approx([20.0, 40.0], abs=1e-3)
    pooled = -10 * math.log10((0.1**2 + 0.01**2) / 2)
    assert per_image.mean().item() != pytest.approx(pooled, abs=0.1)


def test_psnr_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(2, 3), torch.zeros(2, 4))


def test_frechet_distance_of_diagonal_gaussians_has_the_closed_form():
    # commuting covariances: d^2 = |mu_a - mu_b|^2 + sum (sqrt(s_a) - sqrt(s_b))^2
    mu_a, mu_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s_a, s_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.0])
    expected = (mu_a - mu_b).square().sum() + (s_a.sqrt() - s_b.sqrt()).square().sum()
    value = frechet_distance((mu_a, torch.diag(s_a)), (mu_b, torch.diag(s_b)))
    assert value == pytest.approx(expected.item(), abs=1e-9)


def test_frechet_distance_agrees_with_scipy_sqrtm_and_is_symmetric():
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 6, generator=g) @ torch.randn(6, 6, generator=g)
    b = torch.randn(150, 6, generator=g) @ torch.randn(6, 6, generator=g) + 0.5
    (mu_a, cov_a), (mu_b, cov_b) = gaussian_statistics(a), gaussian_statistics(b)
    assert torch.allclose(cov_a, torch.from_numpy(np.cov(a.double().numpy(), rowvar=False)))
    root = linalg.sqrtm(cov_a.numpy() @ cov_b.numpy()).real
    expected = ((mu_a - mu_b) ** 2).sum().item() + np.trace(cov_a.numpy() + cov_b.numpy() - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_is_finite_for_fewer_samples_than_dimensions():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 64, generator=g), torch.randn(7, 64, generator=g) + 1.0  # singular covariances
    value = frechet_distance(a, b)
    assert math.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(a, b[:, :32])
    with pytest.raises(ValueError, match=r"expected \(N >= 2, D\) features"):
        frechet_distance(a[:1], b)


def test_silhouette_iou_compares_the_pixels_that_differ_from_the_white_background():
    true = torch.ones(3, 16, 3)
    true[:, :8] = torch.tensor([0.2, 0.9, 0.95])  # 8 object pixels (one channel off white is enough)
    pred = torch.ones(3, 16, 3)
    pred[0, :8] = 0.5  # the same silhouette in another colour: IoU 1
    pred[1, 4:12, 1] = 0.85  # half overlapping: 4 / 12; within the 0.1 threshold nothing counts
    pred[1, 12:, :] = 0.95
    iou = silhouette_iou(pred, true)
    assert iou.shape == (3,)
    torch.testing.assert_close(iou, torch.tensor([1.0, 4 / 12, 0.0]))
    assert silhouette_iou(torch.ones(1, 4, 3), torch.full((1, 4, 3), 1.05)).item() == 1.0  # both empty
    assert silhouette(true[0]).tolist() == [True] * 8 + [False] * 8  # the mask the IoU compares
    assert silhouette(pred[1, 10:14], threshold=0.2).tolist() == [False] * 4
    with pytest.raises(ValueError, match=r"silhouette_iou: expected pred and target of one shape \(B, N, C\)"):
        silhouette_iou(torch.ones(2, 4, 3), torch.ones(2, 4))
