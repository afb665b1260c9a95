"""Runs never silently mix: a resume, a latent cache and an evaluation check what they depend on."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ginr_apps.checkpoints import latest_checkpoint, lock_run

TRAIN, PRIOR, EVAL = "apps/train.py", "apps/train_prior.py", "apps/evaluate.py"


def _images(folder, count, start=0, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(start, start + count):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


def test_fingerprint_changes_count_files_added_removed_and_changed(tmp_path):
    from ginr_data import fingerprint_changes, source_fingerprint

    _images(tmp_path / "data" / "train", 12)
    before = source_fingerprint(tmp_path / "data")
    assert before["count"] == 12 and fingerprint_changes(before, source_fingerprint(tmp_path / "data")) is None
    _images(tmp_path / "data" / "train", 28, start=12)
    _images(tmp_path / "data" / "train", 2, seed=1)  # rewritten in place: the top folder's mtime stays
    (tmp_path / "data" / "train" / "011.png").unlink()
    now = source_fingerprint(tmp_path / "data")
    assert fingerprint_changes(before, now) == "28 files added, 1 removed, 2 changed"
    assert fingerprint_changes({"source": "m", "weights": "a" * 64}, {"source": "m", "weights": "b" * 64}).startswith(
        "its weights changed"
    )


@pytest.mark.slow
def test_a_resume_after_the_data_folder_changed_is_refused_unless_allowed(tmp_path, tiny_config, app):
    data, out = tmp_path / "data", tmp_path / "run"
    _images(data / "train", 12)
    _images(data / "test", 4, seed=5)
    settings = ["--config", tiny_config(out), f"data.source={data}", "train.checkpoint_every=2"]
    app(TRAIN, *settings, "train.max_steps=2")
    _images(data / "train", 28, start=12)
    _images(data / "test", 2, seed=6)  # two test images replaced: another test set
    refused = app(TRAIN, *settings, "train.max_steps=4", "--resume", check=False)
    assert refused.returncode != 0
    assert f"data.source {data}: 28 files added, 0 removed, 2 changed since the run started" in refused.stderr
    assert "pass --allow-data-change to go on" in refused.stderr
    assert latest_checkpoint(out / "checkpoints").name == "step-00000002"  # nothing written
    allowed = app(TRAIN, *settings, "train.max_steps=4", "--resume", "--allow-data-change")
    assert "28 files added, 0 removed, 2 changed since the run started (allowed: --allow-data-change)" in allowed.stdout
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_the_latent_cache_is_rebuilt_when_files_under_train_change(tmp_path, tiny):
    from accelerate import Accelerator

    from ginr_apps import train_prior

    data = tmp_path / "data"
    _images(data / "train", 6)
    _images(data / "test", 2)
    inr = tiny("locinr").eval()
    config = train_prior.load_prior_config(
        None, ["prior.inr=x", f"data.source={data}", f"data.cache_dir={tmp_path / 'cache'}", "data.num_workers=0"]
    )
    accelerator = Accelerator(cpu=True)
    first = train_prior.latent_cache(config, inr, accelerator)
    assert train_prior.latent_cache(config, inr, accelerator).folder == first.folder  # unchanged: reused
    top = data.stat().st_mtime_ns
    _images(data / "train", 1, seed=9)  # 000.png rewritten: neither the top folder's nor train/'s mtime moves
    assert data.stat().st_mtime_ns == top
    second = train_prior.latent_cache(config, inr, accelerator)
    assert second.folder != first.folder
    assert not torch.equal(second[[0]][0], first[[0]][0]) and torch.equal(second[[1]][0], first[[1]][0])


@pytest.mark.slow
def test_a_prior_resume_after_its_inr_was_replaced_is_refused_naming_the_inr(tmp_path, tiny, app):
    data, inr, out, cache = tmp_path / "data", tmp_path / "inr", tmp_path / "prior", tmp_path / "cache"
    _images(data / "train", 8)
    tiny("locinr").save_pretrained(inr)
    settings = ["--inr", inr, "--data", data, "--output-dir", out, "--cache-dir", cache, "--batch-size", "4"]
    settings += ["--checkpoint-every", "2", "--sample-steps", "2", "data.num_workers=0"]
    app(PRIOR, *settings, "--max-steps", "2")
    other = tiny("locinr")
    with torch.no_grad():
        next(other.parameters()).add_(0.5)
    other.save_pretrained(inr)  # another INR at the same path
    refused = app(PRIOR, *settings, "--max-steps", "4", "--resume", check=False)
    assert refused.returncode != 0
    assert f"--inr {inr}: its weights changed" in refused.stderr and "pass --allow-inr-change" in refused.stderr
    assert "encoding" not in refused.stderr + refused.stdout and len(list(cache.iterdir())) == 1  # refused first
    assert latest_checkpoint(out / "checkpoints").name == "step-00000002"
    allowed = app(PRIOR, *settings, "--max-steps", "4", "--resume", "--allow-inr-change")
    assert "(allowed: --allow-inr-change)" in allowed.stdout
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_evaluate_writes_nothing_into_a_run_that_is_training(image_run, app):
    with lock_run(image_run):  # a run resuming there holds its folder
        refused = app(EVAL, image_run / "model", "--size", "2", check=False)
    assert refused.returncode == 2
    assert f"{image_run} is in use by process" in refused.stderr and "--output-dir" in refused.stderr
    assert not (image_run / "eval").exists()
    app(EVAL, image_run / "model", "--size", "2")  # the run ended: scored into it
    assert json.loads((image_run / "eval" / "eval.json").read_text())["images"] == 2


@pytest.mark.slow
def test_the_fid_reference_statistics_are_recomputed_when_a_reference_image_changes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ginr_apps import evaluate_prior
    from ginr_data import image_dataset

    monkeypatch.setattr(evaluate_prior, "inception_features", lambda net, images: images.flatten(1)[:, :5].double())
    _images(tmp_path / "ref" / "test", 6)
    args = SimpleNamespace(inception_weights=None, split="test", protocol=None, batch_size=4, fid_cache=tmp_path)
    state = SimpleNamespace(is_main_process=True, is_local_main_process=False, process_index=0, num_processes=1)

    def statistics():
        dataset = image_dataset(tmp_path / "ref", "test", resolution=8)
        return evaluate_prior.reference_statistics(None, dataset, tmp_path / "ref", args, 8, state)[0]

    first = statistics()
    assert torch.equal(statistics(), first)  # unchanged: from the cache
    _images(tmp_path / "ref" / "test", 1, seed=7)  # a reference image rewritten in place
    assert not torch.allclose(statistics(), first)
