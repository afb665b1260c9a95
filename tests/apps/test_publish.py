"""apps/publish.py: dry runs, publishing through huggingface_hub (only its HTTP transport replaced by a
local fake Hub), and loading what was published by repo id, offline, from the real Hub cache."""

import json
import re
from pathlib import Path

import huggingface_hub
import pytest
import torch
from fakehub import FakeHub
from huggingface_hub import ModelCard, constants, snapshot_download
from PIL import Image
from safetensors.torch import load_file

from ginr_apps import publish
from ginr_core import IPC, CheckpointMismatchError, LocalityAwareINR

pytestmark = pytest.mark.skipif(
    int(huggingface_hub.__version__.split(".")[0]) < 1,
    reason="the fake Hub replaces the httpx transport of huggingface_hub >= 1.0",
)
REPO, PRIOR_REPO = "ginr-tester/locinr-photos", "ginr-tester/prior-digits"


def _offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _snippet(card_text: str) -> str:
    (code,) = re.findall(r"## Use\n\n```python\n(.*?)```", card_text, flags=re.S)
    return code


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        publish.main([str(a) for a in argv])
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_dry_run_writes_and_lists_exactly_the_repository_with_hub_metadata(image_run, tmp_path, capsys):
    staged = tmp_path / "staged"
    publish.main([str(image_run), "--repo-id", REPO, "--dry-run", str(staged)])
    listed = capsys.readouterr().out
    files = sorted(p.name for p in staged.iterdir())
    assert files == ["README.md", "config.json", "metrics.json", "model.safetensors", "reconstructions.png"]
    assert all(name in listed for name in files) and f"{REPO} would receive 5 files" in listed
    weights, trained = load_file(staged / "model.safetensors"), load_file(image_run / "model" / "model.safetensors")
    assert weights.keys() == trained.keys() and all(torch.equal(weights[k], trained[k]) for k in weights)

    metrics = json.loads((image_run / "metrics.json").read_text())
    card = ModelCard.load(staged / "README.md")  # huggingface_hub's own parser of the metadata
    data = card.data
    assert data.library_name == "ginr" and data.license == "apache-2.0"
    assert {"ginr", "implicit-neural-representation", "locinr", "image-reconstruction"} <= set(data.tags)
    assert data.datasets is None  # the embedded photos are no Hub dataset
    (result,) = data.eval_results
    assert result.metric_type == "psnr" and result.metric_value == round(metrics["test"]["psnr"], 2)
    assert result.task_type == "image-to-image" and result.dataset_name == "photos" and result.dataset_split == "test"
    assert data.model_name == "locinr-photos"
    assert f'LocalityAwareINR.from_pretrained("{REPO}")' in card.text and "![reconstructions]" in card.text
    assert f"{metrics['test']['psnr']:.2f}" in card.text

    # a dry run never writes into a folder that holds something
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert "is not an empty folder" in _fails([image_run, "--repo-id", REPO, "--dry-run", tmp_path / "busy"], capsys)
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["keep.txt"]


