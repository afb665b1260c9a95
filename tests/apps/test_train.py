"""End-to-end runs of apps/train.py and apps/evaluate.py on a tiny configuration (fresh processes)."""

import json
import shutil
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ginr_apps.checkpoints import latest_checkpoint, list_checkpoints
from ginr_apps.files import replace_dir, write_json
from ginr_core import GeneralizableINR

TRAIN = "apps/train.py"


def test_a_tiny_run_writes_every_output(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), "--model", "ipc", "train.max_steps=6")
    assert "test PSNR" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["test"]["images"] == 6 and metrics["world_size"] == 1
    assert metrics["model"]["class"] == "IPC" and metrics["skipped_images"] == 0
    assert [h["step"] for h in metrics["history"]] == [4, 6]
    assert metrics["config"]["train"]["max_steps"] == 6 and "--model ipc" in metrics["command"]
    # the model folder loads back and scores what metrics.json says
    model = GeneralizableINR.from_pretrained(out / "model")
    assert type(model).__name__ == "IPC" and model.image_size == (16, 16)
    card = (out / "model" / "README.md").read_text()
    assert "library_name: ginr" in card and f"{metrics['test']['psnr']:.2f}" in card and "--model ipc" in card
    # checkpoints: the last two kept, complete, named by step
    assert [step for step, _ in list_checkpoints(out / "checkpoints")] == [4, 6]
    picture = Image.open(out / "reconstructions.png")
    assert picture.size[1] > 6 * 128 and picture.size[0] > 3 * 128  # 6 held-out images x 3 panels


