"""The novel-view quality bar: does the default NVS run predict unseen views of unseen objects?

    python benchmarks/nvs_quality_bar.py                          # trains the default NVS run first
    python benchmarks/nvs_quality_bar.py --run-dir runs/nvs-default   # score an existing run instead

On the held-out objects of the embedded scenes (each test object repeated with seeded random
support and novel views drawn from all 50 views, as in the paper's Fig. 4a protocol), prints the
mean PSNR of the predicted novel view for 1, 2 and 3 support views, next to two trivial
baselines scored on the same items:

* the mean colour of the support views, everywhere;
* the support view whose camera axis is nearest to the novel camera's, as the prediction.

and the silhouette IoU of each prediction against the true view (``ginr_core.silhouette_iou``:
pixels that differ from the white background by more than 0.1).

The bar: within the CPU budget of the default run (15 minutes on 2 cores), at 3 support views
the model beats the nearest support view by at least 2.5 dB and its silhouette IoU is at least
0.8; at every number of views it beats the better baseline, and its PSNR rises with the number
of views.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from _runs import timed_training_run

from ginr_apps import evaluate

MARGIN_AT_MOST_VIEWS = 2.5  # dB over the nearest support view, at the largest number of views
IOU_AT_MOST_VIEWS = 0.8


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="an existing NVS run of apps/train.py (default: train one now)")
    parser.add_argument("--repeats", type=int, default=10, help="seeded draws of views per test object")
    parser.add_argument("train_args", nargs="*", help="extra arguments for apps/train.py when training here")
    args = parser.parse_args(argv)

    seconds, run_dir = None, args.run_dir
    if run_dir is None:
        run_dir, seconds = timed_training_run(
            "ginr-nvs-bar-", ["--config", "apps/configs/nvs_default.yaml", *args.train_args]
        )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data = metrics["config"]["data"]
    low, high = data["views"]
    eval_args = [str(run_dir / "model"), "--data", data["source"], "--repeats", str(args.repeats)]
    eval_args += ["--views", *map(str, range(low, high + 1)), "--output-dir", str(run_dir / "bar")]
    if data["category"]:
        eval_args += ["--category", data["category"]]
    results = evaluate.main(eval_args)

    print(f"\n{results['items']} test items ({results['objects']} held-out objects x {results['repeats']} draws)")
    print(
        f"  {'views':>5} {'model':>8} {'mean colour':>12} {'nearest view':>13} {'margin':>8} "
        f"{'IoU':>6} {'(nearest)':>10}"
    )
    margins, models = [], []
    for v, entry in results["views"].items():
        best = max(entry["support mean colour"], entry["nearest support view"])
        margins.append(entry["model"] - best)
        models.append(entry["model"])
        print(
            f"  {v:>5} {entry['model']:>8.2f} {entry['support mean colour']:>12.2f} "
            f"{entry['nearest support view']:>13.2f} {margins[-1]:>+8.2f} {entry['model silhouette IoU']:>6.3f} "
            f"{entry['nearest support view silhouette IoU']:>10.3f}"
        )
    print(f"  training: {metrics['steps']} steps, {metrics['train_minutes']:.1f} min on {metrics['hardware']}")
    if seconds is not None:
        print(f"  whole run (start-up, rendering the scenes if needed, training, outputs): {seconds / 60:.1f} min")
    most = results["views"][str(high)]
    margin = most["model"] - most["nearest support view"]
    iou = most["model silhouette IoU"]
    rises = all(b > a for a, b in itertools.pairwise(models))
    checks = {
        f"at {high} views, >= {MARGIN_AT_MOST_VIEWS} dB over the nearest support view": (
            margin >= MARGIN_AT_MOST_VIEWS,
            f"{margin:+.2f} dB",
        ),
        f"at {high} views, silhouette IoU >= {IOU_AT_MOST_VIEWS}": (iou >= IOU_AT_MOST_VIEWS, f"{iou:.3f}"),
        "beats the better baseline at every number of views": (min(margins) > 0, f"min {min(margins):+.2f} dB"),
        "PSNR rises with the number of support views": (rises, ""),
    }
    for label, (ok, figure) in checks.items():
        print(f"  {label}: {'yes' if ok else 'NO'} {figure}".rstrip())
    met = all(ok for ok, _ in checks.values())
    print(f"  bar {'met' if met else 'NOT met'}; pictures: {run_dir / 'novel_views.png'}")
    return {"results": results, "margins": margins, "rises": rises, "met": met, "run_seconds": seconds}


if __name__ == "__main__":
    main()