def test_published_model_loads_by_repo_id_offline_and_its_card_snippet_runs(image_run, tmp_path, monkeypatch):
    hub = FakeHub(tmp_path / "hub")
    staged = tmp_path / "staged"
    publish.main([str(image_run), "--repo-id", REPO, "--dry-run", str(staged)])
    with hub.online(monkeypatch):
        url = publish.main([str(image_run), "--repo-id", REPO, "--commit-message", "first model"])
        snapshot_download(REPO)  # a user's first download fills the Hub cache (the real cache layout)
    assert hub.unhandled == [] and url.startswith(f"https://huggingface.co/{REPO}/commit/")
    (commit,) = hub.commits
    assert commit["summary"] == "first model" and commit["files"] == _folder_files(staged)  # exactly the dry run

    _offline(monkeypatch)
    model = LocalityAwareINR.from_pretrained(REPO)
    trained = load_file(image_run / "model" / "model.safetensors")
    assert all(torch.equal(model.state_dict()[k], trained[k]) for k in trained)
    monkeypatch.chdir(tmp_path)
    Image.effect_mandelbrot((90, 60), (-2, -1.2, 1, 1.2), 60).convert("RGB").save("photo.jpg")  # another size
    namespace: dict = {}
    exec(compile(_snippet(hub.files(REPO)["README.md"].decode()), "README.md", "exec"), namespace)
    assert namespace["same"].size == (16, 16) and namespace["x3"].size == (48, 48)
    assert tuple(namespace["latents"].shape) == (1, model.num_latents, model.latent_dim)
    assert model.preprocessing == {"resize": "shorter_side", "crop": "center", "value_range": [0.0, 1.0]}
    with pytest.raises(CheckpointMismatchError, match=f"{REPO} holds a LocalityAwareINR checkpoint.*IPC"):
        IPC.from_pretrained(REPO)

    # a second upload to a branch updates the same repository; --private creates a private one
    with hub.online(monkeypatch):
        publish.main([str(image_run / "model"), "--repo-id", REPO, "--revision", "v2"])
        publish.main([str(image_run / "model"), "--repo-id", "ginr-tester/private-model", "--private"])
    assert hub.files(REPO, "v2")["model.safetensors"] == hub.files(REPO)["model.safetensors"]
    assert hub.repos["ginr-tester/private-model"]["private"] and not hub.repos[REPO]["private"]


def test_publishing_errors_say_what_to_do(image_run, tmp_path, monkeypatch, capsys):
    argv = [image_run, "--repo-id", REPO]
    assert "HF_HUB_OFFLINE is set" in _fails(argv, capsys)  # the tests run offline
    hub = FakeHub(tmp_path / "hub")
    with hub.online(monkeypatch, token=None):
        assert "no Hugging Face token" in _fails(argv, capsys)
    with hub.online(monkeypatch, token="hf_not_valid"):
        assert "HTTP 401 (the token was rejected" in _fails(argv, capsys)
    hub._seed("ginr-tester/ipc-model", {"config.json": json.dumps({"_class_name": "IPC"}).encode()})
    hub._seed("ginr-tester/other-lib", {"pytorch_model.bin": b"\0", "README.md": b"hi"})
    with hub.online(monkeypatch):
        message = _fails([image_run, "--repo-id", "ginr-tester/ipc-model"], capsys)
        assert "ginr-tester/ipc-model already holds a IPC; this is a LocalityAwareINR" in message
        message = _fails([image_run, "--repo-id", "ginr-tester/other-lib"], capsys)
        assert "not a ginr model (pytorch_model.bin)" in message
        assert "HTTP 403" in _fails([image_run, "--repo-id", "someone-else/model"], capsys)
    assert hub.commits == []  # nothing was uploaded anywhere

    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints" / "step-00000040").mkdir(parents=True)
    message = _fails([unfinished, "--repo-id", REPO, "--dry-run", tmp_path / "d1"], capsys)
    assert "latest: step-00000040" in message and "did not finish" in message and "--resume" in message
    message = _fails([tmp_path, "--repo-id", REPO, "--dry-run", tmp_path / "d2"], capsys)
    assert "is not a ginr run or model folder" in message
    assert "does not exist" in _fails([tmp_path / "nope", "--repo-id", REPO], capsys)
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()
    with pytest.raises(SystemExit):
        publish.main([str(image_run), "--repo-id", "no-namespace"])
    assert "--repo-id must look like <user>/<name>" in capsys.readouterr().err


