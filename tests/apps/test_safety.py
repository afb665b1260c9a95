"""Nothing a user trained is lost or leaked: interruptions with real signals, NaN guards, locked run
folders, crash-safe and pickle-free checkpoints, settings that cannot be right, resume contradictions."""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ginr_apps import checkpoints as ckpt
from ginr_apps.checkpoints import latest_checkpoint, list_checkpoints, lock_run, resume_checkpoint, save_checkpoint
from ginr_apps.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]

TRAIN = "apps/train.py"
DROPOUT_AND_WORKERS = ["model.dropout=0.1", "data.num_workers=2", "train.eval_every=5", "train.checkpoint_every=2"]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _start(*args, launcher=None, env=None) -> subprocess.Popen:
    command = (launcher or [sys.executable]) + [str(a) for a in args]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_checkpoint(out: Path, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list_checkpoints(out / "checkpoints")
        if found:
            return found[-1][0]
        if process.poll() is not None:
            raise AssertionError(f"the run ended before its first checkpoint:\n{process.communicate()}")
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no checkpoint appeared")


# ------------------------------------------------------------------------------------------------ exact resume
@pytest.mark.slow
def test_a_run_killed_at_a_random_moment_resumes_bit_exact_with_dropout_and_workers(tmp_path, tiny_config, app):
    app(TRAIN, "--config", tiny_config(tmp_path / "straight"), "train.max_steps=40", *DROPOUT_AND_WORKERS)
    expected = _weights(tmp_path / "straight")
    for sig in (signal.SIGKILL, signal.SIGTERM):
        out = tmp_path / sig.name
        run = _start(TRAIN, "--config", tiny_config(out), "train.max_steps=100000", *DROPOUT_AND_WORKERS)
        _wait_for_checkpoint(out, run)
        time.sleep(0.1 + 0.3 * torch.rand(()).item())  # somewhere in a step, an evaluation or a save
        run.send_signal(sig)
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode != 0
        if sig == signal.SIGTERM:  # stops like Ctrl-C: at the end of a step, with a checkpoint of it
            assert "interrupted: saved" in stdout and "stopped by SIGTERM" in stderr, stderr
        step = int(latest_checkpoint(out / "checkpoints").name.split("-")[-1])
        assert 2 <= step < 40, f"{sig.name} came at step {step}"
        result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=40", *DROPOUT_AND_WORKERS, "--resume")
        assert f"at step {step}" in result.stdout and "resume changes train.max_steps: 100000 -> 40" in result.stdout
        assert _same(_weights(out), expected), f"after {sig.name}, the resumed weights differ from the straight run's"


@pytest.mark.slow
def test_sigterm_to_the_launcher_stops_training_with_a_checkpoint_and_the_folder_is_locked(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    run = _start(TRAIN, "--config", tiny_config(out), "train.max_steps=100000", launcher=launcher,
                 env={"ACCELERATE_USE_CPU": "1"})  # fmt: skip
    _wait_for_checkpoint(out, run)
    # while it runs, a second run on the folder, fresh or resuming, is refused and changes nothing
    for extra in ([], ["--resume"]):
        second = app(TRAIN, "--config", tiny_config(out), "train.max_steps=100000", *extra, check=False)
        assert second.returncode != 0 and "is in use by process" in second.stderr, second.stderr
    run.send_signal(signal.SIGTERM)  # to the launcher, which does not forward it
    stdout, _ = run.communicate(timeout=120)  # returns when the training process has closed the pipe too
    assert "interrupted: saved" in stdout
    with lock_run(out):  # the lock died with its process
        pass
    resumed = app(TRAIN, "--config", tiny_config(out), "train.max_steps=100000", "train.time_budget_minutes=0.001",
                  "--resume")  # fmt: skip
    assert "resumed from" in resumed.stdout


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_does_not_block_the_next_run(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from ginr_apps.checkpoints import lock_run\nwith lock_run({str(tmp_path)!r}):\n"
            "    print('locked', flush=True)\n    import time; time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ckpt.RunLockedError, match=f"in use by process {holder.pid}"), lock_run(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with lock_run(tmp_path):
        pass


# ------------------------------------------------------------------------------------------------ NaN and Inf
def _standard_json(path: Path) -> dict:
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_a_diverging_run_stops_at_the_first_non_finite_step_and_keeps_its_finite_checkpoints(
    tmp_path, tiny_config, app
):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), "train.lr=10", "train.warmup_steps=10", "train.max_steps=30",
                 check=False)  # fmt: skip
    assert result.returncode != 0
    assert "error: step 5: the loss" in result.stderr and "not finite" in result.stderr
    assert "step-00000004" in result.stderr  # where to go back to
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [2, 4]
    for _, path in list_checkpoints(out / "checkpoints"):
        for file in path.glob("*.safetensors"):
            assert all(torch.isfinite(t).all() for t in load_file(file).values())
    assert not (out / "model").exists() and not (out / "metrics.json").exists()


def test_a_config_may_skip_non_finite_steps_which_are_never_applied(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", tiny_config(out), "train.lr=1e6", "train.warmup_steps=10", "train.max_steps=12",
                 "train.max_bad_steps=1000", check=False)  # fmt: skip
    # the skipped steps were never applied (finite weights, each one recorded) ...
    last = latest_checkpoint(out / "checkpoints")
    state = json.loads((last / "state.json").read_text())["state"]
    assert state["step"] == 12 and state["bad_steps"]
    assert all(torch.isfinite(t).all() for t in load_file(last / "model.safetensors").values())
    # ... but a run that skipped most of its steps publishes no model (issue 30)
    assert result.returncode == 1 and f"after skipping {len(state['bad_steps'])} of its 12 steps" in result.stderr
    assert not (out / "model").exists()


# ------------------------------------------------------------------------------------------------ checkpoints
class _OneProcess:
    is_main_process = True

    def wait_for_everyone(self):
        pass


def _parts(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return {"model": model, "optimizer": optimizer, "state": ckpt.RunState(history=[{"step": seed}])}


def _saved_step(directory: Path) -> int:
    fresh = _parts(0)
    path, _ = resume_checkpoint(directory, fresh, say=lambda *a, **k: None)
    return fresh["state"].history[0]["step"], path


@pytest.mark.parametrize("crash_at", ["tensors", "marker", "move-old-aside", "rename-into-place"])
def test_re_saving_a_step_never_strands_the_run_without_a_complete_checkpoint(tmp_path, monkeypatch, crash_at):
    directory = tmp_path / "checkpoints"
    save_checkpoint(_OneProcess(), directory, 2, 2, _parts(2))
    save_checkpoint(_OneProcess(), directory, 4, 2, _parts(4))
    real_replace, real_save, real_json = os.replace, ckpt.save_file, ckpt.write_json
    moves = []

    def replace(src, dst):
        moves.append(Path(dst).name)
        if (crash_at == "move-old-aside" and Path(dst).name.startswith(".old-")) or (
            crash_at == "rename-into-place" and Path(dst).name == "step-00000004"
        ):
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    def save_file(tensors, path, *a, **k):
        real_save(tensors, path, *a, **k)
        if crash_at == "tensors":
            Path(path).write_bytes(Path(path).read_bytes()[:50])
            raise KeyboardInterrupt("killed")

    def write_json(path, data):
        if crash_at == "marker" and Path(path).name == "checkpoint.json":
            raise KeyboardInterrupt("killed")
        return real_json(path, data)

    monkeypatch.setattr(ckpt.os, "replace", replace)
    monkeypatch.setattr(ckpt, "save_file", save_file)
    monkeypatch.setattr(ckpt, "write_json", write_json)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_OneProcess(), directory, 4, 2, _parts(44))  # the same step saved again
    monkeypatch.undo()
    step, path = _saved_step(directory)
    # a complete checkpoint of step 4 is always there: the old one, or the new one if it was complete
    assert step in (4, 44) and path.name.endswith("step-00000004")
    save_checkpoint(_OneProcess(), directory, 6, 2, _parts(6))  # the next save cleans up what the crash left
    assert sorted(p.name for p in directory.iterdir()) == ["step-00000004", "step-00000006"]


def test_a_truncated_or_altered_checkpoint_is_named_and_the_previous_complete_one_is_used(tmp_path):
    directory = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        save_checkpoint(_OneProcess(), directory, step, 3, _parts(step))
    said = []
    tensors = directory / "step-00000006" / "state.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-10])
    state = directory / "step-00000004" / "state.json"
    text = state.read_text()
    assert '"lr": 0.01' in text
    state.write_text(text.replace('"lr": 0.01', '"lr": 0.09'))  # the same size, another learning rate
    fresh = _parts(0)
    path, _ = resume_checkpoint(directory, fresh, say=said.append)
    assert path.name == "step-00000002" and fresh["state"].history[0]["step"] == 2
    assert any(str(tensors) in s and "truncated" in s for s in said)
    assert any(str(state) in s and "SHA-256" in s for s in said)
    for _, path in list_checkpoints(directory):
        (path / "state.safetensors").write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match="no complete checkpoint"):
        resume_checkpoint(directory, _parts(0))


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


