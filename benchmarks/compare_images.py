"""LocINR vs IPC vs TransINR vs Learned Init with the same wall-clock budget (Fig. 1, Table 1's order).

    python benchmarks/compare_images.py                       # 20 minutes each on the embedded photos
    python benchmarks/compare_images.py --minutes 5 --eval-every 250 --output-dir runs/compare

Each family trains with ``apps/train.py`` from the default configuration (the ``photos-32`` preset:
identical encoder, latent count and hidden width; only the decoders differ), for the same
wall-clock budget, evaluating the held-out test crops every ``--eval-every`` steps (Learned Init has
no encoder: its 2 inner steps adapt a meta-learned initialisation). Prints a table (final PSNR,
steps, the steps each family needs to pass the references), whether the final PSNRs after the same
budget follow Table 1's order LocINR > IPC > TransINR > Learned Init, and the first step from
which that order holds at every later common evaluation; writes
``learning_curves.png`` (test PSNR against minutes and against steps, with the two references) and
``compare.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from quality_bar import references  # noqa: E402

from ginr_core import list_families  # noqa: E402

FAMILIES = tuple(list_families())  # every registered family, plug-ins included
PAPER_ORDER = ("locinr", "ipc", "transinr", "learned_init")  # Table 1, best first
NAMES = {family: cls.__name__ for family, cls in list_families().items()}


def train(family: str, args, out: Path) -> dict:
    run = out / family
    if not (run / "metrics.json").exists():
        command = [sys.executable, "apps/train.py", "--model", family, "--output-dir", str(run)]
        command += [f"train.time_budget_minutes={args.minutes}", f"train.max_steps={args.max_steps}"]
        command += [f"train.eval_every={args.eval_every}", "train.checkpoint_every=1000000", *args.train_args]
        print("running:", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((run / "metrics.json").read_text())


def _ranked(histories: dict) -> list[str]:
    return [f for f in PAPER_ORDER if f in histories]


def order_holds_from(histories: dict[str, list[dict]]) -> int | None:
    """First evaluated step from which Table 1's order holds at every later common evaluation."""
    steps = sorted(set.intersection(*({h["step"] for h in hist} for hist in histories.values())))
    value = {f: {h["step"]: h["test_psnr"] for h in hist} for f, hist in histories.items()}
    ranked = _ranked(histories)
    holds = [all(value[a][s] > value[b][s] for a, b in itertools.pairwise(ranked)) for s in steps]
    for k, step in enumerate(steps):
        if all(holds[k:]):
            return step
    return None


def first_step_above(history: list[dict], level: float) -> int | None:
    return next((h["step"] for h in history if h["test_psnr"] > level), None)


def plot(histories: dict[str, list[dict]], refs: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, key, label in ((axes[0], "minutes", "training minutes (2 CPU cores)"), (axes[1], "step", "steps")):
        for family, history in histories.items():
            axis.plot([h[key] for h in history], [h["test_psnr"] for h in history], marker=".", label=NAMES[family])
        for (name, level), style in zip(refs.items(), (":", "--")):
            axis.axhline(level, color="grey", linestyle=style, label=name)
        axis.set_xlabel(label)
        axis.set_ylabel("test PSNR (dB)")
        axis.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("Held-out 32x32 photo crops: same encoder, same wall-clock budget")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per model")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--max-steps", type=int, default=1_000_000, help="upper bound; the budget stops first")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "runs" / "compare_images")
    parser.add_argument("train_args", nargs="*", help="extra settings for apps/train.py, e.g. train.lr=5e-4")
    args = parser.parse_args(argv)

    metrics = {family: train(family, args, args.output_dir) for family in FAMILIES}
    histories = {family: m["history"] for family, m in metrics.items()}

    import torch

    from ginr_data import image_dataset

    data = metrics["locinr"]["config"]["data"]
    test = image_dataset(data["source"], data["test_split"], resolution=data["resolution"], train=False)
    size = len(test) if data["test_size"] is None else min(data["test_size"], len(test))
    refs = references(torch.stack([test[i]["image"] for i in range(size)]))

    print(f"\nsame encoder, {args.minutes:g} min of training each; {size} held-out crops")
    print(f"{'model':<17} {'steps':>6} {'PSNR':>7} {'> flat at step':>15} {'> 8x8 pool at step':>19}")
    for family, m in metrics.items():
        hist = histories[family]
        flat_at, pool_at = first_step_above(hist, refs["flat colour"]), first_step_above(hist, refs["8x8 pooling"])
        print(
            f"{NAMES[family]:<17} {m['steps']:>6} {m['test']['psnr']:>7.2f} {flat_at or '-':>15} {pool_at or '-':>19}"
        )
    for name, level in refs.items():
        print(f"{name:<17} {'':>6} {level:>7.2f}")
    since = order_holds_from(histories)
    ranked = _ranked(histories)
    order = " > ".join(NAMES[f] for f in ranked)
    final = {f: metrics[f]["test"]["psnr"] for f in ranked}
    same_time = all(final[a] > final[b] for a, b in itertools.pairwise(ranked))
    measured = " > ".join(f"{NAMES[f]} {final[f]:.2f}" for f in sorted(final, key=final.get, reverse=True))
    verdict = "holds" if same_time else "does not hold"
    print(f"Table 1's order {order} after the same wall-clock: {verdict} ({measured})")
    print(
        "the same order at equal steps: "
        + (f"holds from step {since} on" if since is not None else "does not hold at the end of the budget")
    )
    plot(histories, refs, args.output_dir / "learning_curves.png")
    summary = {"minutes": args.minutes, "references": refs, "order_holds_from_step": since, "histories": histories}
    summary["order_holds_after_the_same_wall_clock"] = same_time
    summary["final"] = {f: {"psnr": m["test"]["psnr"], "steps": m["steps"]} for f, m in metrics.items()}
    (args.output_dir / "compare.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.output_dir / 'learning_curves.png'} and {args.output_dir / 'compare.json'}")
    return summary


if __name__ == "__main__":
    main()
