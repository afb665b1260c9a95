"""End-to-end runs of apps/train.py and apps/evaluate.py on a tiny configuration (fresh processes)."""

import json
import shutil
import sys

import numpy as np
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_mixed_precision_comes_from_the_launcher_or_the_config(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=2", env={"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert json.loads((out / "metrics.json").read_text())["mixed_precision"] == "bf16"
    assert "bf16 is ~100x slower than fp32" in result.stderr  # CPUs are warned, not silently slowed
    app(TRAIN, "--config", tiny_config(tmp_path / "fp32"), "train.max_steps=2")
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["mixed_precision"] == "no"


@pytest.mark.slow
def test_gradient_accumulation_of_k_micro_batches_equals_one_step_of_the_whole_batch(tmp_path, tiny_config, app):
    # batch 8 in one step, and the same 8 items as 4 micro-batches of 2: the same update (the random draws of
    # each item are keyed by its place in the step's batch, and the micro-batch losses average to the step's)
    common = ["train.max_steps=2", "train.batch_size=8", "train.warmup_steps=0", "train.checkpoint_every=1"]
    app(TRAIN, "--config", tiny_config(tmp_path / "whole"), *common)
    app(TRAIN, "--config", tiny_config(tmp_path / "micro"), *common, "train.gradient_accumulation_steps=4")
    for step in (1, 2):
        a = load_file(tmp_path / "whole" / "checkpoints" / f"step-{step:08d}" / "model.safetensors")
        b = load_file(tmp_path / "micro" / "checkpoints" / f"step-{step:08d}" / "model.safetensors")
        assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a), f"step {step}"
        moved = max((a[k] - b[k]).abs().max().item() for k in a)
        assert moved < 1e-5
    bad = app(TRAIN, "--config", tiny_config(tmp_path / "bad"), "train.gradient_accumulation_steps=3", check=False)
    assert bad.returncode != 0 and "train.batch_size=4 must be divisible by train.gradient_accumulation_steps=3" in (
        bad.stderr
    )


@pytest.mark.slow
def test_resume_from_a_chosen_checkpoint_here_or_into_a_new_run(tmp_path, tiny_config, app):
    run = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(run), "train.keep_checkpoints=10", "data.subsample=0.5")
    chosen = run / "checkpoints" / "step-00000004"
    fork = tmp_path / "fork"
    result = app(
        TRAIN, "--config", tiny_config(fork), "train.keep_checkpoints=10", "data.subsample=0.5", "--resume", chosen
    )
    assert f"resumed from {chosen} at step 4" in result.stdout
    a = load_file(run / "model" / "model.safetensors")
    b = load_file(fork / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same steps 5-8 as the original run
    assert (run / "checkpoints" / "step-00000008").is_dir()  # the original run is untouched
    missing = app(
        TRAIN, "--config", tiny_config(tmp_path / "x"), "--resume", run / "checkpoints" / "step-9", check=False
    )
    assert missing.returncode != 0 and "--resume" in missing.stderr and "step-9 is incomplete" in missing.stderr
    # into a folder that holds another run: refused, nothing changed
    taken = app(TRAIN, "--config", tiny_config(fork), "--resume", chosen, check=False)
    assert taken.returncode != 0 and "already holds a run" in taken.stderr


@pytest.mark.slow
def test_trackers_write_tensorboard_events_with_the_logged_scalars(tmp_path, tiny_config, app):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(out), "--report_to", "tensorboard")
    # <output_dir>/logs/<project>: the scalars and images; the run's settings as hyperparameters beside them
    board = EventAccumulator(str(out / "logs" / "ginr-train"), size_guidance={"images": 0}).Reload()
    assert list((out / "logs" / "ginr-train").glob("*/hparams.yml"))
    tags = board.Tags()
    assert {"train/loss", "train/lr", "train/step_seconds", "test/psnr"} <= set(tags["scalars"])
    assert [e.step for e in board.Scalars("train/loss")] == [2, 4, 6, 8]  # every train.log_every steps
    assert [e.step for e in board.Scalars("test/psnr")] == [4]  # each evaluation during the run
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert board.Scalars("test/psnr")[0].value == pytest.approx(history[0]["test_psnr"], rel=1e-5)
    assert "test/reconstructions" in tags["images"]
    bad = app(TRAIN, "--config", tiny_config(tmp_path / "bad"), "train.report_to=mlflo", check=False)
    assert bad.returncode != 0 and "train.report_to must be one of none, tensorboard, wandb, trackio, all" in bad.stderr


