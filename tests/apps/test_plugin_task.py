"""A task defined outside ginr (tests/plugins/ginr-signals: 1-D signals with their own tokenizer, data, loss
and SNR metric, registered through the ``ginr.tasks`` and ``ginr.tokenizers`` entry points) trains with
apps/train.py on one and two processes, resumes exactly, evaluates, writes its card, publishes and
reloads, without a line of ginr changed."""

import json
import math
import os
import sys

import pytest
import torch
from safetensors.torch import load_file

from ginr_core import CheckpointMismatchError, GeneralizableINR

TRAIN = "apps/train.py"
SMALL = ["data.train_size=64", "data.test_size=16", "train.eval_every=3", "train.checkpoint_every=3"]
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no"]
LAUNCH += ["--dynamo_backend", "no"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory, install_plugin) -> dict:
    site = install_plugin("ginr-signals", tmp_path_factory.mktemp("site"))
    return {"PYTHONPATH": os.pathsep.join([site, os.environ.get("PYTHONPATH", "")]), "ACCELERATE_USE_CPU": "1"}


def _train(app, env, out, *overrides, processes=1):
    launcher = LAUNCH + (["--multi_gpu", "--num_processes", "2"] if processes == 2 else ["--num_processes", "1"])
    extra = {"OMP_NUM_THREADS": "1"} if processes == 2 else {}
    return app(TRAIN, "data.task=signals", "--output-dir", out, *SMALL, *overrides, launcher=launcher,
               env={**env, **extra})  # fmt: skip


@pytest.mark.slow
def test_a_task_from_another_package_trains_resumes_evaluates_publishes_and_reloads(tmp_path, app, plugin_env):
    env = plugin_env
    help_text = app(TRAIN, "--help-config", env=env).stdout
    assert "data.task=signals" in help_text and "samples per signal" in help_text  # its settings, with meanings

    straight = tmp_path / "straight"
    trained = _train(app, env, straight, "train.max_steps=6")
    assert "test SNR" in trained.stdout and "dB" in trained.stdout
    metrics = json.loads((straight / "metrics.json").read_text())
    assert metrics["data"]["task"] == "signals" and metrics["steps"] == 6 and metrics["data"]["resolution"] == 128
    assert math.isfinite(metrics["test"]["snr"]) and metrics["test"]["setting"] == "128 samples"
    assert metrics["test"]["images"] == 16 and "psnr" not in metrics["test"]
    saved = json.loads((straight / "model" / "config.json").read_text())
    assert saved["tokenizer"] == "signal-patches" and saved["d_in"] == 1 and saved["image_size"] == [1, 128]
    assert (straight / "signals.png").is_file()
    card = (straight / "model" / "README.md").read_text()
    assert "trained with ginr for 1-D signals" in card and "Test SNR" in card and "snr" in card

    # interrupted after 3 steps and resumed: the weights of the uninterrupted run
    resumed = tmp_path / "resumed"
    _train(app, env, resumed, "train.max_steps=3")
    again = _train(app, env, resumed, "train.max_steps=6", "--resume")
    assert "resumed from" in again.stdout
    a, b = load_file(straight / "model" / "model.safetensors"), load_file(resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # two processes: the test items scored once each, gathered
    double = tmp_path / "double"
    _train(app, env, double, "train.max_steps=4", processes=2)
    two = json.loads((double / "metrics.json").read_text())
    assert two["world_size"] == 2 and sorted(map(int, two["per_image_test_snr"])) == list(range(16))

    scored = app("apps/evaluate.py", straight / "model", "--size", "8", env=env)
    evaluation = json.loads((straight / "eval" / "eval.json").read_text())
    assert evaluation["signals"] == 8 and math.isfinite(evaluation["snr"]) and "SNR" in scored.stdout

    staged = tmp_path / "staged"
    app("apps/publish.py", straight, "--repo-id", "ginr-tester/signals", "--dry-run", staged, env=env)
    assert (staged / "model.safetensors").is_file() and "Test SNR" in (staged / "README.md").read_text()

    loaded = (
        app(
            "-c",
            "import sys, torch; from ginr_core import GeneralizableINR, pixel_centers; "
            "m = GeneralizableINR.from_pretrained(sys.argv[1]); "
            "print(type(m).__name__, m.tokenizer_class.name, tuple(m(torch.zeros(2, 1, 128), "
            "pixel_centers(512).view(1, -1, 1)).shape))",
            straight / "model",
            env=env,
        )
        .stdout.strip()
        .split(maxsplit=2)
    )
    assert loaded == ["LocalityAwareINR", "signal-patches", "(2, 512, 1)"]

    # without the plug-in installed, loading names the missing tokenizer and where it comes from
    with pytest.raises(CheckpointMismatchError, match="signal-patches.*ginr.tokenizers"):
        GeneralizableINR.from_pretrained(straight / "model")
