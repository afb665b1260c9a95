"""Nothing silently wrong, no unclear failure: a run that mostly skipped its steps publishes no model, a model
whose score is not finite is an error, requests beyond the machine's memory and writes that a full disk or a
read-only folder refuse are one line naming the setting or the path."""

import contextlib
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ginr_apps import evaluate, render
from ginr_apps.checkpoints import CheckpointError, RunState, latest_checkpoint, save_checkpoint
from ginr_apps.guards import NonFiniteError, check_outcome

TRAIN = "apps/train.py"


class _OneProcess:
    is_main_process = True

    def wait_for_everyone(self) -> None:
        pass


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    """A small tmpfs mounted at ``path`` (root only; the test is skipped where it cannot be mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _scaled(folder: Path, factor: float) -> None:
    """Multiply every weight in ``folder/model.safetensors`` by ``factor`` (finite, but far too large)."""
    path = folder / "model.safetensors"
    save_file({k: v * factor for k, v in load_file(path).items()}, path, metadata={"format": "pt"})


@pytest.mark.slow
def test_evaluate_exits_with_an_error_naming_a_model_whose_score_is_not_finite(tmp_path, tiny):
    tiny("locinr").save_pretrained(tmp_path / "model")
    _scaled(tmp_path / "model", 1e30)  # finite weights, which from_pretrained loads, that give inf outputs
    with pytest.raises(SystemExit) as stop:
        evaluate.main([str(tmp_path / "model"), "--size", "2", "--output-dir", str(tmp_path / "eval")])
    message = str(stop.value.code)
    assert message.startswith(f"error: {tmp_path / 'model'}: its score resolutions.16.psnr is ")
    assert "not finite" in message and not (tmp_path / "eval" / "eval.json").exists()


@pytest.mark.parametrize(("flags", "named"), [(["--size", "100000"], "--size 100000"),
                                              (["--frames", "100000000"], "--frames 100000000")])  # fmt: skip
def test_render_refuses_a_size_or_frame_count_beyond_memory_before_allocating(tmp_path, tiny, capsys, flags, named):
    tiny("ipc_nerf").save_pretrained(tmp_path / "model")
    started = time.perf_counter()
    with pytest.raises(SystemExit) as stop:
        render.main([str(tmp_path / "model"), *flags])
    assert stop.value.code == 2 and time.perf_counter() - started < 10
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert named in error and "of memory, more than the" in error and error.endswith("lower --size or --frames")
    assert not (tmp_path / "render").exists()


def _parts(width: int) -> dict:
    torch.manual_seed(0)
    return {"model": torch.nn.Linear(width, 8), "state": RunState(history=[])}


def test_a_checkpoint_that_hits_a_full_disk_names_the_path_keeps_the_last_one_and_leaves_nothing(tmp_path):
    with _tmpfs(tmp_path / "disk", "size=1m") as disk:
        directory = disk / "checkpoints"
        first = save_checkpoint(_OneProcess(), directory, 2, 2, _parts(4))
        with pytest.raises(CheckpointError) as caught:
            save_checkpoint(_OneProcess(), directory, 4, 2, _parts(40_000))  # 1.3 MB of weights: the disk is full
        message = str(caught.value)
        assert "\n" not in message and message.startswith(f"{directory}: cannot write the checkpoint of step 4")
        assert "Free space" in message and f"the last complete checkpoint, {first}, is kept" in message
        assert sorted(p.name for p in directory.iterdir()) == ["step-00000002"]  # no partial folder
        assert latest_checkpoint(directory) == first


@pytest.mark.slow
def test_a_read_only_output_folder_is_one_line_naming_it(tmp_path, tiny_config, app):
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        result = app(TRAIN, "--config", tiny_config(folder / "run"), check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot write {folder / 'run'}") and "choose a writable --output-dir" in lines[0]


def test_a_run_ends_refused_when_its_score_is_not_finite_or_most_of_its_steps_were_skipped():
    check_outcome(31.5, "PSNR", 30, 15, "kept", "remedy")  # half skipped: still a model
    for score, skipped in ((31.5, 29), (float("nan"), 0), (float("-inf"), 0)):
        with pytest.raises(NonFiniteError, match=f"test PSNR of {score:.4g} after skipping {skipped} of its 30"):
            check_outcome(score, "PSNR", 30, skipped, "kept", "remedy")


def _tamper(checkpoint: Path, factor: float) -> None:
    """Scale a checkpoint's model weights and re-sign its marker (as a run whose weights blew up would have)."""
    _scaled(checkpoint, factor)
    marker = json.loads((checkpoint / "checkpoint.json").read_text())
    for name, entry in marker["files"].items():
        data = (checkpoint / name).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (checkpoint / "checkpoint.json").write_text(json.dumps(marker))


@pytest.mark.slow
def test_a_run_that_skipped_most_of_its_steps_writes_no_model_and_keeps_the_good_one(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    config = tiny_config(out)
    app(TRAIN, "--config", config, "train.max_steps=4", "train.max_bad_steps=100")
    good = load_file(out / "model" / "model.safetensors")
    metrics = (out / "metrics.json").read_text()
    _tamper(latest_checkpoint(out / "checkpoints"), 1e30)
    result = app(TRAIN, "--config", config, "train.max_steps=12", "train.max_bad_steps=100", "--resume", check=False)
    error = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and error.startswith("error: the run ended with a test PSNR")
    assert "after skipping 8 of its 12 steps as non-finite: its model is not written" in error
    assert f"{out / 'model'} is left as it was" in error
    kept = load_file(out / "model" / "model.safetensors")
    assert kept.keys() == good.keys() and all(torch.equal(kept[k], good[k]) for k in good)
    assert (out / "metrics.json").read_text() == metrics
