"""The apps are scripts, not a package: make ``apps/`` importable and give tests a tiny run config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

TINY_RUN = """
model:
  family: {family}
  preset: photos-32
  image_size: 16
  patch_size: 4
  encoder_width: 32
  encoder_depth: 1
  encoder_heads: 2
  hidden_dim: 32
  fourier_dim: 32
data:
  source: photos
  resolution: 16
  test_size: 6
  channel_permutation: true
train:
  batch_size: 4
  max_steps: 8
  lr: 3.0e-3
  warmup_steps: 2
  eval_every: 4
  eval_batch_size: 4
  checkpoint_every: 2
  keep_checkpoints: 2
  log_every: 2
seed: 3
output_dir: {output_dir}
"""


@pytest.fixture
def tiny_config(tmp_path):
    """Factory: ``tiny_config(output_dir, family="locinr", **extra_yaml_lines)`` -> path of a tiny run config."""

    def make(output_dir, family="locinr"):
        path = tmp_path / f"tiny-{family}.yaml"
        path.write_text(TINY_RUN.format(family=family, output_dir=output_dir))
        return path

    return make


def run_app(*args: str, env: dict | None = None, check: bool = True, launcher: list[str] | None = None):
    """Run an app as a user would (a fresh process), returning the CompletedProcess."""
    command = (launcher or [sys.executable]) + [str(a) for a in args]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def app():
    return run_app
