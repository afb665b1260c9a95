"""Where a training step's time goes: the top operators of one step of each family (torch.profiler).

    python benchmarks/profile_step.py                               # paper (178 px, batch 2) and default (32 px, 16)
    python benchmarks/profile_step.py --configs default --models locinr --top 20
    python benchmarks/profile_step.py --compile                     # the same with train.compile's path

A step is forward + backward + Adam, as ``benchmarks/train_step.py`` builds it (``paper``: the
``ffhq-178`` preset, batch 2, every pixel; ``default``: ``photos-32``, batch 16, every pixel, the
default run's model). After a warm-up step, ``--steps`` steps run under the profiler; operators are
ranked by self CPU time (self CUDA time on a GPU) and each is shown with its share of the step.
Operators are also summed by kind: matmuls, attention, element-wise math (Fourier features, band
sums, activations), copies and reshapes (``contiguous``, ``cat``, ``copy_``), reductions and norms,
the optimiser, and the rest.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch
from torch.profiler import ProfilerActivity, profile


def _load_sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py as module ``name`` (once), loaded by path: no sys.path entry needed."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_train_step = _load_sibling("train_step")
FAMILIES, build_step = _train_step.FAMILIES, _train_step.build_step

CONFIGS = {
    "paper": {"preset": "ffhq-178", "batch_size": 2},
    "default": {"preset": "photos-32", "batch_size": 16},
}
KINDS = {
    "matmul": ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm", "addmv"),
    "attention": ("attention", "sdpa", "softmax", "_flash"),
    "optimizer": ("adam", "_foreach", "fused_adam"),
    "copy/reshape": (
        "copy_",
        "contiguous",
        "cat",
        "clone",
        "stack",
        "permute",
        "transpose",
        "view",
        "reshape",
        "expand",
        "index",
        "slice",
        "select",
        "unsqueeze",
        "empty",
        "zeros",
        "fill_",
        "as_strided",
        "split",
        "chunk",
        "to",
        "_to_copy",
        "repeat",
        "narrow",
    ),
    "reduction/norm": ("sum", "mean", "norm", "layer_norm", "var", "std", "amax"),
    "elementwise": (
        "add",
        "mul",
        "sub",
        "div",
        "relu",
        "gelu",
        "sin",
        "cos",
        "exp",
        "threshold",
        "where",
        "pow",
        "sqrt",
        "rsqrt",
        "sigmoid",
        "neg",
        "clamp",
        "mse_loss",
        "silu",
        "tanh",
    ),
}


def kind_of(name: str) -> str:
    base = name.removeprefix("aten::").lower()
    for kind, keys in KINDS.items():
        if any(base == k or base.startswith(k + "_") or base.startswith("_" + k) or k in base for k in keys):
            return kind
    return "other"


def profile_step(family: str, config: str, args) -> dict:
    device = torch.device(args.device)
    options = SimpleNamespace(
        **CONFIGS[config], precision=args.precision, compile=args.compile, per_image_coords=False, views=1, rays=128
    )
    named = {"none": None, "auto": "auto"}
    chunk_size = named[args.chunk_size.lower()] if args.chunk_size.lower() in named else int(args.chunk_size)
    _, step = build_step(family, options, device, chunk_size)
    step()  # warm-up: allocations, Adam state (and compilation)
    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    events = [e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")]
    attribute = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, attribute) for e in events) or 1
    ranked = sorted(events, key=lambda e: getattr(e, attribute), reverse=True)
    by_kind = defaultdict(float)
    for e in events:
        by_kind[kind_of(e.key)] += getattr(e, attribute) / total
    top = [
        {
            "op": e.key,
            "share": getattr(e, attribute) / total,
            "ms_per_step": getattr(e, attribute) / 1e3 / args.steps,
            "calls_per_step": e.count / args.steps,
        }
        for e in ranked[: args.top]
    ]
    calls = sum(e.count for e in events) / args.steps
    return {
        "family": family,
        "config": config,
        "ms_per_step": total / 1e3 / args.steps,
        "ops_per_step": calls,
        "top": top,
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=FAMILIES, default=["locinr", "ipc", "transinr"])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=2, help="profiled steps (after two warm-up steps)")
    parser.add_argument("--top", type=int, default=12, help="operators listed per model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    parser.add_argument(
        "--chunk-size",
        default="auto",
        help="decoding chunks: 'auto' (the training default: on CPU, chunks whose activations stay in the caches), "
        "'none' (one go) or a number of coordinates",
    )
    parser.add_argument("--output", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    results = []
    for config in args.configs:
        for family in args.models:
            r = profile_step(family, config, args)
            results.append(r)
            print(
                f"\n{family} / {config} ({CONFIGS[config]['preset']}, batch {CONFIGS[config]['batch_size']}"
                f"{', compiled' if args.compile else ''}, chunks {args.chunk_size}): "
                f"{r['ms_per_step']:.0f} ms of operator time per step, {r['ops_per_step']:.0f} operator calls"
            )
            print("  by kind: " + ", ".join(f"{k} {v:.0%}" for k, v in r["by_kind"].items()))
            for t in r["top"]:
                print(f"  {t['share']:6.1%} {t['ms_per_step']:9.1f} ms {t['calls_per_step']:7.0f} calls  {t['op']}")
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
