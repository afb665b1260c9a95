"""Render unseen views of an object from 1-5 posed support views: a PNG strip and an animated GIF.

    python apps/render.py runs/nvs-default/model                       # a held-out object of the embedded scenes
    python apps/render.py runs/nvs-default/model --item 7 --views 2 --frames 36 --size 128
    python apps/render.py MODEL --data /data/learnit --category cars --item 0 --views 3
    python apps/render.py MODEL --transforms my_object/transforms.json --support 0 4 9   # your own images

MODEL is a local ``save_pretrained`` folder or a Hub repo id of a light-field model. The support
views come from a test item of a dataset (``--data``: ``scenes`` or a learnit-layout folder) or
from your files (``--transforms``: a learnit / NeRF-synthetic ``transforms.json`` and its PNGs,
``--support`` picks the frames). The camera orbits the origin at the support cameras' mean
distance and elevation, around their mean up vector, looking at the origin; each frame is the
colour of every ray of that camera, at any ``--size`` (the light field is continuous; a NeRF-style
model volume-renders each ray).
Writes ``orbit.png`` (support views, then every n-th orbit frame) and ``orbit.gif``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ginr_core import GeneralizableINR, TooLargeError, check_memory, orbit_around, posed_rays, ray_format_of
from ginr_data import ImageLoadError, LightFieldError, light_field_dataset, posed_views

from .cli import at_least, checked_source, fail
from .figures import image_grid, save_gif, save_png
from .guards import run_app
from .tasks.nvs import NovelViewTask

BYTES_PER_PIXEL = 48  # per frame, float32: its ray (6), its colour (3) and the colour's copy on the CPU (3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a save_pretrained folder or a Hub repo id of a light-field model")
    parser.add_argument("--data", default="scenes", help="scenes (embedded) or a learnit-layout folder")
    parser.add_argument("--category", help="the dataset category (cars, chairs, lamps; scenes: shapes)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--item", type=at_least(0), default=0, help="test item whose support views are used")
    parser.add_argument("--transforms", type=Path, help="your own views: a transforms.json and its PNGs")
    parser.add_argument("--support", type=at_least(0), nargs="+", help="frames of --transforms to use as support views")
    parser.add_argument("--views", type=at_least(1), help="number of support views (default: all the model has)")
    parser.add_argument("--frames", type=at_least(1), default=24, help="orbit frames")
    parser.add_argument("--size", type=at_least(1), help="rendered view size in pixels (default: 4x the model's)")
    parser.add_argument("--elevation", type=float, help="orbit elevation in degrees (default: the support cameras')")
    parser.add_argument("--strip", type=at_least(1), default=8, help="orbit frames shown in orbit.png")
    parser.add_argument("--chunk-size", type=at_least(1), default=65536)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, help="default: render/ next to a local MODEL folder")
    args = parser.parse_args(argv)

    try:
        model = GeneralizableINR.from_pretrained(checked_source(args.model, "inr")).to(args.device).eval()
    except (OSError, ValueError) as err:  # not cached offline, a checkpoint that does not load
        fail(str(err))
    if not NovelViewTask.accepts(model):
        parser.error(f"{args.model} is not a light-field model (d_in={model.d_in}, in_channels={model.in_channels})")
    r = model.image_size[0]
    views = args.views or model.num_views
    if not 1 <= views <= model.num_views:
        parser.error(f"--views must be between 1 and {model.num_views} (the model's view slots), got {views}")
    size = args.size or 4 * r
    try:
        check_memory(
            args.frames * size * size * BYTES_PER_PIXEL,
            f"rendering --frames {args.frames} at --size {size}",
            "lower --size or --frames",
        )
    except TooLargeError as err:
        parser.error(str(err))
    try:
        if args.transforms is not None:
            given = posed_views(args.transforms, args.support, resolution=r, ray_format=ray_format_of(model))
            support, poses, focal = given["support"], given["poses"], given["focal"]
            if len(support) > model.num_views:
                parser.error(
                    f"{len(support)} support views given; the model takes at most {model.num_views} (--support)"
                )
            source = str(args.transforms)
        else:
            dataset = light_field_dataset(
                args.data,
                args.split,
                category=args.category,
                resolution=r,
                num_support=views,
                train=False,
                ray_format=ray_format_of(model),
            )
            item = dataset[args.item]
            support, poses, focal = item["support"], item["support_poses"], item["focal"]
            source = f"{args.data} {args.split} item {args.item} (object {item['object']})"
    except (LightFieldError, ImageLoadError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    support = support[:views]
    poses = poses[:views]
    orbit = orbit_around(poses, args.frames, args.elevation)
    rays = posed_rays(orbit, focal * size / r, size, size, ray_format_of(model)).view(args.frames, -1, 6)
    with torch.no_grad():
        latents = model.encode(support[None].to(args.device))
        frames = [
            model.decode(latents, rays[k : k + 1].to(args.device), chunk_size=args.chunk_size).clamp(0, 1)[0]
            for k in tqdm(range(args.frames), desc="rendering frames")
        ]
    frames = [f.T.reshape(3, size, size).cpu() for f in frames]

    local = Path(args.model)
    out = args.output_dir or (local.resolve().parent / "render" if local.is_dir() else Path("render") / args.model)
    out.mkdir(parents=True, exist_ok=True)
    every = max(1, args.frames // args.strip)
    strip = [*support[:, :3], *frames[::every][: args.strip]]
    titles = [f"support {k + 1}" for k in range(len(support))] + [
        f"{k * 360 // args.frames} deg" for k in range(0, args.frames, every)
    ][: args.strip]
    save_png(image_grid([strip], cell=max(size, 96), titles=titles), out / "orbit.png")
    save_gif(frames, out / "orbit.gif")
    print(
        f"rendered {args.frames} views of {source} from {len(support)} support views; wrote {out}/orbit.png, orbit.gif"
    )
    return {"output_dir": str(out), "frames": args.frames, "size": size, "support_views": len(support)}


def run() -> None:
    """The console entry point (``apps/render.py``, ``ginr-render``)."""
    run_app(main)
