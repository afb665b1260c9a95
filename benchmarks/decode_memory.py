"""Peak memory and speed of decoding a full 1024 x 1024 grid (1,048,576 coordinates) at batch 1.

    python benchmarks/decode_memory.py                     # LocINR, FFHQ 1024 preset, CPU
    python benchmarks/decode_memory.py --models locinr ipc transinr --chunk-size 131072
    python benchmarks/decode_memory.py --device cuda

Keys and values (or modulated weights) are computed once per image and the coordinates are
decoded in chunks, so the memory above the weights stays bounded whatever the resolution. On CPU
the peak is the process's peak resident set size (VmHWM, reset just before decoding) minus the
resident size before decoding, which already holds the weights and the latents; on CUDA it is
torch's peak allocation minus what was allocated before. The same grid decoded with small chunks
must give the same image.

Speed: the decode's FLOPs (``torch.utils.flop_counter``: matmuls and attention) over the fp32 (or
bf16) matmul rate timed in the same run give the time the decode would take at matmul speed; the
report is the measured time over that (the target: at most 1.5x). ``--compile`` decodes through
``model.compile()`` (compiled first on a small grid, then timed).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import torch
from torch.utils.flop_counter import FlopCounterMode

from ginr_core import get_model_class, image_coords, list_families


def _load_sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py as module ``name`` (once), loaded by path: no sys.path entry needed."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_common = _load_sibling("_common")
CPU_ATTENTION_FLOPS, matmul_flops_per_second = _common.CPU_ATTENTION_FLOPS, _common.matmul_flops_per_second
CPU_CHUNK_ROWS = _common.CPU_CHUNK_ROWS

STATUS = Path("/proc/self/status")


def _resident_kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in {STATUS}")


class PeakMemory:
    """Peak memory above the current level during a ``with`` block, in bytes."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current VmRSS
            self.base = _resident_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.base
        else:
            self.peak = _resident_kib("VmHWM") * 1024 - self.base


def measure(family: str, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = get_model_class(family).from_preset(args.preset).to(device).eval()
    size = model.image_size[0]
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        latents = model.encode(torch.rand(1, 3, size, size, device=device))
        coords = image_coords(args.resolution, args.resolution, device=device).view(1, -1, 2)
        small = coords[:, : args.chunk_size]
        counted = []
        for n in (args.chunk_size // 2, args.chunk_size):  # per-image work + per-coordinate work x N
            with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
                model.decode(latents, coords[:, :n])
            counted.append(counter.get_total_flops())
        per_coordinate = (counted[1] - counted[0]) / (args.chunk_size - args.chunk_size // 2)
        flops = (counted[1] - per_coordinate * args.chunk_size) + per_coordinate * coords.shape[1]  # prepared once
        if args.compile:
            model.compile()
            model.decode(latents, small, chunk_size=args.chunk_size)  # compiles at the chunk's shape
        matmul_before = matmul_flops_per_second(device, dtype)
        with PeakMemory(device) as mem:
            start = time.perf_counter()
            out = model.decode(latents, coords, chunk_size=args.chunk_size)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
        matmul = (matmul_before + matmul_flops_per_second(device, dtype)) / 2
        reference = model.decode(latents, coords, chunk_size=args.small_chunk_size)
    return {
        "model": family,
        "coordinates": coords.shape[1],
        "weights_mib": weights / 2**20,
        "peak_above_weights_mib": mem.peak / 2**20,
        "seconds": seconds,
        "gflop": flops / 1e9,
        "matmul_gflops": matmul / 1e9,
        "seconds_at_matmul_rate": flops / matmul,
        "time_over_flop_time": seconds / (flops / matmul),
        "max_abs_diff_vs_small_chunks": (out - reference).abs().max().item(),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["locinr"], choices=list(list_families()))
    parser.add_argument("--preset", default="ffhq-1024")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=CPU_CHUNK_ROWS,
        help="coordinates per chunk (default: the CPU chunk for one image, CPU_CHUNK_ROWS = 4096)",
    )
    parser.add_argument("--small-chunk-size", type=int, default=4096, help="reference decoding to compare against")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--compile", action="store_true", help="decode through model.compile()")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(
        f"device={device} torch={torch.__version__} preset={args.preset} grid={args.resolution}x{args.resolution} "
        f"chunk_size={args.chunk_size} (reference: {args.small_chunk_size})"
    )
    print(
        f"{'model':<9} {'coords':>9} {'weights MiB':>12} {'peak above weights MiB':>23} {'s':>7} {'GFLOP':>7} "
        f"{'s at matmul rate':>17} {'ratio':>6} {'max |diff|':>11}"
    )
    results = []
    for family in args.models:
        r = measure(family, args, device)
        results.append(r)
        print(
            f"{r['model']:<9} {r['coordinates']:>9,} {r['weights_mib']:>12.1f} {r['peak_above_weights_mib']:>23.1f} "
            f"{r['seconds']:>7.2f} {r['gflop']:>7.1f} {r['seconds_at_matmul_rate']:>17.2f} "
            f"{r['time_over_flop_time']:>6.2f} {r['max_abs_diff_vs_small_chunks']:>11.2e}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
