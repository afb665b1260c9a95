"""A tiny run config and a runner of the apps as a user runs them (fresh processes)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "tests" / "plugins"


def _install_plugin(name: str, site: Path) -> str:
    """Install the plug-in package ``tests/plugins/<name>`` into the folder ``site`` as ``pip install`` would
    lay it out (its module, and a dist-info with the entry points its pyproject.toml declares); returns
    ``site``, for PYTHONPATH."""
    project = tomllib.loads((PLUGINS / name / "pyproject.toml").read_text())["project"]
    for module in (PLUGINS / name / "src").iterdir():
        shutil.copytree(module, site / module.name)
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items()) + "\n"
        for group, points in project["entry-points"].items()
    )
    (info / "entry_points.txt").write_text(groups)
    return str(site)


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
  dihedral: true
  colour_jitter: 0.3
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


@pytest.fixture(scope="session")
def install_plugin():
    """``install_plugin(name, site)``: install ``tests/plugins/<name>`` into the folder ``site``; returns it."""
    return _install_plugin


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


DIGITS_INR_OVERRIDES = [
    "model.image_size=16",
    "model.patch_size=4",
    "model.encoder_width=32",
    "model.encoder_depth=1",
    "model.encoder_heads=2",
    "model.hidden_dim=32",
    "model.fourier_dim=32",
    "model.num_latents=8",
    "data.resolution=16",
    "data.test_size=8",
    "train.max_steps=4",
    "train.eval_every=4",
]


def train_digits_inr(out: Path) -> Path:
    """A tiny INR of the embedded digits (4 steps of apps/train.py); returns its model folder."""
    run_app("apps/train.py", "--config", "apps/configs/digits_default.yaml", "--output-dir", out, *DIGITS_INR_OVERRIDES)
    return out / "model"


@pytest.fixture
def digits_inr(tmp_path):
    return train_digits_inr(tmp_path / "inr")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A finished tiny image run of apps/train.py (2 steps): model/, metrics.json, reconstructions.png."""
    out = tmp_path_factory.mktemp("image-run") / "run"
    config = out.parent / "tiny.yaml"
    config.write_text(TINY_RUN.format(family="locinr", output_dir=out))
    run_app("apps/train.py", "--config", config, "train.max_steps=2")
    return out


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory, fid_weights):
    """A finished tiny prior run (apps/train_prior.py, 3 steps) scored by apps/evaluate_prior.py (FID with
    stand-in Inception weights) and benchmarks/prior_quality_bar.py (class accuracy of samples)."""
    root = tmp_path_factory.mktemp("prior-run")
    inr = train_digits_inr(root / "inr")
    out = root / "prior"
    run_app("apps/train_prior.py", "--inr", inr, "--output-dir", out, "--max-steps", "3", "--batch-size", "8",
            "--sample-steps", "2", "--cache-dir", root / "latents")  # fmt: skip
    run_app("apps/evaluate_prior.py", out / "pipeline", "--num-samples", "4", "--steps", "2", "--reference-size", "6",
            "--inception-weights", fid_weights)  # fmt: skip
    run_app("benchmarks/prior_quality_bar.py", "--inr", inr, "--pipeline", out / "pipeline", "--per-class", "2",
            "--steps", "2")  # fmt: skip
    return out


# Fixtures that train a prior (an INR first, then the prior): the tests that use them run in the slow tier.
SLOW_FIXTURES = {"prior_run", "digits_inr"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