@pytest.mark.slow
def test_resume_never_unpickles_a_file_from_the_checkpoint_folder(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(out), "train.max_steps=2")
    _Payload.marker = tmp_path / "code-ran"
    newest = latest_checkpoint(out / "checkpoints")
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin", "model.bin"):
        (newest / name).write_bytes(pickle.dumps(_Payload()))
    app(TRAIN, "--config", tiny_config(out), "train.max_steps=3", "--resume")
    assert not _Payload.marker.exists(), "resuming ran code from a pickle in the checkpoint folder"


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.lr=.inf", "train.lr must be a positive, finite"),
        ("train.lr=.nan", "train.lr must be a positive, finite"),
        ("train.epochs=0", "train.epochs must be a positive"),
        ("train.epochs=-2", "train.epochs must be a positive"),
        ("train.grad_clip=-1", "train.grad_clip must be a positive"),
        ("train.grad_clip=.nan", "train.grad_clip must be a positive"),
        ("train.warmup_steps=-5", "train.warmup_steps must be >= 0"),
        ("train.time_budget_minutes=-1", "train.time_budget_minutes must be a positive"),
        ("train.cpu_threads=-2", "train.cpu_threads must be >= 1"),
        ("train.decode_chunk_size=0", "train.decode_chunk_size must be >= 1, auto or null (one go), got 0"),
        ("train.decode_chunk_size=fast", "train.decode_chunk_size must be >= 1, auto or null (one go), got 'fast'"),
        ("train.max_bad_steps=-1", "train.max_bad_steps must be >= 0"),
        ("output_dir=null", "output_dir must be a folder path"),
        ("data.resolution=0", "data.resolution must be between 1 and 8192"),
        ("data.resolution=100000", "data.resolution must be between 1 and 8192"),
        ("data.test_size=0", "data.test_size must be >= 1"),
        ("train=5", "train must be a mapping of settings"),
        ("seed=-1", "seed = -1 is not an integer >= 0"),
        ("data=[1, 2]", "data must be a mapping of settings"),
        ("model.fourier_dim=7", "model (LocalityAwareINR): FourierFeatures: d_f=7 (a model's fourier_dim)"),
        ("model.dropout=1.5", "dropout"),
        ("model.patch_size=5", "patch_size"),
    ],
)
def test_settings_that_cannot_be_right_are_refused_by_name(override, named):
    overrides = ["train.max_steps=null", "train.epochs=1"] if override.startswith("train.epochs") else []
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(ROOT / "apps" / "configs" / "default.yaml", [*overrides, override])


