"""What the benchmark scripts share: a timed training run of apps/train.py in a fresh folder; a list of checks."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_training_run(prefix: str, arguments: list[str]) -> tuple[Path, float]:
    """``accelerate launch apps/train.py <arguments> --output-dir <new temp dir>`` -> (run dir, seconds)."""
    run_dir = Path(tempfile.mkdtemp(prefix=prefix)) / "run"
    command = ["accelerate", "launch", "apps/train.py", *arguments, "--output-dir", str(run_dir)]
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return run_dir, time.perf_counter() - start


def run_checks(checks: list[Callable[[], object]]) -> None:
    """Run each check in turn, printing (not raising) a failure so that one never hides the others."""
    start = time.time()
    for check in checks:
        try:
            check()
        except Exception:
            traceback.print_exc()
        sys.stdout.flush()
    print(f"total {time.time() - start:.0f} s")
