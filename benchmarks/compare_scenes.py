"""Light-field LocINR vs the NeRF-style baselines on the embedded scenes, same wall-clock (Fig. 4a's claim).

    python benchmarks/compare_scenes.py                          # 6 minutes each: locinr, ipc_nerf
    python benchmarks/compare_scenes.py --minutes 10 --models locinr ipc_nerf transinr_nerf

Each family trains with ``apps/train.py`` from the novel-view default (``nvs_default.yaml``: the
``scenes-32`` preset, identical encoder and latent count, 1-3 support views per step) for the same
wall-clock budget, and is scored on the held-out objects with 1, 2 and 3 support views (30 objects
x 10 seeded draws). The paper's claim (Fig. 4a): the NeRF-style IPC is close to LocINR with one
support view, and LocINR pulls ahead as views are added. Prints PSNR per number of views, the gap
LocINR - each baseline, and the steps each made in the budget; writes ``compare_scenes.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(family: str, args, out: Path) -> dict:
    run = out / family
    if not (run / "metrics.json").exists():
        command = [sys.executable, "apps/train.py", "--config", "apps/configs/nvs_default.yaml", "--model", family]
        command += ["--output-dir", str(run), f"train.time_budget_minutes={args.minutes}"]
        command += ["train.max_steps=1000000", f"train.eval_every={args.eval_every}", "train.checkpoint_every=1000000"]
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((run / "metrics.json").read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per model")
    parser.add_argument("--models", nargs="+", default=["locinr", "ipc_nerf"])
    parser.add_argument("--eval-every", type=int, default=1_000_000, help="evaluate only at the end by default")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "runs" / "compare_scenes")
    args = parser.parse_args(argv)

    metrics = {family: train(family, args, args.output_dir) for family in args.models}
    views = sorted({int(k.split()[0]) for m in metrics.values() for k in m["test"]["by_setting"]})
    print(f"\nembedded scenes, {args.minutes:g} min of training each; test PSNR (dB, raw outputs) by support views")
    print(f"{'model':<14} {'steps':>6} " + " ".join(f"{v} view{'s' if v > 1 else ' '}" for v in views))
    for family, m in metrics.items():
        by = m["test"]["by_setting"]
        print(f"{family:<14} {m['steps']:>6} " + " ".join(f"{by[f'{v} views']:>7.2f}" for v in views))
    gaps = {}
    if "locinr" in metrics:
        ours = metrics["locinr"]["test"]["by_setting"]
        for family, m in metrics.items():
            if family == "locinr":
                continue
            gap = [ours[f"{v} views"] - m["test"]["by_setting"][f"{v} views"] for v in views]
            gaps[family] = gap
            rising = all(b > a for a, b in itertools.pairwise(gap))
            print(
                f"LocINR - {family}: "
                + ", ".join(f"{g:+.2f} dB at {v}" for g, v in zip(gap, views))
                + f"  (gap rising with views: {'yes' if rising else 'no'})"
            )
    summary = {
        "minutes": args.minutes,
        "views": views,
        "psnr": {f: [m["test"]["by_setting"][f"{v} views"] for v in views] for f, m in metrics.items()},
        "steps": {f: m["steps"] for f, m in metrics.items()},
        "gap": gaps,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "compare_scenes.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