def test_a_prior_publishes_with_its_fid_and_loads_offline_as_a_pipeline(prior_run, tmp_path, monkeypatch, capsys):
    from ginr_diffusion import LatentINRPipeline

    staged = tmp_path / "staged"
    publish.main([str(prior_run), "--repo-id", PRIOR_REPO, "--dry-run", str(staged)])
    files = set(_folder_files(staged))
    assert {"model_index.json", "README.md", "metrics.json", "samples.png", "fid.json", "sample_metrics.json"} <= files
    assert {"denoiser/config.json", "scheduler/scheduler_config.json", "inr/config.json"} <= files
    fid = json.loads((prior_run / "eval" / "fid.json").read_text())
    bar = json.loads((prior_run / "eval" / "sample_metrics.json").read_text())
    data = ModelCard.load(staged / "README.md").data
    accuracy_25, accuracy_10, fid_result = data.eval_results
    assert fid_result.metric_type == "fid" and fid_result.metric_value == round(fid["fid"], 2)
    assert accuracy_25.metric_type == "accuracy" and accuracy_25.metric_value == round(bar["class_accuracy"]["2.5"], 4)
    assert accuracy_10.metric_name == "class accuracy of samples, guidance 1.0"
    assert fid_result.dataset_name == "digits" and "diffusion" in data.tags and data.library_name == "ginr"

    hub = FakeHub(tmp_path / "hub")
    with hub.online(monkeypatch):
        publish.main([str(prior_run / "pipeline"), "--repo-id", PRIOR_REPO])
        online = LatentINRPipeline.from_pretrained(PRIOR_REPO)  # downloads into the Hub cache
        assert online.denoiser.config.num_classes == 10
        inr_run = prior_run.parent / "inr"
        message = _fails([inr_run, "--repo-id", PRIOR_REPO], capsys)
        assert f"{PRIOR_REPO} already holds a LatentINRPipeline; this is a LocalityAwareINR" in message
    assert hub.unhandled == [] and hub.commits[0]["files"] == _folder_files(staged)

    _offline(monkeypatch)
    pipe = LatentINRPipeline.from_pretrained(PRIOR_REPO)
    assert pipe.denoiser.config.num_classes == 10
    monkeypatch.chdir(tmp_path)
    exec(compile(_snippet(hub.files(PRIOR_REPO)["README.md"].decode()), "README.md", "exec"), {})
    assert (tmp_path / "sample.png").is_file()
    with pytest.raises(CheckpointMismatchError, match="holds a diffusers pipeline.*LatentINRPipeline.from_pretrained"):
        LocalityAwareINR.from_pretrained(PRIOR_REPO)
    with pytest.raises(ValueError, match="holds a LocalityAwareINR checkpoint, not a LatentINRPipeline"):
        LatentINRPipeline.from_pretrained(prior_run.parent / "inr" / "model")


def _run_copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    return copy


@pytest.mark.parametrize(
    "where",
    ["reconstructions.png", "metrics.json", "model/config.json", "model/model.safetensors", "model"],
)
def test_a_link_in_a_run_is_never_followed_out_of_it(image_run, tmp_path, capsys, where):
    run = _run_copy(image_run, tmp_path)
    secret = tmp_path / "secret-token"
    secret.write_text("hf_not_for_the_hub")
    target = run / where
    if target.is_dir():  # the whole model folder is a link to a copy elsewhere
        import shutil

        shutil.move(target, tmp_path / "elsewhere")
        target.symlink_to(tmp_path / "elsewhere")
    else:
        target.unlink()
        target.symlink_to(secret if where != "reconstructions.png" else "/etc/passwd")
    staged = tmp_path / "staged"
    message = _fails([run, "--repo-id", REPO, "--dry-run", staged], capsys)
    assert f"{target} is a symbolic link" in message
    assert not staged.exists() or not any(
        "hf_not_for_the_hub" in p.read_text(errors="ignore") for p in staged.rglob("*")
    )


def test_only_files_a_run_writes_are_published_within_their_size(image_run, tmp_path, capsys):
    run = _run_copy(image_run, tmp_path)
    preview = run / "reconstructions.png"
    with open(preview, "r+b") as f:
        f.truncate(300 << 20)  # a 300 MB "preview" (sparse: no disk used)
    assert "more than the 32.0 MB" in _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "a"], capsys)
    preview.write_bytes(b"#!/bin/sh\necho not a picture\n")
    assert f"{preview} is not a PNG image" in _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "b"], capsys)
    for bad in ("../x", "u/..", "u/a b;rm -rf", "a/b/c"):
        with pytest.raises(SystemExit):
            publish.main([str(image_run), "--repo-id", bad, "--dry-run", str(tmp_path / "c")])
        assert "--repo-id must look like" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_a_model_with_non_finite_weights_or_psnr_is_not_published(image_run, tmp_path, capsys):
    from safetensors.torch import save_file

    run = _run_copy(image_run, tmp_path)
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics_path.write_text(json.dumps({**metrics, "test": {**metrics["test"], "psnr": None}}))
    assert "test.psnr is None, not a finite number" in _fails(
        [run, "--repo-id", REPO, "--dry-run", tmp_path / "a"], capsys
    )
    metrics_path.write_text('{"test": {"psnr": 20.0')  # cut short
    message = _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "b"], capsys)
    assert str(metrics_path) in message and "cannot read" in message
    metrics_path.write_text(json.dumps({**metrics, "test": {"psnr": 20.0}}))  # keys missing
    message = _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "c"], capsys)
    assert "lacks what a model card needs" in message and str(metrics_path) in message
    metrics_path.write_text(json.dumps(metrics))
    weights = load_file(run / "model" / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, run / "model" / "model.safetensors", metadata={"format": "pt"})
    message = _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "d"], capsys)
    assert f"{name} holds NaN or Inf" in message and "never published" in message


