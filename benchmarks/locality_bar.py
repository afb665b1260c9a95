"""Locality bar: how much of an image one latent token controls, LocINR vs IPC vs TransINR (Fig. 5's claim).

    python benchmarks/locality_bar.py              # trains 3 min each on the photos, 10 min each on the scenes
    python benchmarks/locality_bar.py --photos-runs runs/cmp/locinr runs/cmp/ipc runs/cmp/transinr --skip-scenes

Each family trains with ``apps/train.py`` for the same wall-clock budget from the default
configuration (photos: ``default.yaml``; scenes: ``nvs_default.yaml``; identical encoder and
latent count, only the decoders differ), unless existing run folders are given. Then
``apps/analyze.py locality`` scores every token of ``--items`` held-out instances: a token's area
is the smallest fraction of the pixels that holds 90 % of the change its removal causes. The
paper's claim: LocINR's tokens are local (small areas), IPC's and TransINR's global. Prints the
median area per family and the ratios baseline / LocINR (the bar: several times larger).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("locinr", "ipc", "transinr")
CONFIGS = {"photos": "apps/configs/default.yaml", "scenes": "apps/configs/nvs_default.yaml"}


def train(kind: str, family: str, args) -> Path:
    run = args.output_dir / kind / family
    if not (run / "metrics.json").exists():
        command = [sys.executable, "apps/train.py", "--config", CONFIGS[kind], "--model", family]
        minutes = args.minutes if kind == "photos" else args.scenes_minutes
        command += ["--output-dir", str(run), f"train.time_budget_minutes={minutes}", "train.max_steps=1000000"]
        command += ["train.eval_every=1000000", "train.checkpoint_every=1000000"]
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    return run


def score(run: Path, args) -> dict:
    from ginr_apps.analyze import main as analyze

    out = args.output_dir / "analysis" / f"{run.parent.name}-{run.name}"
    return analyze(["locality", str(run), "--items", str(args.items), "--output-dir", str(out)])


def compare(kind: str, runs: list[Path], args) -> dict:
    results = {}
    for run in runs:
        scores = score(run, args)
        area, spread = scores["median_area"], scores["mean_spread"]
        results[scores["family"]] = {"median_area": area, "spread": spread, "run": str(run)}
    print(f"\n{kind}: median token area (fraction of pixels holding 90 % of a token's difference energy)")
    ours = results.get("locinr", {}).get("median_area")
    for family, r in results.items():
        ratio = f"  {r['median_area'] / ours:.1f}x LocINR's" if ours and family != "locinr" else ""
        print(f"  {family:<10} {r['median_area']:.4f}   centres spread {r['spread']:.3f}{ratio}")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per family (photos)")
    parser.add_argument(
        "--scenes-minutes", type=float, default=10.0, help="training budget per family on the scenes (slower to learn)"
    )
    parser.add_argument("--items", type=int, default=8, help="held-out instances scored")
    parser.add_argument("--photos-runs", type=Path, nargs="+", help="existing image runs to score instead")
    parser.add_argument("--scenes-runs", type=Path, nargs="+", help="existing light-field runs to score instead")
    parser.add_argument("--skip-scenes", action="store_true")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "runs" / "locality_bar")
    args = parser.parse_args(argv)
    summary = {"photos": compare("photos", args.photos_runs or [train("photos", f, args) for f in FAMILIES], args)}
    if not args.skip_scenes:
        runs = args.scenes_runs or [train("scenes", f, args) for f in FAMILIES]
        summary["scenes"] = compare("scenes", runs, args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "locality_bar.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
