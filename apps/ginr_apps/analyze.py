"""The paper's analyses of a trained model: locality maps (Fig. 5, Fig. 12) and test-time optimisation (Fig. 7).

    python apps/analyze.py locality runs/default                 # which pixels each latent token controls
    python apps/analyze.py locality runs/nvs-default --items 3   # light fields: over a rendered novel view
    python apps/analyze.py fit runs/default --images 10 --seconds 30

MODEL is a run folder (its ``model/``), a ``save_pretrained`` folder or a Hub repo id, of any family.

``locality``: for each of ``--items`` test instances, replaces latent token k by zeros and draws
``|| decode(Z with z_k = 0) - decode(Z) ||`` over the pixels (images: the instance's grid; light
fields: the rays of the item's novel view), for ``--tokens`` tokens drawn at random (seeded) or
the ``--token-ids`` given. Writes ``locality.png`` (rows: instances; columns: the input, then one
difference map per token, colour-mapped on one scale per instance row, the largest difference of the
row at the top of the colour map, or with ``--scale token`` each map on its own) and
``locality.json``: per token the area (the smallest fraction of pixels holding 90 % of its
difference energy: small = local) and the centre of that energy, per instance the spread of the
centres, and the median area over every scored token and instance (``--score-tokens`` of them,
all of them by default up to 64).

``fit`` (images): on ``--images`` held-out test images, one image at a time, the zero-shot INR (a
point at 0 s), its test-time optimisation of the latents only and of every decoder parameter, and
an FFNet fitted from scratch (Tancik et al. 2020: sigmoid output), each for ``--seconds`` of
optimisation on that image (evaluations excluded): seconds per sample, as the paper's Fig. 7, so
the whole run takes about 3 x ``--images`` x ``--seconds``. Writes ``fit.png`` (against seconds
per sample, the mean over the images of the best PSNR each had reached), ``fit_steps.png`` (the
first image after each method), ``fit.json`` (the mean curves and every image's histories) and
``refined_latents.safetensors`` (the refined latents, to decode later with ``model.decode``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ginr_core import GeneralizableINR, image_coords, ray_format_of
from ginr_core.analysis import AREA_ENERGY, locality_scores, token_difference_maps
from ginr_core.fitting import fit_ffnet, refine_decoder, refine_latents
from ginr_data import ImageLoadError, LightFieldError, image_dataset, light_field_dataset

from .cli import at_least, checked_source
from .figures import image_grid, save_png
from .files import write_json
from .tasks.nvs import NovelViewTask

__all__ = ["main", "run"]


def _load(source: str, device: str) -> tuple[GeneralizableINR, Path | None, dict]:
    """The model of a run folder, a model folder or a Hub id; its run folder and recorded data settings, if any."""
    path = Path(source)
    is_run = (path / "model" / "config.json").is_file()
    if not is_run:
        checked_source(source, "inr")
    if not path.exists():  # a Hub repo id
        return GeneralizableINR.from_pretrained(source).to(device).eval(), None, {}
    run_dir = path if is_run else path.parent  # a model folder sits in its run folder
    model = GeneralizableINR.from_pretrained(str(path / "model" if is_run else path)).to(device).eval()
    metrics = run_dir / "metrics.json"
    data = json.loads(metrics.read_text()).get("config", {}).get("data", {}) if metrics.is_file() else {}
    return model, run_dir, data


def _output_dir(args, base: Path | None, name: str) -> Path:
    out = args.output_dir or ((base / name) if base is not None else Path(name) / args.model.replace("/", "--"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _heat(maps: torch.Tensor, scale: str = "instance") -> torch.Tensor:
    """``(K, H, W)`` non-negative maps -> ``(K, 3, H, W)`` colours (matplotlib's ``jet``): on one scale for
    all K (``"instance"``: an instance's maps compare) or each on its own (``"token"``: each map's shape)."""
    from matplotlib import colormaps

    scale = (maps.amax(dim=(1, 2), keepdim=True) if scale == "token" else maps.max()).clamp_min(1e-12)
    colours = colormaps["jet"]((maps / scale).clamp(0, 1).cpu().numpy())[..., :3]
    return torch.from_numpy(colours).permute(0, 3, 1, 2).float()


def _image_test_set(model, args, data: dict, size: int):
    """The held-out images: ``--data`` or the run's source, ``--split`` or the run's test split, at the model's size."""
    return image_dataset(
        args.data or data.get("source") or "photos",
        args.split or data.get("test_split", "test"),
        protocol=args.protocol or data.get("protocol"),
        resolution=model.image_size[0],
        train=False,
        size=size,
    )


def _instances(model, args, data: dict) -> list[dict]:
    """``[{"input": (V, C, H, W), "coords": (1, N, d_in), "shown": [(3, h, w)...], "size": (h, w)}]``."""
    found = []
    if NovelViewTask.accepts(model):
        source = args.data or data.get("source") or "scenes"
        category = args.category or data.get("category")
        views = min(args.views or model.num_views, model.num_views)
        dataset = light_field_dataset(
            source,
            args.split or data.get("test_split", "test"),
            category=category,
            resolution=model.image_size[0],
            num_support=views,
            train=False,
            repeats=1,
            ray_format=ray_format_of(model),
        )
        for i in range(min(args.items, len(dataset))):
            item = dataset[i]
            r = item["support"].shape[-1]
            truth = item["query_rgb"].T.reshape(3, r, r)
            found.append(
                {"input": item["support"], "coords": item["query_rays"][None], "shown": [item["support"][0, :3], truth]}
            )
        return found
    dataset = _image_test_set(model, args, data, args.items)
    coords = image_coords(*model.image_size).view(1, -1, 2)
    for i in range(min(args.items, len(dataset))):
        image = dataset[i]["image"]
        found.append({"input": image[None], "coords": coords, "shown": [image]})
    return found


def locality(args, parser) -> dict:
    model, base, data = _load(args.model, args.device)
    instances = _instances(model, args, data)
    if not instances:
        parser.error("no test instances found")
    count = model.num_latents
    generator = torch.Generator().manual_seed(args.seed)
    if args.token_ids:
        bad = [k for k in args.token_ids if k >= count]
        if bad:
            parser.error(f"--token-ids must lie in [0, {count}) (the model has {count} latent tokens), got {bad}")
        shown = list(args.token_ids)
    else:
        shown = sorted(torch.randperm(count, generator=generator)[: min(args.tokens, count)].tolist())
    scored = (
        list(range(count))
        if count <= args.score_tokens
        else torch.randperm(count, generator=generator)[: args.score_tokens].sort().values.tolist()
    )
    rows, per_instance = [], []
    for inst in instances:
        x = inst["input"][None].to(args.device)
        h = w = x.shape[-1]
        with torch.no_grad():
            latents = model.encode(x)
        probed = sorted(set(scored) | set(shown))  # each token's map once, scored or shown or both
        column = {k: j for j, k in enumerate(probed)}
        maps = token_difference_maps(model, latents, inst["coords"].to(args.device), probed, args.chunk_size)
        scores = locality_scores(maps[:, [column[k] for k in scored]], h, w)
        picked = maps[0, [column[k] for k in shown]].view(len(shown), h, w)
        rows.append([*inst["shown"], *_heat(picked, args.scale)])
        per_instance.append(
            {
                "tokens": scored,
                "area": scores["area"][0].tolist(),
                "centre": scores["centre"][0].tolist(),
                "spread": float(scores["spread"][0]),
            }
        )
    areas = torch.tensor([a for inst in per_instance for a in inst["area"] if a > 0])
    median = float(areas.median()) if len(areas) else float("nan")
    spread = float(torch.tensor([inst["spread"] for inst in per_instance]).mean())
    out = _output_dir(args, base, "analysis")
    inputs = ["support 1", "novel view"] if NovelViewTask.accepts(model) else ["input"]
    titles = inputs + [f"token {k}" for k in shown]
    save_png(image_grid(rows, cell=max(96, 3 * rows[0][0].shape[-1]), titles=titles), out / "locality.png")
    result = {
        "model": args.model,
        "class": type(model).__name__,
        "family": model.family,
        "latent_tokens": count,
        "energy": AREA_ENERGY,
        "median_area": median,
        "mean_spread": spread,
        "shown_tokens": shown,
        "colour_scale": args.scale,
        "instances": per_instance,
    }
    write_json(out / "locality.json", result)
    print(
        f"{type(model).__name__}: median token area {median:.4f} of the pixels (90 % of the difference energy), "
        f"token centres spread {spread:.3f}; {len(instances)} instances x {len(scored)} tokens; wrote "
        f"{out / 'locality.png'} and {out / 'locality.json'}",
        flush=True,
    )
    return result


def _plot_fit(curves: dict[str, list[dict]], zero_shot: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        axis.plot([h["seconds"] for h in curve], [h["psnr"] for h in curve], label=name)
    axis.scatter([0.0], [zero_shot], color="black", zorder=5, label="generalizable INR (zero-shot)")
    axis.set_xlabel("optimisation seconds per sample")
    axis.set_ylabel("mean PSNR (dB)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


CURVE_POINTS = 301  # the common time axis of the mean curves: every 0.1 s of a 30 s budget


def best_by(history: list[dict], seconds: float) -> float:
    """The best PSNR one sample's fit had reached within ``seconds`` (what stopping then keeps)."""
    return max(h["psnr"] for h in history if h["seconds"] <= seconds)


def mean_curve(histories: list[list[dict]], seconds: float, points: int = CURVE_POINTS) -> list[dict]:
    """Per-sample histories -> the mean over samples of ``best_by`` at ``points`` times from 0 to ``seconds``."""
    curve = []
    for t in torch.linspace(0.0, seconds, points).tolist():
        per = [best_by(history, t) for history in histories]
        curve.append({"seconds": t, "psnr": sum(per) / len(per), "psnr_per_sample": per})
    return curve


def fit(args, parser) -> dict:
    model, base, data = _load(args.model, args.device)
    if model.d_in != 2:
        parser.error(f"fit works on image models; {args.model} is a {type(model).__name__} (rays only)")
    dataset = _image_test_set(model, args, data, args.images)
    images = torch.stack([dataset[i]["image"] for i in range(min(args.images, len(dataset)))]).to(args.device)
    common = {"seconds": args.seconds, "eval_every": args.eval_every, "chunk_size": args.chunk_size}
    names = ("TTO: latents", "TTO: decoder", "FFNet from scratch")
    histories: dict[str, list[list[dict]]] = {name: [] for name in names}
    refined, shown = [], None
    # one sample at a time, each method its own --seconds on it: the paper's per-sample time axis
    for i in range(len(images)):
        image = images[i : i + 1]
        latents = refine_latents(model, image, lr=args.latent_lr, **common)
        decoder = refine_decoder(model, image, lr=args.decoder_lr, **common)
        ffnet = fit_ffnet(image, seconds=args.seconds, eval_every=args.eval_every, lr=args.ffnet_lr, seed=args.seed + i)
        for name, result in zip(names, (latents, decoder, ffnet)):
            histories[name].append([{k: h[k] for k in ("step", "seconds", "psnr")} for h in result.history])
        refined.append(latents.latents)
        if shown is None:  # the first image's fits, for fit_steps.png
            shown = (latents, decoder, ffnet)
    zero_shots = [history[0]["psnr"] for history in histories["TTO: latents"]]
    zero_shot = sum(zero_shots) / len(zero_shots)
    curves = {name: mean_curve(runs, args.seconds) for name, runs in histories.items()}
    out = _output_dir(args, base, "analysis")
    title = f"{type(model).__name__}, {len(images)} held-out images, one at a time"
    _plot_fit(curves, zero_shot, out / "fit.png", title)
    # the first image after its fits: what each method shows then
    latents, decoder, ffnet = shown
    coords = image_coords(*images.shape[-2:], device=images.device).view(1, -1, 2)
    with torch.no_grad():
        first = [
            images[0],
            model.decode(latents.latents[:1], coords, chunk_size=args.chunk_size)[0],
            decoder.models[0].decode(decoder.models[0].encode(images[:1]), coords, chunk_size=args.chunk_size)[0],
            ffnet.ffnet(coords)[0],
        ]
    size = images.shape[-1]
    panels = [first[0], *(p.T.reshape(3, size, size) for p in first[1:])]
    titles = ["image", "TTO latents", "TTO decoder", "FFNet"]
    save_png(image_grid([panels], cell=max(96, 3 * size), titles=titles), out / "fit_steps.png")
    final = {name: curve[-1]["psnr"] for name, curve in curves.items()}
    save_file(
        {"latents": torch.cat(refined).contiguous().cpu()},
        str(out / "refined_latents.safetensors"),
        metadata={"model": args.model, "psnr": f"{final['TTO: latents']:.4f}"},
    )
    ffnet_runs = histories["FFNet from scratch"]
    reached = [next((h["seconds"] for h in run if h["psnr"] >= z), None) for run, z in zip(ffnet_runs, zero_shots)]
    result = {
        "model": args.model,
        "class": type(model).__name__,
        "images": len(images),
        "seconds": args.seconds,
        "protocol": "one image at a time; each method optimises each image for `seconds` of optimisation time "
        "(evaluations excluded); curves: the mean over images of the best PSNR each reached by that time",
        "zero_shot_psnr": zero_shot,
        "curves": {name: [{k: h[k] for k in ("seconds", "psnr")} for h in curve] for name, curve in curves.items()},
        "per_sample": histories,
        "ffnet_seconds_to_zero_shot": next((h["seconds"] for h in curves[names[2]] if h["psnr"] >= zero_shot), None),
        "ffnet_seconds_to_zero_shot_per_sample": reached,
    }
    write_json(out / "fit.json", result)
    print(
        f"{len(images)} images, one at a time, {args.seconds:g} s per image and method: zero-shot {zero_shot:.2f} dB; "
        f"TTO latents {final['TTO: latents']:.2f}, TTO decoder {final['TTO: decoder']:.2f}, FFNet "
        f"{final['FFNet from scratch']:.2f} dB (mean FFNet reached the zero-shot PSNR after "
        f"{result['ffnet_seconds_to_zero_shot'] or 'more than ' + str(args.seconds)} s); wrote {out}/fit.png, "
        "fit_steps.png, fit.json, refined_latents.safetensors",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("model", help="a run folder, a save_pretrained folder or a Hub repo id")
    common.add_argument("--data", help="test data (default: the run's, else the embedded photos or scenes)")
    common.add_argument("--protocol", help="image protocol of --data (see apps/evaluate.py)")
    common.add_argument("--split", help="the held-out split (default: the run's test split, else test)")
    common.add_argument("--chunk-size", type=at_least(1), default=65536, help="coordinates decoded at a time")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    common.add_argument("--output-dir", type=Path, help="default: analysis/ in the run folder")
    loc = commands.add_parser("locality", parents=[common], help="what each latent token controls (Fig. 5, 12)")
    loc.add_argument("--items", type=at_least(1), default=4, help="test instances (rows of the figure)")
    loc.add_argument("--tokens", type=at_least(1), default=6, help="random tokens shown per instance")
    loc.add_argument("--token-ids", type=at_least(0), nargs="+", help="these tokens instead of random ones")
    loc.add_argument("--score-tokens", type=at_least(1), default=64, help="tokens scored per instance (random)")
    loc.add_argument(
        "--scale",
        choices=("instance", "token"),
        default="instance",
        help="colour scale of the maps: one per instance row (default) or one per map",
    )
    loc.add_argument("--category", help="light fields: the dataset category")
    loc.add_argument("--views", type=at_least(1), help="light fields: support views (default: all the model has)")
    fitting = commands.add_parser("fit", parents=[common], help="test-time optimisation against FFNet (Fig. 7)")
    fitting.add_argument("--images", type=at_least(1), default=10, help="held-out test images")
    fitting.add_argument("--seconds", type=float, default=30.0, help="optimisation budget per image and method")
    fitting.add_argument("--eval-every", type=at_least(1), default=10, help="steps between PSNR evaluations")
    fitting.add_argument("--latent-lr", type=float, default=3e-2)
    fitting.add_argument("--decoder-lr", type=float, default=1e-3)
    fitting.add_argument("--ffnet-lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    try:
        return (locality if args.command == "locality" else fit)(args, parser)
    except (LightFieldError, ImageLoadError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None


def run() -> None:
    """The console entry point (``apps/analyze.py``, ``ginr-analyze``)."""
    main()