def test_a_prior_run_with_a_link_or_a_stray_file_in_its_pipeline_is_refused(prior_run, tmp_path, capsys):
    run = _run_copy(prior_run, tmp_path)
    link = run / "pipeline" / "denoiser" / "notes.json"
    link.symlink_to("/etc/passwd")
    assert f"{link} is a symbolic link" in _fails([run, "--repo-id", PRIOR_REPO, "--dry-run", tmp_path / "a"], capsys)
    link.unlink()
    stray = run / "pipeline" / "inr" / "id_rsa"
    stray.write_text("private key")
    message = _fails([run, "--repo-id", PRIOR_REPO, "--dry-run", tmp_path / "b"], capsys)
    assert f"{stray}: a suffix-less file is not something a ginr run writes" in message


# The Hub's task ids (huggingface.js packages/tasks: the `pipeline_tag` values the Hub filters on) that ginr's
# models could claim; "image-generation" is not one.
HUB_TASKS = {"image-to-image", "image-to-3d", "unconditional-image-generation", "text-to-image", "image-to-video"}


def _check_hub_metadata(card: ModelCard, where: str) -> None:
    data = card.data
    assert data.library_name == "ginr" and data.license == "apache-2.0", where
    assert data.pipeline_tag in HUB_TASKS, (where, data.pipeline_tag)
    assert all(r.task_type in HUB_TASKS for r in data.eval_results or []), where
    assert data.base_model is None or re.fullmatch(r"[\w.-]+/[\w.-]+", data.base_model), (where, data.base_model)
    assert "More Information Needed" not in card.text, where


def test_every_card_the_apps_write_has_valid_hub_metadata(image_run, prior_run, tmp_path, monkeypatch):
    from ginr_apps.cards import prior_model_card
    from ginr_diffusion import LatentINRPipeline

    cards = {"model": ModelCard.load(image_run / "model" / "README.md")}
    staged = tmp_path / "staged"
    publish.main([str(image_run), "--repo-id", REPO, "--dry-run", str(staged)])
    cards["published model"] = ModelCard.load(staged / "README.md")
    cards["prior"] = ModelCard.load(prior_run / "pipeline" / "README.md")
    publish.main([str(prior_run / "pipeline"), "--repo-id", PRIOR_REPO, "--dry-run", str(tmp_path / "prior")])
    cards["published prior"] = ModelCard.load(tmp_path / "prior" / "README.md")
    for where, card in cards.items():
        _check_hub_metadata(card, where)
    assert cards["model"].data.pipeline_tag == "image-to-image"
    assert cards["prior"].data.pipeline_tag == "unconditional-image-generation"
    assert "class-conditional" in cards["prior"].data.tags
    assert cards["prior"].data.base_model is None  # its INR is a local folder: no Hub id to name
    # a prior of a Hub INR names it as its base model
    pipe = LatentINRPipeline.from_pretrained(prior_run / "pipeline")
    metrics = json.loads((prior_run / "metrics.json").read_text())
    hub_prior = prior_model_card(pipe, {**metrics, "inr": "ginr-tester/locinr-digits"})
    _check_hub_metadata(hub_prior, "prior of a Hub INR")
    assert hub_prior.data.base_model == "ginr-tester/locinr-digits"
    # the card huggingface_hub writes when a user pushes a model directly names the code and the docs
    model = LocalityAwareINR.from_pretrained(image_run / "model")
    generated = model.generate_model_card()
    assert "github.com/ginr-project/ginr" in generated.text and "More Information Needed" not in generated.text


