"""Evaluate a trained model: per-image PSNR at any resolution, or novel-view PSNR per number of views.

    python apps/evaluate.py runs/default/model                          # the embedded test photos
    python apps/evaluate.py runs/default/model --resolutions 32 64 128  # also decoded at x2 and x4
    python apps/evaluate.py <user>/locinr-ffhq --data /data/ffhq --protocol ffhq-256 --size 1000

MODEL is a local ``save_pretrained`` folder or a Hub repo id (any ginr model class). Each image is
encoded at the model's resolution and decoded on the full grid at each requested resolution (in
chunks); the target at another resolution is the same image through the evaluation transform at
that size. Writes ``eval.json`` (per-resolution mean PSNR and per-image values) and ``eval.png``
(ground truth and reconstruction at each resolution) into ``--output-dir`` (default: ``eval/`` next to
a local MODEL folder, e.g. ``runs/default/eval``; ``eval/<repo id>`` for a Hub model).

A light-field model (novel view synthesis) is scored with the paper's Fig. 4a protocol instead:
each test object is repeated ``--repeats`` times with seeded random support and query views drawn
from all its views, and the novel view is predicted from the first 1, 2, ... ``--views`` support
views of each item (paired: the same items for every count). The two trivial baselines (the mean
colour of the support views; the support view nearest to the novel camera) are scored on the same
items::

    python apps/evaluate.py runs/nvs-default/model                      # the embedded scenes' test objects
    python apps/evaluate.py MODEL --data /data/learnit --category cars --views 1 2 3 4 5 --repeats 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ginr_apps.checkpoints import write_json
from ginr_apps.evaluation import (
    nearest_support_view,
    nvs_psnr,
    psnr_per_image,
    reconstruct,
    source_index,
    support_mean_colour,
)
from ginr_apps.reporting import image_grid, save_png
from ginr_apps.tasks import NovelViewTask
from ginr_core import GeneralizableINR
from ginr_data import ImageLoadError, LightFieldError, image_dataset, light_field_dataset


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a save_pretrained folder or a Hub repo id")
    parser.add_argument(
        "--data",
        help="images: photos (default), a folder, a saved dataset, a Hub id; light fields: scenes (default), a folder",
    )
    parser.add_argument("--protocol", help="image protocol (ginr_data.IMAGE_PROTOCOLS), e.g. ffhq-256")
    parser.add_argument("--split", default="test")
    parser.add_argument("--size", type=int, help="evaluate the first N images of the split")
    parser.add_argument("--resolutions", type=int, nargs="+", help="decoding resolutions (default: native)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=65536, help="coordinates decoded at a time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, help="where eval.json and eval.png go (default: next to MODEL)")
    parser.add_argument("--image-column", help="image column of a datasets source")
    parser.add_argument("--category", help="light fields: cars, chairs, lamps (learnit); the scenes: shapes")
    parser.add_argument("--views", type=int, nargs="+", help="light fields: numbers of support views (default 1..V)")
    parser.add_argument("--repeats", type=int, default=100, help="light fields: seeded draws per test object")
    args = parser.parse_args(argv)

    model = GeneralizableINR.from_pretrained(args.model).to(args.device).eval()
    if model.d_in == 6:
        try:
            return evaluate_views(model, args, parser)
        except (LightFieldError, ImageLoadError) as err:
            raise SystemExit(f"error: {err}") from None
    args.data = args.data or "photos"
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


def evaluate_views(model: GeneralizableINR, args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    views = args.views or list(range(1, model.num_views + 1))
    if min(views) < 1 or max(views) > model.num_views:
        parser.error(f"--views must lie in 1..{model.num_views} (the model's view slots), got {views}")
    source = args.data or "scenes"
    dataset = light_field_dataset(
        source,
        args.split,
        category=args.category,
        resolution=model.image_size[0],
        num_support=max(views),
        train=False,
        repeats=args.repeats,
    )
    indices = list(range(len(dataset) if args.size is None else min(args.size, len(dataset))))
    local = Path(args.model)
    out = args.output_dir or (local.resolve().parent / "eval" if local.is_dir() else Path("eval") / args.model)
    out.mkdir(parents=True, exist_ok=True)
    results = {"model": args.model, "class": type(model).__name__, "data": source, "split": args.split}
    results.update(items=len(indices), objects=len(dataset.objects), repeats=dataset.repeats, views={})
    start = time.perf_counter()
    predictors = {
        "model": None,
        "support mean colour": support_mean_colour,
        "nearest support view": nearest_support_view,
    }
    for name, predict in predictors.items():
        scores = nvs_psnr(
            model if predict is None else None,
            dataset,
            indices,
            views,
            args.batch_size,
            args.chunk_size,
            args.device,
            predict=predict,
        )
        for v, per_item in scores.items():
            entry = results["views"].setdefault(str(v), {})
            entry[name] = float(np.mean(list(per_item.values())))
            if predict is None:
                entry["per_item"] = per_item
    results["seconds"] = time.perf_counter() - start
    print(f"{'views':>5} {'model':>8} {'mean colour':>12} {'nearest view':>13}  (PSNR dB, {len(indices)} items)")
    for v, entry in results["views"].items():
        print(
            f"{v:>5} {entry['model']:>8.2f} {entry['support mean colour']:>12.2f} "
            f"{entry['nearest support view']:>13.2f}",
            flush=True,
        )
    save_png(NovelViewTask.picture(model, dataset, indices[:6], max(views), args.device), out / "eval.png")
    write_json(out / "eval.json", results)
    print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}", flush=True)
    return results


if __name__ == "__main__":
    main()
