"""GPU-time estimates for every paper experiment in ``apps/configs/``, from timed training steps.

    python benchmarks/paper_gpu_hours.py --device cuda --json gpu_hours.json      # on the GPU to estimate
    python benchmarks/paper_gpu_hours.py --device cpu --only ffhq178_locinr      # a smoke run

For each config it builds the model exactly as ``apps/train.py`` would (family, preset, settings),
times training steps (forward, backward, Adam; bf16 autocast, ``--precision fp32``: the configs'
own strict fp32, or ``--precision tf32``: fp32 with TF32 matmuls, as ``train.tf32=true``) at the
config's batch size and protocol (images: the full
grid, or ``data.subsample`` of each image's pixels; light fields: the maximum number of support
views and ``data.query_rays`` rays of the query view per item, in the model's ray format), and
multiplies the median step time by the config's number of steps: ``epochs x training items /
batch`` (light fields: ``epochs x objects x data.train_repeats / batch``). Steps with the same cost
(the same architecture, batch and sampling; bandwidths do not change the cost) are timed once.

The estimate counts the training steps only: data loading, periodic evaluation and checkpoints
come on top (with enough loader workers, mostly the evaluations). ShapeNet estimates are per
1,000 training objects (multiply by the size of your split).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

from ginr_apps.config import load_config, model_kwargs  # noqa: E402
from ginr_core import image_coords, ray_coordinates, ray_format_of  # noqa: E402

# training items per epoch (the protocols' training splits)
TRAIN_ITEMS = {
    "celeba-178": 162_770,  # CelebA ids 1-162770
    "ffhq-178": 60_000,  # FFHQ 00000-59999
    "ffhq-256": 60_000,
    "ffhq-512": 60_000,
    "ffhq-1024": 60_000,
    "imagenette-178": 9_469,  # imagenette2-320 train
    "imagenet-256": 1_281_167,  # ImageNet-1k train
}
NVS_OBJECTS = 1_000  # ShapeNet estimates are per 1,000 training objects


def paper_configs(only: list[str] | None) -> list[Path]:
    found = []
    for path in sorted((ROOT / "apps" / "configs").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        if any(tag in first for tag in ("Table", "Fig.", "ginr's variant")) and (not only or path.stem in only):
            found.append(path)
    return found


def plan(path: Path) -> dict:
    config = load_config(path)
    cls, kwargs = model_kwargs(config.model)
    nvs = config.data.task == "nvs"
    items = NVS_OBJECTS * config.data.train_repeats if nvs else TRAIN_ITEMS[config.data.protocol]
    steps = math.ceil(config.train.epochs * (items // config.train.batch_size))
    cost_kwargs = {k: v for k, v in kwargs.items() if not k.startswith("sigma")}
    views = config.data.views[1] if nvs else 1
    rays = (config.data.query_rays or -1) if nvs else None  # -1: every ray of the query view
    subsample = None if nvs else config.data.subsample
    key = json.dumps([cls.__name__, cost_kwargs, config.train.batch_size, subsample, views, rays], default=str)
    return {
        "config": path.stem,
        "table": path.read_text().splitlines()[0].lstrip("# ").split(":")[0],
        "cls": cls,
        "kwargs": kwargs,
        "batch": config.train.batch_size,
        "subsample": subsample,
        "views": views,
        "rays": rays,
        "nvs": nvs,
        "epochs": config.train.epochs,
        "steps": steps,
        "key": key,
    }


def time_step(item: dict, device: torch.device, batch: int, seconds_per_cost: float, bf16: bool = True) -> float:
    """Median seconds of one training step at micro-batch ``batch`` (two warm-up steps first)."""
    torch.manual_seed(0)
    model = item["cls"](**item["kwargs"]).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    h, w = model.image_size
    if item["nvs"]:
        inputs = torch.rand(batch, item["views"], model.in_channels, h, w, device=device)
        rays = h * w if item["rays"] == -1 else item["rays"]
        eye = torch.tensor([0.0, 0.0, 4.0], device=device)  # cameras at distance 4 looking at the object
        origins = eye + 0.1 * torch.randn(batch, rays, 3, device=device)
        directions = -F.normalize(origins + 0.3 * torch.randn_like(origins), dim=-1)
        coords = ray_coordinates(origins, directions, ray_format_of(model))
    else:
        inputs = torch.rand(batch, 3, h, w, device=device)
        grid = image_coords(h, w, device=device).view(1, -1, 2)
        if item["subsample"]:
            n = round(item["subsample"] * h * w)
            picks = torch.stack([torch.randperm(h * w, device=device)[:n] for _ in range(batch)])
            coords = grid[0][picks]
        else:
            coords = grid
    target = torch.rand(batch, coords.shape[1], 3, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
            loss = F.mse_loss(model(inputs, coords).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    timed(), timed()  # warm-up: allocations, Adam state, kernel selection
    times = [timed()]
    while len(times) < 5 and sum(times) < seconds_per_cost:
        times.append(timed())
    return statistics.median(times)


def time_config(
    item: dict, device: torch.device, max_batch: int | None, seconds_per_cost: float, bf16: bool = True
) -> tuple[float, int]:
    """Seconds per step at the config's batch, and the micro-batch it was timed at (time scaled linearly
    when the whole batch does not fit one device: the paper spread its batch over several GPUs)."""
    batch = min(item["batch"], max_batch or item["batch"])
    while True:
        try:
            return time_step(item, device, batch, seconds_per_cost, bf16) * item["batch"] / batch, batch
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds-per-cost", type=float, default=3.0, help="time up to 5 steps or this long")
    parser.add_argument("--max-batch", type=int, help="time at most this micro-batch and scale (smoke runs)")
    parser.add_argument("--only", nargs="+", help="config names (without .yaml)")
    parser.add_argument("--budget-seconds", type=float, default=420, help="stop timing new costs after this long")
    parser.add_argument(
        "--precision",
        choices=("bf16", "fp32", "tf32"),
        default="bf16",
        help="bf16 autocast (on GPUs), the configs' strict fp32, or fp32 with TF32 matmuls (train.tf32=true)",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    bf16 = args.precision == "bf16" and device.type == "cuda"
    tf32 = device.type == "cuda" and args.precision == "tf32"
    if device.type == "cuda":  # as apps/train.py: TF32 only when asked (train.tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    kind = "bf16 autocast" if bf16 else "fp32, TF32 matmuls" if tf32 else "strict fp32"
    print(f"{where}, torch {torch.__version__}, {kind}", flush=True)
    items = [plan(path) for path in paper_configs(args.only)]
    timed: dict[str, tuple[float, int]] = {}
    started = time.perf_counter()
    results = []
    for item in items:
        if item["key"] not in timed:
            if time.perf_counter() - started > args.budget_seconds:
                print(f"{item['config']}: not timed (budget spent)", flush=True)
                continue
            timed[item["key"]] = time_config(item, device, args.max_batch, args.seconds_per_cost, bf16)
        seconds, micro = timed[item["key"]]
        hours = item["steps"] * seconds / 3600
        per = " per 1k objects" if item["nvs"] else ""
        note = f" (timed at micro-batch {micro})" if micro != item["batch"] else ""
        print(
            f"{item['config']:<40} {item['steps']:>10,} steps x {seconds:.3f} s = {hours:8.1f} GPU-hours{per}{note}",
            flush=True,
        )
        results.append(
            {k: item[k] for k in ("config", "table", "batch", "subsample", "views", "rays", "epochs", "steps", "nvs")}
            | {"seconds_per_step": seconds, "timed_micro_batch": micro, "gpu_hours": hours}
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"device": where, "torch": torch.__version__, "precision": args.precision, "results": results}, indent=2
            )
            + "\n"
        )
    return results


if __name__ == "__main__":
    main()