def test_a_space_dry_run_stages_the_demo_and_the_named_models_only(image_run, tmp_path, capsys):
    import runpy
    import sys

    staged = tmp_path / "space"
    publish.main(["--space", "--repo-id", "ginr-tester/ginr-demo", "--model", str(image_run), "--dry-run", str(staged)])
    files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    assert files == ["README.md", "app.py", "ginr_demo.py", "models/model/config.json",
                     "models/model/model.safetensors", "requirements.txt"]  # fmt: skip
    assert (staged / "models/model/model.safetensors").read_bytes() == (
        image_run / "model/model.safetensors"
    ).read_bytes()
    assert "sdk: gradio" in (staged / "README.md").read_text() and "gradio" in (staged / "requirements.txt").read_text()
    assert not list(tmp_path.glob(".space*"))  # staged through a temporary folder, renamed when whole
    sys.path.insert(0, str(staged))
    try:  # the Space's app builds its page from its own folder
        space = runpy.run_path(str(staged / "app.py"))
    finally:
        sys.path.remove(str(staged))
        sys.modules.pop("ginr_demo", None)
    assert space["demo"].get_config_file()["title"] == "ginr demo"
    wrong = _fails(["--space", "--repo-id", REPO, "--prior", image_run, "--dry-run", tmp_path / "x"], capsys)
    assert "--prior" in wrong and "takes a pipeline" in wrong and not (tmp_path / "x").exists()
    assert "not both" in _fails([image_run, "--space", "--repo-id", REPO, "--model", image_run], capsys)


@pytest.fixture
def tiny_prior_run(tiny, tmp_path):
    """A prior run folder as apps/train_prior.py and apps/evaluate_prior.py leave it, of tiny untrained models."""
    from ginr_diffusion import LatentDenoiser, LatentINRPipeline, sampling_scheduler

    run = tmp_path / "prior-run"
    torch.manual_seed(0)
    denoiser = LatentDenoiser(num_latents=8, latent_dim=16, width=32, depth=1, heads=2, num_classes=2)
    LatentINRPipeline(denoiser, sampling_scheduler(), tiny("locinr")).save_pretrained(run / "pipeline")
    (run / "metrics.json").write_text(json.dumps({"steps": 3, "train_minutes": 0.1, "command": "c", "data": "digits"}))
    (run / "eval").mkdir()
    fid = {"fid": 12.5, "num_samples": 4, "reference": "digits", "split": "test", "reference_images": 6,
           "guidance_scale": 2.5, "num_inference_steps": 2}  # fmt: skip
    (run / "eval" / "fid.json").write_text(json.dumps(fid))
    return run


