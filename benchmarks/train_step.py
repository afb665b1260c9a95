"""One training step of each model at the paper's 178 px configuration: time, FLOPs, efficiency.

    python benchmarks/train_step.py                      # CPU, fp32, batch 2, full 178 x 178 grid
    python benchmarks/train_step.py --device cuda --precision bf16 --batch-size 16
    python benchmarks/train_step.py --preset shapenet-nvs --models locinr ipc_nerf transinr_nerf  # Fig. 4a

With a light-field preset (``shapenet-nvs``) a step encodes ``--views`` posed 128 px views per item
and decodes ``--rays`` query rays per item (the official protocol: 128); the NeRF-style families
evaluate their MLP at ``points_per_ray`` (128) points of each ray, the light-field ones once.

A step is forward + backward + Adam update on a batch of images, decoding every pixel (the
paper's 178 px protocol). Model FLOPs are counted by ``torch.utils.flop_counter`` (matmuls and
attention, forward and backward; the CPU flash kernel's backward counts its recomputed scores,
as torch counts the CUDA ones); achieved FLOP/s is that count over the fastest timed step. It
counts the FLOPs the code executes: LocINR's decoder folds the attention's output projection into
Eq. 7's products (the same function, fewer FLOPs than its equations as written). Each timed step
is compared with a plain square fp32 (or bf16) matmul timed just before and after it, so that a
busy moment of a shared machine slows both alike: ``ratio`` is the median over the steps of
(step FLOP/s / matmul FLOP/s around it), ``fastest`` the fastest step against the fastest
matmul (the protocol of the figures the speed issue quotes: minimum of 3 steps).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ginr_core import get_model_class, get_preset, image_coords, list_families, ray_coordinates, ray_format_of


def _load_sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py as module ``name`` (once), loaded by path: no sys.path entry needed."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_common = _load_sibling("_common")
CPU_ATTENTION_FLOPS, chunk_size_of = _common.CPU_ATTENTION_FLOPS, _common.chunk_size_of
matmul_flops_per_second, sync = _common.matmul_flops_per_second, _common.sync

FAMILIES = tuple(list_families())  # every registered family, plug-ins included
REFERENCE = {"ipc": 8.3, "transinr": 8.6}  # official ginr-ipc code, same config, this CPU kind (NOTES.md)
# dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s, by device-name fragment
DENSE_BF16_PEAK = {"H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0}
DENSE_BF16_PEAK |= {"A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0}


def dense_bf16_peak(device: torch.device) -> float | None:
    """The data-sheet dense bf16 peak of this GPU in FLOP/s, or None when unknown (or not a GPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in DENSE_BF16_PEAK.items() if key in name), None)


