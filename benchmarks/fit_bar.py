"""Test-time optimisation bar (Fig. 7): the generalizable INR refined on an image vs FFNets fitted from scratch.

    python benchmarks/fit_bar.py --run-dir runs/default            # 10 held-out crops, 30 s per crop and method
    python benchmarks/fit_bar.py                                   # trains the default run first

On ``--images`` held-out test crops of the default run, one crop at a time (each method
optimises each crop for ``--seconds``: about 3 x images x seconds in all), ``apps/analyze.py fit``
gives four curves against optimisation seconds per sample, each the mean over the crops of the best
PSNR that crop had reached: the zero-shot INR (a point), its test-time optimisation of the latents
only and of every decoder parameter, and an FFNet (Tancik et al. 2020) from scratch. Prints the
three claims of the paper's Fig. 7 as they hold here:

1. FFNet reaches the zero-shot PSNR only after several seconds of fitting;
2. TTO of the latents stays above FFNet over the whole budget;
3. TTO of the decoder is above FFNet at every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _runs import timed_training_run

ROOT = Path(__file__).resolve().parents[1]


def _at(history: list[dict], seconds: float) -> float:
    """The best PSNR a curve had reached by ``seconds`` (what a user stopping then would keep)."""
    reached = [h["psnr"] for h in history if h["seconds"] <= seconds]
    return max(reached) if reached else float("nan")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="an existing default run (default: train one)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output-dir", type=Path, help="default: analysis/ in the run folder")
    args = parser.parse_args(argv)
    run = args.run_dir or timed_training_run("ginr-fit-bar-", [])[0]
    from ginr_apps.analyze import main as analyze

    command = ["fit", str(run), "--images", str(args.images), "--seconds", str(args.seconds)]
    result = analyze(command + (["--output-dir", str(args.output_dir)] if args.output_dir else []))
    curves, zero_shot = result["curves"], result["zero_shot_psnr"]
    ffnet, latents, decoder = curves["FFNet from scratch"], curves["TTO: latents"], curves["TTO: decoder"]
    times = np.linspace(0, args.seconds, 31)[1:]
    above_latents = [_at(latents, t) > _at(ffnet, t) for t in times]
    above_decoder = [_at(decoder, t) > _at(ffnet, t) for t in times]
    reached = result["ffnet_seconds_to_zero_shot"]
    print(f"\n{args.images} held-out crops, one at a time, {args.seconds:g} s per crop and method; zero-shot INR "
          f"{zero_shot:.2f} dB")  # fmt: skip
    for name, curve in curves.items():
        times_shown = [t for t in sorted({1, 5, 10, args.seconds}) if t <= args.seconds]
        marks = ", ".join(f"{_at(curve, t):.2f}" for t in times_shown)
        print(f"  {name:<20} best PSNR by {' / '.join(f'{t:g}' for t in times_shown)} s: {marks}")
    print(f"1. FFNet reaches the zero-shot PSNR after: {f'{reached:.1f} s' if reached is not None else 'never'}")
    alone = [t for t in result["ffnet_seconds_to_zero_shot_per_sample"] if t is not None]
    print(f"   each crop's FFNet its own zero-shot PSNR: {len(alone)}/{result['images']} crops, median "
          f"{float(np.median(alone)) if alone else float('nan'):.1f} s")  # fmt: skip
    print(f"2. TTO latents above FFNet at {sum(above_latents)}/{len(times)} times of the budget")
    print(f"3. TTO decoder above FFNet at {sum(above_decoder)}/{len(times)} times of the budget")
    return result


if __name__ == "__main__":
    main()
