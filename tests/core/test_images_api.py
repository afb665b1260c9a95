"""ginr_core.preprocess / reconstruct: photos of any size in, reconstructions at any size out."""

import numpy as np
import pytest
import torch
from PIL import Image

from ginr_core import GeneralizableINR, LocalityAwareINR, novel_view, preprocess, reconstruct


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
    clear = Image.new("RGBA", (16, 16), (10, 20, 30, 0))  # transparent pixels become white, as the loaders make them
    assert torch.equal(preprocess(clear, model), torch.ones(1, 3, 16, 16))


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


def test_reconstruct_with_test_time_optimisation_decodes_the_refined_latents(model):
    from ginr_core import psnr
    from ginr_core.fitting import refine_latents

    photo = _photo()
    inputs = preprocess(photo, model)
    zero_shot = reconstruct(model, photo, output="tensor")
    refined = reconstruct(model, photo, output="tensor", refine_steps=40)
    assert float(psnr(refined, inputs)) > float(psnr(zero_shot, inputs)) + 1.0
    fit = refine_latents(model, inputs, model.encode(inputs), steps=40, progress=False)
    big = reconstruct(model, photo, scale=2, output="tensor", refine_steps=40)
    expected = model.decode(fit.latents, _grid(32)).transpose(1, 2).reshape(1, 3, 32, 32).clamp(0, 1)
    assert torch.allclose(big, expected, atol=1e-5)  # the same steps, decoded at any resolution
    assert all(p.requires_grad for p in model.parameters())  # the model is left as it was
    with pytest.raises(ValueError, match="refine_steps must be a whole number >= 0, got -1"):
        reconstruct(model, photo, refine_steps=-1)


def test_the_preprocessing_is_saved_with_the_model(model, tmp_path):
    model.preprocessing = {"resize": "shorter_side", "crop": "center", "value_range": [0.0, 1.0]}
    model.save_pretrained(tmp_path)
    loaded = GeneralizableINR.from_pretrained(tmp_path)
    assert loaded.preprocessing == model.preprocessing
    assert torch.equal(reconstruct(loaded, _photo(), output="tensor"), reconstruct(model, _photo(), output="tensor"))


def _grid(side):
    from ginr_core import image_coords

    return image_coords(side, side).view(1, -1, 2)


def test_novel_view_renders_a_new_camera_from_posed_views(tiny):
    from ginr_core import look_at, posed_rays

    model = tiny("locinr", in_channels=9, num_views=3, d_in=6, fourier_dim=24).eval()
    eye = torch.tensor([[3.0, 0.0, 1.0], [0.0, 3.0, 1.0], [-3.0, 0.0, 1.0]])
    poses = torch.stack([look_at(e, torch.zeros(3)) for e in eye])
    views = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # 32 px views of a 16 px model
    camera = look_at(torch.tensor([2.0, 2.0, 1.5]), torch.zeros(3))
    image = novel_view(model, views, poses, 40.0, camera, size=24)
    rgb = preprocess(list(views), model)
    support = torch.cat([rgb, posed_rays(poses, 20.0, 16, 16).permute(0, 3, 1, 2)], 1)[None]
    rays = posed_rays(camera, 20.0 * 24 / 16, 24, 24).reshape(1, -1, 6)
    expected = model.decode(model.encode(support), rays)[0].T.reshape(3, 24, 24).clamp(0, 1)
    assert image.shape == (3, 24, 24) and torch.allclose(image, expected, atol=1e-5)
    pictures = [_photo(32, 32) for _ in range(3)]
    assert novel_view(model, pictures, poses, 40.0, camera).size == (16, 16)  # PIL in, PIL out
    with pytest.raises(ValueError, match=r"poses must be \(3, 4, 4\)"):
        novel_view(model, views, poses[:2], 40.0, camera)


def test_16_bit_photos_are_scaled_as_the_loaders_scale_them(model):
    from ginr_data import to_tensor
    from ginr_data.images import to_rgb

    deep = Image.fromarray(np.full((20, 20), 30000, dtype=np.uint16))  # mode I;16
    ours = preprocess(deep, model)
    theirs = to_tensor(to_rgb(deep, "deep.png").resize((16, 16)))
    assert torch.allclose(ours[0], theirs, atol=1 / 255 + 1e-6)
