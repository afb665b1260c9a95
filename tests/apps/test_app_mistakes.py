"""Every app answers a mistyped path, a run folder where a model folder is expected, and the wrong kind of
model with one line on stderr and exit status 2."""

import importlib
import json

import pytest

from ginr_core import LocalityAwareINR

INR_APPS = ["evaluate", "render", "analyze", "train_prior"]
PIPELINE_APPS = ["sample", "evaluate_prior"]
COMMANDS = {"analyze": ["locality"], "train_prior": ["--inr"]}  # what comes before the model
TAKES_RUN_FOLDERS = {"analyze"}  # reads the run's data settings from its metrics.json


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    model = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                             hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    model.save_pretrained(root / "inr-run" / "model")
    (root / "prior-run" / "pipeline").mkdir(parents=True)
    index = {"_class_name": "LatentINRPipeline", "_diffusers_version": "0.30.0"}
    (root / "prior-run" / "pipeline" / "model_index.json").write_text(json.dumps(index))
    (root / "empty").mkdir()
    return root


def _mistake(app: str, source, capsys) -> str:
    main = importlib.import_module(f"ginr_apps.{app}").main
    with pytest.raises(SystemExit) as stop:
        main([*COMMANDS.get(app, []), str(source)])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("app", INR_APPS + PIPELINE_APPS)
def test_each_app_answers_three_mistakes_in_one_line(app, runs, capsys):
    inr = app in INR_APPS
    assert "no such folder" in _mistake(app, runs / "typo", capsys)
    run, part = (runs / "inr-run", "model") if inr else (runs / "prior-run", "pipeline")
    if app not in TAKES_RUN_FOLDERS:
        assert f"is a run folder; pass its {part}/ folder: {run / part}" in _mistake(app, run, capsys)
    other = runs / "prior-run" / "pipeline" if inr else runs / "inr-run" / "model"
    wrong = _mistake(app, other, capsys)
    assert ("holds a prior's pipeline" if inr else "holds a trained INR") in wrong and "not a" in wrong
    assert "holds no ginr model" in _mistake(app, runs / "empty", capsys)


def test_publish_answers_a_mistyped_path_and_a_folder_of_nothing_in_one_line(runs, tmp_path, capsys):
    from ginr_apps import publish

    for source, expected in ((runs / "typo", "does not exist"), (runs / "empty", "is not a ginr run or model folder")):
        with pytest.raises(SystemExit) as stop:
            publish.main([str(source), "--repo-id", "ginr-tester/x", "--dry-run", str(tmp_path / "staged")])
        lines = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(lines) == 1 and expected in lines[0], lines
