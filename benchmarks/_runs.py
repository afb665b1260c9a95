"""What the quality-bar scripts share: a timed training run of apps/train.py in a fresh folder."""

from __future__ import annotations

import subprocess
import tempfile
import time
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