def build_step(family: str, args, device: torch.device, chunk_size: int | str | None):
    """(model, step): ``step()`` is one training step; ``chunk_size``: coordinates per decoding chunk, None
    (one go) or "auto" (on CPU ``CPU_CHUNK_ROWS // batch``, as ``decode(chunk_size="auto")`` did)."""
    chunk_size = chunk_size_of(chunk_size, args.batch_size, device)
    torch.manual_seed(0)
    model = get_model_class(family).from_preset(args.preset).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type in ("cpu", "cuda"))
    size = model.image_size[0]
    if model.d_in == 2:
        images = torch.rand(args.batch_size, 3, size, size, device=device)
        target = images.permute(0, 2, 3, 1).reshape(args.batch_size, -1, 3)
        coords = image_coords(size, size, device=device).view(1, -1, 2)
        if args.per_image_coords:
            coords = coords.expand(args.batch_size, -1, -1).contiguous()
    else:  # posed views and query rays: cameras at distance 4 looking at the origin, as ShapeNet's
        views = min(args.views, model.num_views)
        images = torch.rand(args.batch_size, views, model.in_channels, size, size, device=device)
        eye = torch.tensor([0.0, 0.0, 4.0], device=device)
        origins = eye + 0.1 * torch.randn(args.batch_size, args.rays, 3, device=device)
        directions = -F.normalize(origins + 0.3 * torch.randn_like(origins), dim=-1)
        coords = ray_coordinates(origins, directions, ray_format_of(model))
        target = torch.rand(args.batch_size, args.rays, 3, device=device)
    use_bf16 = args.precision == "bf16"
    encoder = model.encoder if model.encoder is not None else nn.Module()  # Learned Init has no encoder
    eager_parts = (encoder._compiled_call_impl, model._decode)
    if args.compile:
        model.compile()  # train.compile's path: the encoder and the per-coordinate decoding
    compiled_parts = (encoder._compiled_call_impl, model._decode)

    def step(eager: bool = False) -> None:  # eager=True: the same weights through the uncompiled code
        if args.compile:
            encoder._compiled_call_impl, model._decode = eager_parts if eager else compiled_parts
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = F.mse_loss(model(images, coords, chunk_size=chunk_size).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return model, step


def measure(family: str, args, device: torch.device, chunk_size: int | None) -> dict:
    model, step = build_step(family, args, device, chunk_size)
    sync(device)
    start = time.perf_counter()
    step()  # warm-up (allocations, Adam state; compilation with --compile)
    sync(device)
    first = time.perf_counter() - start
    step()
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        step(eager=True)  # the model's FLOPs, counted on the eager graph
    flops = counter.get_total_flops()
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    times, ratios, rates = [], [], []
    for _ in range(args.steps):
        before = matmul_flops_per_second(device, dtype, repeats=3)
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        seconds = time.perf_counter() - start
        rate = (before + matmul_flops_per_second(device, dtype, repeats=3)) / 2  # the matmul around this step
        times.append(seconds)
        rates.append(rate)
        ratios.append(flops / seconds / rate)
    seconds = min(times)
    result = {
        "model": family,
        "decode_chunk_size": chunk_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": seconds,
        "seconds_median": statistics.median(times),
        "seconds_first_step": first,  # includes torch.compile's compilation with --compile
        "gflop_per_step": flops / 1e9,  # as executed (LocINR: W_o folded into Eq. 7's products)
        "achieved_gflops": flops / seconds / 1e9,
        "matmul_gflops": statistics.median(rates) / 1e9,
        # each step against the matmul timed around it (a busy moment slows both), the median over steps
        "ratio_to_matmul": statistics.median(ratios),
        # the fastest step against the fastest matmul: the protocol of the figures the speed issue quotes
        "ratio_fastest": flops / seconds / max(rates),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        peak = dense_bf16_peak(device)
        if peak is not None and args.precision == "bf16":
            result["share_of_dense_bf16_peak"] = flops / seconds / peak
    del model, step
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--preset", default="ffhq-178", help="model preset (default: the paper's 178 px setting)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model, each between two matmul timings")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (timed with synchronize)")
    parser.add_argument(
        "--precision",
        "--dtype",
        "--mixed-precision",
        dest="precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="fp32 (with --tf32: TF32 matmuls on GPUs) or bf16 autocast; the reference matmul runs in the same",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--per-image-coords",
        action="store_true",
        help="give every image its own copy of the grid (as with random coordinate subsampling) "
        "instead of one grid shared by the batch",
    )
    parser.add_argument(
        "--chunk-sizes",
        nargs="+",
        default=["none", "auto"],
        help="decode the grid in one pass ('none'), in chunks of this many coordinates and/or 'auto' "
        "(on CPU: CPU_CHUNK_ROWS = 4096 rows, i.e. 4096 // batch coordinates per chunk, whose activations stay in "
        "the caches; on GPUs: one pass)",
    )
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on GPUs (as train.tf32)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the model as train.compile does (model.compile(): the encoder and the per-coordinate "
        "decoding; the first step, which compiles, is reported apart)",
    )
    parser.add_argument("--views", type=int, default=1, help="support views per item (light-field presets)")
    parser.add_argument("--rays", type=int, default=128, help="query rays per item (light fields; official: 128)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":  # strict fp32 unless --tf32, as apps/train.py with train.tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    if device.type == "cpu" and args.precision == "bf16":
        print("warning: bf16 on CPUs without bf16 units is ~100x slower than fp32", file=sys.stderr)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(
        f"device={device} ({where}) torch={torch.__version__} precision={args.precision} preset={args.preset} "
        f"batch={args.batch_size} tf32={args.tf32} compile={args.compile} "
        f"coords={'per image' if args.per_image_coords else 'one grid shared by the batch'}"
        + (f" views={args.views} rays={args.rays}" if get_preset(args.preset).get("d_in", 2) == 6 else "")
    )
    results = []
    print(
        f"{'model':<13} {'chunks':>6} {'params':>11} {'s/step':>8} {'median':>8} {'GFLOP/step':>11} {'GFLOP/s':>9} "
        f"{'matmul GFLOP/s':>15} {'ratio':>6} {'fastest':>8}"
    )
    named = {"none": None, "auto": "auto"}
    chunk_sizes = [named[c.lower()] if c.lower() in named else int(c) for c in args.chunk_sizes]
    for family, chunk_size in ((f, c) for f in args.models for c in chunk_sizes):
        try:
            get_preset(args.preset, family)
        except ValueError:
            print(f"{family:<13} skipped: it has no {args.preset} preset", flush=True)
            continue
        r = measure(family, args, device, chunk_size)
        results.append(r)
        line = (
            f"{r['model']:<13} {chunk_size or '-':>6} {r['parameters']:>11,} {r['seconds_per_step']:>8.3f} "
            f"{r['seconds_median']:>8.3f} {r['gflop_per_step']:>11.1f} {r['achieved_gflops']:>9.1f} "
            f"{r['matmul_gflops']:>15.1f} {r['ratio_to_matmul']:>6.2f} {r['ratio_fastest']:>8.2f}"
        )
        if args.compile or device.type == "cuda":
            line += f"   first step {r['seconds_first_step']:.1f} s"
        if "share_of_dense_bf16_peak" in r:
            line += f"   {r['share_of_dense_bf16_peak']:.1%} of the chip's dense bf16 peak"
        if device.type == "cpu" and args.batch_size == 2 and args.preset == "ffhq-178" and family in REFERENCE:
            line += f"   (official code: ~{REFERENCE[family]} s/step)"
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
