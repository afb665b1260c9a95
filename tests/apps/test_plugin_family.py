"""A model family defined outside ginr (tests/plugins/ginr-mean-film, registered through the
``ginr.families`` entry point) trains with apps/train.py, evaluates, publishes and loads like the
built-in ones, without a line of ginr changed."""

import json
import os
import sys

import pytest

from ginr_core import CheckpointMismatchError, GeneralizableINR, list_families


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory, install_plugin) -> str:
    """A site folder where the plug-in is installed, as `pip install` lays it out."""
    return install_plugin("ginr-mean-film", tmp_path_factory.mktemp("site"))


@pytest.mark.slow
def test_a_family_from_another_package_trains_evaluates_publishes_and_loads(tmp_path, tiny_config, app, plugin_path):
    env = {"PYTHONPATH": os.pathsep.join([plugin_path, os.environ.get("PYTHONPATH", "")])}
    listed = app("-c", "import ginr_core; print(sorted(ginr_core.list_families()))", env=env).stdout
    assert "mean-film" in listed and "locinr" in listed
    assert "mean-film" in app("apps/train.py", "--help", env=env).stdout  # --model choices read the registry

    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    config = tiny_config(out)
    trained = app(
        "apps/train.py", "--config", config, "--model", "mean-film", "train.max_steps=4", launcher=launcher,
        env={**env, "ACCELERATE_USE_CPU": "1"},
    )  # fmt: skip
    assert "test PSNR" in trained.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["class"] == "MeanFiLMINR" and metrics["steps"] == 4
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["_class_name"] == "MeanFiLMINR" and saved["_family"] == "mean-film" and saved["hidden_dim"] == 32

    scored = app("apps/evaluate.py", out / "model", "--size", "4", env=env)
    evaluation = json.loads((out / "eval" / "eval.json").read_text())
    assert evaluation["class"] == "MeanFiLMINR" and 5 < evaluation["resolutions"]["16"]["psnr"] < 60
    assert "PSNR" in scored.stdout

    staged = tmp_path / "staged"
    app("apps/publish.py", out, "--repo-id", "ginr-tester/mean-film", "--dry-run", staged, env=env)
    card = (staged / "README.md").read_text()
    assert (staged / "model.safetensors").is_file() and "mean-film" in card and "MeanFiLMINR" in card

    loaded = app(
        "-c",
        "import sys; from ginr_core import GeneralizableINR; m = GeneralizableINR.from_pretrained(sys.argv[1]); "
        "print(type(m).__name__, m.family, m.latent_dim)",
        out / "model",
        env=env,
    ).stdout.split()
    assert loaded == ["MeanFiLMINR", "mean-film", "64"]

    # without the plug-in installed, the checkpoint names what is missing
    assert "mean-film" not in list_families()
    with pytest.raises(CheckpointMismatchError, match="_class_name='MeanFiLMINR', _family='mean-film'"):
        GeneralizableINR.from_pretrained(out / "model")
