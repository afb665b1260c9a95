import pytest
import torch
import torch.nn.functional as F

from ginr_core import LocalityAwareINR, image_coords, psnr, render_image


def _photo(size=32) -> torch.Tensor:
    """A real photograph shipped with scikit-image (public domain): the astronaut's face, 32 x 32."""
    skimage_data = pytest.importorskip("skimage.data")
    img = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1).float() / 255
    return F.interpolate(img[None, :, 0:256, 128:384], size=(size, size), mode="area")


def test_tiny_locinr_overfits_one_real_image():
    torch.manual_seed(0)
    image = _photo()
    model = LocalityAwareINR(
        image_size=32,
        patch_size=4,
        encoder_width=64,
        encoder_depth=2,
        encoder_heads=4,
        num_latents=16,
        hidden_dim=64,
        fourier_dim=64,
        sigmas=(32.0, 16.0),
        sigma_q=8.0,
        dropout=0.0,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    coords = image_coords(32, 32).view(1, -1, 2)
    target = image.permute(0, 2, 3, 1).reshape(1, -1, 3)
    flat = psnr(target.mean(dim=1, keepdim=True).expand_as(target), target).item()
    for _ in range(300):
        loss = F.mse_loss(model(image, coords), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        fit = psnr(model(image, coords), target).item()
        # the continuous function also renders the image at twice the resolution, close to the original
        big = render_image(model, model.encode(image), 64)
    assert fit > 33.0, f"PSNR after 300 steps: {fit:.2f} dB (flat colour: {flat:.2f} dB)"
    assert psnr(F.avg_pool2d(big, 2), image).item() > 25.0
