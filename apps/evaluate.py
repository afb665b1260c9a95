"""Evaluate a trained model: mean per-image PSNR at its native and any other resolution.

    python apps/evaluate.py runs/default/model                          # the embedded test photos
    python apps/evaluate.py runs/default/model --resolutions 32 64 128  # also decoded at x2 and x4
    python apps/evaluate.py <user>/locinr-ffhq --data /data/ffhq --protocol ffhq-256 --size 1000

MODEL is a local ``save_pretrained`` folder or a Hub repo id (any ginr model class). Each image is
encoded at the model's resolution and decoded on the full grid at each requested resolution (in
chunks); the target at another resolution is the same image through the evaluation transform at
that size. Writes ``eval.json`` (per-resolution mean PSNR and per-image values) and ``eval.png``
(ground truth and reconstruction at each resolution) into ``--output-dir`` (default: ``eval/`` next to
a local MODEL folder, e.g. ``runs/default/eval``; ``eval/<repo id>`` for a Hub model).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ginr_apps.checkpoints import write_json
from ginr_apps.evaluation import psnr_per_image, reconstruct, source_index
from ginr_apps.reporting import image_grid, save_png
from ginr_core import GeneralizableINR
from ginr_data import image_dataset


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a save_pretrained folder or a Hub repo id")
    parser.add_argument("--data", default="photos", help="image source: photos, a folder, a saved dataset, a Hub id")
    parser.add_argument("--protocol", help="image protocol (ginr_data.IMAGE_PROTOCOLS), e.g. ffhq-256")
    parser.add_argument("--split", default="test")
    parser.add_argument("--size", type=int, help="evaluate the first N images of the split")
    parser.add_argument("--resolutions", type=int, nargs="+", help="decoding resolutions (default: native)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=65536, help="coordinates decoded at a time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, help="where eval.json and eval.png go (default: next to MODEL)")
    parser.add_argument("--image-column", help="image column of a datasets source")
    args = parser.parse_args(argv)

    model = GeneralizableINR.from_pretrained(args.model).to(args.device).eval()
    native = model.image_size[0]
    if model.image_size[0] != model.image_size[1]:
        parser.error(f"the model expects {model.image_size} inputs; only square images are supported here")
    dataset = image_dataset(
        args.data,
        args.split,
        protocol=args.protocol,
        resolution=native if args.protocol is None else None,
        train=False,
        size=args.size,
        image_column=args.image_column,
    )
    resolutions = args.resolutions or [native]
    local = Path(args.model)
    out = args.output_dir or (local.resolve().parent / "eval" if local.is_dir() else Path("eval") / args.model)
    out.mkdir(parents=True, exist_ok=True)

    indices = list(range(len(dataset)))
    results = {"model": args.model, "class": type(model).__name__, "data": args.data, "split": args.split}
    results.update(images=len(indices), native_resolution=native, resolutions={})
    for resolution in resolutions:
        start = time.perf_counter()
        scores = psnr_per_image(
            model, dataset, indices, resolution, args.batch_size, args.chunk_size, device=args.device
        )
        mean = float(np.mean(list(scores.values())))
        results["resolutions"][str(resolution)] = {
            "psnr": mean,
            "seconds": time.perf_counter() - start,
            "per_image": scores,
        }
        print(f"{resolution} x {resolution}: PSNR {mean:.2f} dB over {len(scores)} images", flush=True)

    shown = indices[:6]
    items = [dataset[i] for i in shown]
    images = torch.stack([item["image"] for item in items]).to(args.device)
    rows = []
    for k, item in enumerate(items):
        row = []
        for resolution in resolutions:
            target = images[k] if resolution == native else dataset.render(source_index(dataset, item), resolution)
            row += [target, reconstruct(model, images[k : k + 1], resolution, args.chunk_size)[0]]
        rows.append(row)
    titles = [t for r in resolutions for t in (f"truth {r}px", f"decoded {r}px")]
    save_png(image_grid(rows, cell=max(128, max(resolutions)), titles=titles), out / "eval.png")
    write_json(out / "eval.json", results)
    print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}", flush=True)
    return results


if __name__ == "__main__":
    main()