def test_an_existing_run_is_never_overwritten(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    config = tiny_config(out)
    app(TRAIN, "--config", config, "train.max_steps=2")
    before = (out / "model" / "model.safetensors").read_bytes()
    again = app(TRAIN, "--config", config, "train.max_steps=2", check=False)
    assert again.returncode != 0 and "already holds a run; pass --resume" in again.stderr + again.stdout
    assert (out / "model" / "model.safetensors").read_bytes() == before
    bad = app(TRAIN, "--config", config, "train.lrr=1", "--output-dir", str(tmp_path / "other"), check=False)
    assert bad.returncode == 2 and "unknown setting train.lrr" in bad.stderr
    assert not (tmp_path / "other").exists()


def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path, tiny_config, app):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    app(TRAIN, "--config", tiny_config(straight), "train.max_steps=8", "data.subsample=0.5")
    app(TRAIN, "--config", tiny_config(resumed), "train.max_steps=4", "data.subsample=0.5")
    result = app(TRAIN, "--config", tiny_config(resumed), "train.max_steps=8", "data.subsample=0.5", "--resume")
    assert "resumed from" in result.stdout and "step 4" in result.stdout
    a = load_file(straight / "model" / "model.safetensors")
    b = load_file(resumed / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    history = json.loads((resumed / "metrics.json").read_text())["history"]
    assert [h["step"] for h in history] == [4, 8]  # the first run's final evaluation, then the resumed run's


def test_a_crash_during_a_checkpoint_leaves_the_previous_one_loadable(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(out), "train.max_steps=4")
    # what a crash in the middle of writing step 6 leaves behind: an unfinished temporary folder
    partial = out / "checkpoints" / ".tmp-step-00000006"
    shutil.copytree(latest_checkpoint(out / "checkpoints"), partial)
    (partial / "state.safetensors").write_bytes(b"truncated")
    assert latest_checkpoint(out / "checkpoints").name == "step-00000004"
    result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=6", "--resume")
    assert "step 4" in result.stdout
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [4, 6] and not partial.exists()


def test_atomic_writes_keep_the_old_version_when_writing_fails(tmp_path):
    write_json(tmp_path / "metrics.json", {"psnr": 1})
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_text("good")

    def crash(folder):
        (folder / "weights").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_dir(tmp_path / "model", crash)
    assert (tmp_path / "model" / "weights").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model"]  # no leftovers


def test_two_processes_shard_the_data_and_gather_metrics_without_duplicates(tmp_path, tiny_config, app):
    single, double = tmp_path / "single", tmp_path / "double"
    app(TRAIN, "--config", tiny_config(single), "train.max_steps=6", "data.test_size=7")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    env = {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    app(
        TRAIN,
        "--config",
        tiny_config(double),
        "train.max_steps=6",
        "data.test_size=7",
        launcher=launcher,
        env=env,
    )
    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((double / "metrics.json").read_text())
    assert two["world_size"] == 2 and two["test"]["images"] == 7
    assert sorted(int(k) for k in two["per_image_test_psnr"]) == list(range(7))  # each image once, none twice
    # the same global batches split over two ranks: the same training, up to float summation order
    assert two["test"]["psnr"] == pytest.approx(one["test"]["psnr"], abs=0.02)
    # After one step the weights agree to float rounding (DDP sums gradients in another order). Over
    # several Adam steps that rounding grows chaotically (measured with torch 2.13 / accelerate 1.15:
    # 1.3e-7 after 1 step, 2.7e-4 after 6; one process with 1 vs 2 threads: 4e-6 after 6), so the
    # weights are compared after the first step, where they must agree to 1e-6.
    for out, extra in ((single, {}), (double, {"launcher": launcher, "env": env})):
        config = tiny_config(out.parent / f"{out.name}-1")
        app(TRAIN, "--config", config, "train.max_steps=1", "train.eval_every=1", "data.test_size=2", **extra)
    a = load_file(tmp_path / "single-1" / "model" / "model.safetensors")
    b = load_file(tmp_path / "double-1" / "model" / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


def test_evaluate_reports_native_and_other_resolutions(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(out), "train.max_steps=2")
    result = app("apps/evaluate.py", out / "model", "--resolutions", "16", "32", "--size", "5")
    report = json.loads((out / "eval" / "eval.json").read_text())
    assert set(report["resolutions"]) == {"16", "32"} and report["images"] == 5
    assert len(report["resolutions"]["32"]["per_image"]) == 5
    metrics = json.loads((out / "metrics.json").read_text())
    # the first 5 test images: the same per-image PSNR as the training run measured at 16 px
    for index, value in report["resolutions"]["16"]["per_image"].items():
        assert value == pytest.approx(metrics["per_image_test_psnr"][index], abs=1e-4)
    assert "16 x 16: PSNR" in result.stdout and (out / "eval" / "eval.png").is_file()


def test_corrupt_training_images_are_skipped_counted_and_reported(tmp_path, tiny_config, app):
    data = tmp_path / "images"
    for split, count in (("train", 7), ("test", 3)):
        for k in range(count):
            (data / split).mkdir(parents=True, exist_ok=True)
            Image.effect_noise((24, 20), 40 + k).convert("RGB").save(data / split / f"{k}.png")
    (data / "train" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), f"data.source={data}", "data.test_size=null", "train.max_steps=4")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped_images"] == 1 and metrics["test"]["images"] == 3  # one file, however often met
    assert "3.png" in result.stderr and "unreadable training images were skipped" in result.stdout
    strict = app(
        TRAIN,
        "--config",
        tiny_config(tmp_path / "strict"),
        f"data.source={data}",
        "data.on_error=raise",
        "train.max_steps=4",
        check=False,
    )
    assert strict.returncode != 0 and "3.png: cannot read image" in strict.stderr


def test_mixed_precision_comes_from_the_launcher_or_the_config(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=2", env={"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert json.loads((out / "metrics.json").read_text())["mixed_precision"] == "bf16"
    assert "bf16 is ~100x slower than fp32" in result.stderr  # CPUs are warned, not silently slowed
    app(TRAIN, "--config", tiny_config(tmp_path / "fp32"), "train.max_steps=2")
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["mixed_precision"] == "no"