def test_a_hard_link_in_a_run_is_refused_naming_it(image_run, tiny_prior_run, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "fid.json"
    secret.write_text(json.dumps({"token": "hf_not_for_the_hub"}))
    linked = tiny_prior_run / "eval" / "fid.json"
    linked.unlink()
    linked.hardlink_to(secret)
    message = _fails([tiny_prior_run, "--repo-id", PRIOR_REPO, "--dry-run", tmp_path / "a"], capsys)
    assert f"{linked} has 2 hard links" in message and "only files with one link are published" in message
    run = _run_copy(image_run, tmp_path)
    (outside / "weights").hardlink_to(run / "model" / "model.safetensors")  # a link the other way: the same
    message = _fails([run, "--repo-id", REPO, "--dry-run", tmp_path / "b"], capsys)
    assert f"{run / 'model' / 'model.safetensors'} has 2 hard links" in message
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_stray_or_edited_json_in_a_pipeline_is_refused_naming_it(tiny_prior_run, tmp_path, capsys):
    argv = [tiny_prior_run, "--repo-id", PRIOR_REPO, "--dry-run"]
    publish.main([str(a) for a in argv] + [str(tmp_path / "good")])
    capsys.readouterr()
    assert {"fid.json", "metrics.json", "model_index.json"} <= set(_folder_files(tmp_path / "good"))
    for stray in ("notes.json", "denoiser/secrets.json"):
        path = tiny_prior_run / "pipeline" / stray
        path.write_text(json.dumps({"token": "hf_not_for_the_hub"}))
        message = _fails([*argv, tmp_path / stray.replace("/", "-")], capsys)
        assert f"{path} is not a file that a ginr pipeline holds" in message
        path.unlink()
    config = tiny_prior_run / "pipeline" / "denoiser" / "config.json"
    written = config.read_text()
    config.write_text(json.dumps({**json.loads(written), "token": "hf_not_for_the_hub"}))
    message = _fails([*argv, tmp_path / "config"], capsys)
    assert f"{config} holds keys that ginr does not write there (token)" in message
    config.write_text(written)
    hidden = tiny_prior_run / "pipeline" / ".cache.json"
    hidden.write_text("{}")
    publish.main([str(a) for a in argv] + [str(tmp_path / "hidden")])
    assert _folder_files(tmp_path / "hidden").keys() == _folder_files(tmp_path / "good").keys()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{nope", "cannot read"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"fid": "12.5"}), "fid is '12.5', expected a finite number"),
        (json.dumps({"fid": 1.0, "num_samples": 4}), "reference is None, expected a str"),
    ],
)
def test_a_report_that_ginr_did_not_write_is_refused_naming_it(tiny_prior_run, tmp_path, capsys, text, expected):
    report = tiny_prior_run / "eval" / "fid.json"
    report.write_text(text)
    message = _fails([tiny_prior_run, "--repo-id", PRIOR_REPO, "--dry-run", tmp_path / "staged"], capsys)
    assert str(report) in message and expected in message
    assert not (tmp_path / "staged").exists()


def test_an_image_run_publishes_no_prior_reports(image_run, tmp_path):
    run = _run_copy(image_run, tmp_path)
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / "fid.json").write_text(json.dumps({"token": "hf_not_for_the_hub"}))
    (run / "eval" / "sample_metrics.json").write_text("not JSON")
    publish.main([str(run), "--repo-id", REPO, "--dry-run", str(tmp_path / "staged")])
    assert sorted(_folder_files(tmp_path / "staged")) == [
        "README.md", "config.json", "metrics.json", "model.safetensors", "reconstructions.png"]  # fmt: skip


CRAFTED_README = """---
library_name: ginr
base_model: someone-else/famous-model
model-index:
- name: fake
  results:
  - task: {type: image-to-image}
    metrics:
    - {type: psnr, value: 99.9}
tags: [unclosed
---
# The best model ever: 99.9 dB
"""


def test_a_model_folder_s_own_readme_is_never_published(image_run, tmp_path):
    import shutil

    folder = tmp_path / "alone" / "model"  # no run beside it: nothing measured comes with it
    shutil.copytree(image_run / "model", folder)
    (folder / "README.md").write_text(CRAFTED_README)
    publish.main([str(folder), "--repo-id", REPO, "--dry-run", str(tmp_path / "staged")])
    text = (tmp_path / "staged" / "README.md").read_text()
    card = ModelCard.load(tmp_path / "staged" / "README.md")  # its YAML parses
    assert "99.9" not in text and "someone-else" not in text and "best model" not in text
    assert card.data.eval_results is None and card.data.base_model is None and card.data.library_name == "ginr"
    assert "no run's measurements came with it" in " ".join(text.split()) and f'from_pretrained("{REPO}")' in text
    _check_hub_metadata(card, "a model folder alone")
    # a run's model folder with such a README: the card comes from the run's metrics.json
    run = _run_copy(image_run, tmp_path)
    (run / "model" / "README.md").write_text(CRAFTED_README)
    publish.main([str(run / "model"), "--repo-id", REPO, "--dry-run", str(tmp_path / "staged-run")])
    card = ModelCard.load(tmp_path / "staged-run" / "README.md")
    metrics = json.loads((run / "metrics.json").read_text())
    assert card.data.eval_results[0].metric_value == round(metrics["test"]["psnr"], 2) and "99.9" not in card.text