def test_launcher_precision_wins_over_an_explicit_config_and_says_so(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    env = {"ACCELERATE_MIXED_PRECISION": "bf16"}
    result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=1", "train.mixed_precision=fp16", env=env)
    assert json.loads((out / "metrics.json").read_text())["mixed_precision"] == "bf16"
    assert "the launcher's bf16 wins over train.mixed_precision=fp16" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"])
def test_sharded_setups_stop_at_start_naming_the_supported_ones(tmp_path, tiny_config, app, variable):
    out = tmp_path / "run"
    for script in (TRAIN, "apps/train_prior.py"):
        args = ["--config", tiny_config(out)] if script == TRAIN else ["--inr", tmp_path / "none", "--output-dir", out]
        result = app(script, *args, env={variable: "true"}, check=False)
        assert result.returncode != 0 and "is not supported by ginr's training apps" in result.stderr
        assert "supported: one process" in result.stderr and "--multi_gpu" in result.stderr
        assert not (out / "checkpoints").exists()


@pytest.mark.slow
def test_the_default_recipe_trains_on_a_flat_folder_and_tests_on_held_out_files(tmp_path, app):
    from ginr_data import image_dataset

    folder = tmp_path / "my photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):  # a flat folder of the user's own images, of several formats and sizes
        pixels = rng.integers(0, 255, (40 + i, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{i:02d}{('.png', '.jpg', '.tif', '.bmp')[i % 4]}")
    out = tmp_path / "run"
    result = app(TRAIN, f"data.source={folder}", "--output-dir", out, "train.max_steps=2", "train.eval_every=2",
                 "train.batch_size=4", "train.checkpoint_every=2")  # fmt: skip
    assert "3 of the 30 images of the flat folder" in result.stdout and "held out as the test split" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    held = metrics["data"]["held_out"]
    assert held["of"] == 30 and len(held["files"]) == 3 and metrics["test"]["images"] == 3
    assert "extra" not in metrics["test"] and metrics["config"]["data"]["smooth_fraction"] == 0.0
    trained_on = {f.name for f in image_dataset(folder, "train", resolution=32).files}
    assert len(trained_on) == 27 and not trained_on & set(held["files"])  # disjoint, by file
    assert "held out as the test split" in (out / "model" / "README.md").read_text()


def test_a_tracker_that_is_not_installed_is_refused_by_package_name(monkeypatch):
    import importlib.util

    from ginr_apps.launch import check_tracker

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(SystemExit, match=r"train.report_to=wandb needs the wandb package.*pip install wandb"):
        check_tracker("wandb")
    check_tracker("tensorboard")  # installed here
    check_tracker("all")  # whichever are installed
    check_tracker("none")


@pytest.mark.slow
def test_a_streamed_imagefolder_trains_on_one_and_two_processes_and_resumes_exactly(tmp_path, tiny_config, app):
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 6)):
        (data / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(data / split / f"{i}.png")
    stream = ["data.source=imagefolder", f"data.data_dir={data}", "data.streaming=true", "data.shuffle_buffer=8"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    app(TRAIN, "--config", tiny_config(straight), *stream, "train.max_steps=8")
    app(TRAIN, "--config", tiny_config(resumed), *stream, "train.max_steps=4")
    again = app(TRAIN, "--config", tiny_config(resumed), *stream, "train.max_steps=8", "--resume")
    assert "resumed from" in again.stdout
    a, b = load_file(straight / "model" / "model.safetensors"), load_file(resumed / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), "a resumed stream must give the uninterrupted run's weights"
    metrics = json.loads((straight / "metrics.json").read_text())
    assert metrics["test"]["images"] == 6 and metrics["steps"] == 8  # 8 steps of 4: more than one pass

    double = tmp_path / "double"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    app(TRAIN, "--config", tiny_config(double), *stream, "train.max_steps=4", launcher=launcher,
        env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    two = json.loads((double / "metrics.json").read_text())
    assert two["world_size"] == 2 and two["test"]["images"] == 6