@pytest.mark.slow
def test_a_resume_says_what_it_changes_and_refuses_contradictions(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    app(TRAIN, "--config", tiny_config(out), "train.max_steps=2")
    before = _weights(out)
    for changed in ("train.lr=1e-2", "train.batch_size=2", "model.hidden_dim=16", "seed=4"):
        refused = app(TRAIN, "--config", tiny_config(out), "train.max_steps=4", changed, "--resume", check=False)
        key = changed.split("=")[0]
        assert refused.returncode != 0 and f"these differ: {key}:" in refused.stderr, refused.stderr
        assert "start a new run" in refused.stderr
    assert _same(_weights(out), before) and [s for s, _ in list_checkpoints(out / "checkpoints")] == [2]
    result = app(TRAIN, "--config", tiny_config(out), "train.max_steps=4", "train.eval_every=2", "--resume")
    assert "resume changes train.max_steps: 2 -> 4" in result.stdout
    assert "resume changes train.eval_every: 4 -> 2" in result.stdout


@pytest.mark.parametrize(
    ("app_module", "argv", "flag"),
    [
        ("render", ["model", "--frames", "0"], "--frames"),
        ("render", ["model", "--size", "0"], "--size"),
        ("sample", ["pipeline", "--steps", "0"], "--steps"),
        ("sample", ["pipeline", "--per-class", "0"], "--per-class"),
        ("sample", ["pipeline", "--resolution", "-4"], "--resolution"),
        ("evaluate_prior", ["pipeline", "--num-samples", "0"], "--num-samples"),
    ],
)
def test_counts_that_cannot_be_right_are_refused_before_anything_loads(app_module, argv, flag, capsys):
    import importlib

    module = importlib.import_module(f"ginr_apps.{app_module}")
    with pytest.raises(SystemExit) as exit_:
        module.main(argv)
    assert exit_.value.code == 2 and f"argument {flag}: must be >= " in capsys.readouterr().err


def test_settings_may_follow_options_in_both_training_apps(tmp_path):
    from ginr_apps import train, train_prior

    _, config = train.parse_args(["--output-dir", str(tmp_path), "train.lr=3e-4", "--seed", "2", "data.test_size=3"])
    assert (config.train.lr, config.seed, config.data.test_size, config.output_dir) == (3e-4, 2, 3, str(tmp_path))
    _, prior = train_prior.parse_args(["--inr", "m", "train.lr=2e-4", "--max-steps", "7", "prior.class_dropout=0.2"])
    assert (prior.train.lr, prior.train.max_steps, prior.prior.class_dropout) == (2e-4, 7, 0.2)
