"""A first look at ginr in under a minute on a laptop CPU.

    python apps/quickstart.py [--steps 300] [--output-dir outputs/quickstart]

Fits a small locality-aware INR to one real photograph (the public-domain astronaut image that
scikit-image ships, 32 x 32), then uses it as a continuous function: decodes the image at 4x the
resolution, saves the model with ``save_pretrained`` and loads it back with ``from_pretrained``.
Writes ``reconstruction.png`` (input | fit | 4x decode) and ``model/`` into the output directory.

This is a toy: a single image, so the encoder learns nothing general. ``apps/train.py`` trains a
generalizable model on a dataset.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import trange

from ginr_core import LocalityAwareINR, image_coords, psnr

SIZE = 32


def load_photo(size: int = SIZE) -> torch.Tensor:
    """``(1, 3, size, size)`` crop of scikit-image's astronaut photograph, pixels in [0, 1]."""
    from skimage import data

    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    return F.interpolate(photo[None, :, 0:256, 128:384], size=(size, size), mode="area")


def to_pil(image: torch.Tensor, scale: int) -> Image.Image:
    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pil = Image.fromarray(array)
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/quickstart"))
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    image = load_photo()
    model = LocalityAwareINR(
        image_size=SIZE,
        patch_size=4,
        encoder_width=64,
        encoder_depth=2,
        encoder_heads=4,
        num_latents=16,
        hidden_dim=64,
        fourier_dim=64,
        sigmas=(16.0, 8.0),
        sigma_q=4.0,
        dropout=0.0,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    coords = image_coords(SIZE, SIZE).view(1, -1, 2)
    target = image.permute(0, 2, 3, 1).reshape(1, -1, 3)

    bar = trange(args.steps, desc="fitting", unit="step")
    for step in bar:
        prediction = model(image, coords)
        loss = F.mse_loss(prediction, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == args.steps - 1:
            bar.set_postfix(psnr=f"{psnr(prediction.detach(), target).item():.2f} dB", refresh=False)

    model.eval()
    with torch.no_grad():
        latents = model.encode(image)
        fit = model.render_image(latents, SIZE)
        upsampled = model.render_image(latents, 4 * SIZE)
    result = {"steps": args.steps, "psnr_db": round(psnr(fit, image).item(), 2)}

    args.output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output_dir / "model")
    reloaded = LocalityAwareINR.from_pretrained(args.output_dir / "model")
    with torch.no_grad():
        assert torch.equal(reloaded.render_image(reloaded.encode(image), SIZE), fit), "reloaded model differs"

    panels = [to_pil(image[0], 4), to_pil(fit[0], 4), to_pil(upsampled[0], 1)]
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height), "white")
    for i, panel in enumerate(panels):
        canvas.paste(panel, (i * (panel.width + 8), 0))
    canvas.save(args.output_dir / "reconstruction.png")
    (args.output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"PSNR {result['psnr_db']:.2f} dB after {args.steps} steps; wrote {args.output_dir / 'reconstruction.png'} "
        f"(input | fit | 4x decode) and {args.output_dir / 'model'}"
    )
    return result


if __name__ == "__main__":
    main()
