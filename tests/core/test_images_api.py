"""ginr_core.preprocess / reconstruct: photos of any size in, reconstructions at any size out."""

import numpy as np
import pytest
import torch
from PIL import Image

from ginr_core import GeneralizableINR, LocalityAwareINR, preprocess, reconstruct


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                            hidden_dim=32, fourier_dim=32, num_latents=8).eval()  # fmt: skip


def _photo(width=70, height=50):
    return Image.effect_mandelbrot((width, height), (-2.0, -1.2, 1.0, 1.2), 80).convert("RGB")


def test_preprocess_resizes_the_shorter_side_and_crops_the_centre_as_the_data_does(model):
    from ginr_data import resize_center_crop, to_tensor

    photo = _photo()
    ours = preprocess(photo, model)
    theirs = to_tensor(resize_center_crop(photo, 16))
    assert ours.shape == (1, 3, 16, 16) and ours.dtype == torch.float32
    assert (ours[0] - theirs).abs().mean() < 0.03  # torch's antialiased bilinear against PIL's
    array = np.array(photo)
    as_array, as_tensor = preprocess(array, model), preprocess(torch.from_numpy(array).permute(2, 0, 1), model)
    assert torch.allclose(as_array, ours, atol=1e-6) and torch.allclose(as_tensor, ours, atol=1e-6)
    grey = preprocess(np.asarray(photo.convert("L")), model)
    assert grey.shape == (1, 3, 16, 16) and torch.equal(grey[:, 0], grey[:, 2])
    assert preprocess([photo, photo.resize((20, 40))], model).shape == (2, 3, 16, 16)


def test_reconstruct_a_photo_of_another_size_at_1x_and_3x(model):
    photo = _photo()
    same, big = reconstruct(model, photo), reconstruct(model, photo, scale=3)
    assert isinstance(same, Image.Image) and same.size == (16, 16) and big.size == (48, 48)
    tensor = reconstruct(model, photo, scale=3, output="tensor")
    latents = model.encode(preprocess(photo, model))
    expected = model.decode(latents, _grid(48)).transpose(1, 2).reshape(1, 3, 48, 48).clamp(0, 1)
    assert torch.allclose(tensor, expected, atol=1e-5)
    assert np.abs(np.asarray(big, dtype=np.float32) / 255 - expected[0].permute(1, 2, 0).detach().numpy()).max() < 0.01
    wide = reconstruct(model, [photo, photo], size=(20, 30))
    assert [p.size for p in wide] == [(30, 20), (30, 20)]
    with pytest.raises(ValueError, match="scale or size"):
        reconstruct(model, photo, scale=2, size=32)
    with pytest.raises(TypeError, match="PIL images, numpy arrays or tensors"):
        reconstruct(model, "photo.jpg")


def test_the_preprocessing_is_saved_with_the_model(model, tmp_path):
    model.preprocessing = {"resize": "shorter_side", "crop": "center", "value_range": [0.0, 1.0]}
    model.save_pretrained(tmp_path)
    loaded = GeneralizableINR.from_pretrained(tmp_path)
    assert loaded.preprocessing == model.preprocessing
    assert torch.equal(reconstruct(loaded, _photo(), output="tensor"), reconstruct(model, _photo(), output="tensor"))


def _grid(side):
    from ginr_core import image_coords

    return image_coords(side, side).view(1, -1, 2)
