"""Evaluate a trained model: per-image PSNR at any resolution, or novel-view PSNR per number of views.

    python apps/evaluate.py runs/default/model                          # the embedded test photos
    python apps/evaluate.py runs/default/model --resolutions 32 64 128  # also decoded at x2 and x4
    python apps/evaluate.py <user>/locinr-ffhq --data /data/ffhq --protocol ffhq-256 --size 1000

MODEL is a local ``save_pretrained`` folder or a Hub repo id (any ginr model class). Each image is
encoded at the model's resolution and decoded on the full grid at each requested resolution (in
chunks); the target at another resolution is the same image through the evaluation transform at
that size. Writes ``eval.json`` (per-resolution mean PSNR and per-image values) and ``eval.png``
(ground truth and reconstruction at each resolution) into ``--output-dir`` (default: ``eval/`` next to
a local MODEL folder, e.g. ``runs/default/eval``; ``eval/<repo id>`` for a Hub model). Scoring into a run
folder holds the run's lock: a run that is training (or resuming) there is not written into (pass
``--output-dir``), and a resume started while it scores is refused until the scores are written.

A light-field model (novel view synthesis) is scored with the paper's Fig. 4a protocol instead:
each test object is repeated ``--repeats`` times with seeded random support and query views drawn
from all its views, and the novel view is predicted from the first 1, 2, ... ``--views`` support
views of each item (paired: the same items for every count). The two trivial baselines (the mean
colour of the support views; the support view nearest to the novel camera) are scored on the same
items::

    python apps/evaluate.py runs/nvs-default/model                      # the embedded scenes' test objects
    python apps/evaluate.py MODEL --data /data/learnit --category cars --views 1 2 3 4 5 --repeats 100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ginr_core import GeneralizableINR
from ginr_data import ImageLoadError, LightFieldError

from .checkpoints import RunLockedError, lock_run
from .cli import at_least, checked_source, fail
from .guards import run_app
from .tasks import list_tasks, task_for_model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a save_pretrained folder or a Hub repo id")
    parser.add_argument("--data", help="the data to score on (default: the task's embedded data: photos, scenes)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--size", type=at_least(1), help="evaluate the first N items of the split")
    parser.add_argument("--batch-size", type=at_least(1), default=32)
    parser.add_argument("--chunk-size", type=at_least(1), default=65536, help="coordinates decoded at a time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output-dir", type=Path, help="where eval.json and eval.png go (default: next to MODEL)")
    for task in list_tasks().values():
        task.add_evaluate_arguments(parser)
    args = parser.parse_args(argv)

    try:
        model = GeneralizableINR.from_pretrained(checked_source(args.model, "inr")).to(args.device).eval()
    except (OSError, ValueError) as err:  # not cached offline, a checkpoint that does not load
        fail(str(err))
    try:
        task = task_for_model(model)
    except ValueError as err:
        parser.error(str(err))
    local = Path(args.model)
    run = local.resolve().parent if args.output_dir is None and local.is_dir() else None
    args.output_dir = args.output_dir or (run / "eval" if run else Path("eval") / args.model)
    try:
        with lock_run(run, enabled=run is not None and (run / ".lock").is_file()):
            return task.evaluate(model, args, parser)
    except RunLockedError as err:
        fail(str(err))
    except (LightFieldError, ImageLoadError) as err:
        raise SystemExit(f"error: {err}") from None


def run() -> None:
    """The console entry point (``apps/evaluate.py``, ``ginr-evaluate``)."""
    run_app(main)
