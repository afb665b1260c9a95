import math

import pytest
import torch

from ginr_core import psnr


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
