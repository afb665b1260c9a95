"""Kill trials: interrupt real training runs at random moments with real signals, resume them, and
count how many end bit-exact with an uninterrupted run (and whether any work was lost).

    python benchmarks/kill_trials.py --trials 20            # apps/train.py, encoder dropout 0.1, 2 loader workers
    python benchmarks/kill_trials.py --trials 10 --prior    # apps/train_prior.py (a tiny INR is trained first)
                                                            # and a resume after its INR was replaced
    python benchmarks/kill_trials.py --trials 10 --stream   # apps/train.py on a streamed local imagefolder
    python benchmarks/kill_trials.py --trials 20 --publish  # apps/publish.py RUN --dry-run DIR

Each trial starts a run, sends SIGKILL, SIGTERM or SIGINT after a random delay (during a step, an
evaluation, a checkpoint write or the final outputs), resumes it with ``--resume`` (killing the
resumed run again, at random, up to twice more), and finally compares the weights with those of
the uninterrupted run. Lost work is a kill after which the newest complete checkpoint is older
than before the kill. Prints one line per trial and a summary. ``--prior`` adds a trial whose INR is
replaced at the same ``--inr`` path while the prior is killed: its resume must be refused, naming the INR,
and go on with ``--allow-inr-change``.

``--publish`` kills dry runs of ``apps/publish.py`` on a finished tiny run instead (no resume):
after each kill, DIR must be absent or exactly the folder of an uninterrupted dry run.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from ginr_apps.checkpoints import latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = """
model: {family: locinr, preset: photos-32, image_size: 16, patch_size: 4, encoder_width: 32, encoder_depth: 1,
        encoder_heads: 2, hidden_dim: 32, fourier_dim: 32, dropout: 0.1}
data: {source: photos, resolution: 16, test_size: 6, channel_permutation: true, num_workers: 2}
train: {batch_size: 4, max_steps: 60, lr: 3.0e-3, warmup_steps: 2, eval_every: 10, eval_batch_size: 4,
        checkpoint_every: 3, keep_checkpoints: 2, log_every: 2}
seed: 3
"""
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


def _command(args, out: Path, config: Path, inr: Path | None) -> list[str]:
    if args.prior:
        return [sys.executable, "apps/train_prior.py", "--inr", str(inr), "--output-dir", str(out), "--max-steps",
                "60", "--batch-size", "8", "--checkpoint-every", "3", "--sample-steps", "2", "--cache-dir",
                str(out.parent / "latents")]  # fmt: skip
    command = [sys.executable, "apps/train.py", "--config", str(config), "--output-dir", str(out)]
    if args.stream:  # datasets' imagefolder of crops, streamed (data.streaming), a shuffle buffer of 16
        data = out.parent / "imagefolder"
        command += ["data.source=imagefolder", f"data.data_dir={data}", "data.streaming=true", "data.shuffle_buffer=16"]
    return command


def _write_imagefolder(folder: Path) -> None:
    """40 training and 6 test crops of the embedded photos as PNG files: a local dataset to stream."""
    from ginr_apps.figures import to_pil
    from ginr_data import EmbeddedPhotos

    for split, count in (("train", 40), ("test", 6)):
        (folder / split).mkdir(parents=True)
        photos = EmbeddedPhotos(split, resolution=24, size=count, seed=1, flip=False)
        for i in range(count):
            to_pil(photos[i]["image"]).save(folder / split / f"{i:03d}.png")


def _weights(out: Path, prior: bool) -> dict:
    path = out / ("pipeline/denoiser/diffusion_pytorch_model.safetensors" if prior else "model/model.safetensors")
    return load_file(path)


def _step(out: Path) -> int:
    path = latest_checkpoint(out / "checkpoints")
    return -1 if path is None else int(path.name.rsplit("-", 1)[-1])


def _run(command: list[str], kill_after: float | None, sig) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
    _, err = process.communicate(timeout=600)
    if process.returncode not in (0, -9) and b"stopped by" not in err and b"KeyboardInterrupt" not in err:
        print(err.decode()[-2000:], file=sys.stderr)
    return process.returncode


def _inr_changed(args, out: Path, config: Path, inr_run: Path, duration: float) -> None:
    """A prior killed, its INR replaced at the same --inr path, then resumed: refused naming the INR (nothing
    encoded or written); with --allow-inr-change it goes on to the end."""
    import shutil

    inr = out.parent / "inr-changed-model"
    shutil.copytree(inr_run / "model", inr)
    command = _command(args, out, config, inr)
    _run(command, duration / 2, signal.SIGKILL)
    while _step(out) < 0:  # killed before its first checkpoint: run it (and kill it) later
        duration *= 1.5
        _run(command, duration / 2, signal.SIGKILL)
    other = out.parent / "inr-other"
    subprocess.run([sys.executable, "apps/train.py", "--config", str(config), "--output-dir", str(other),
                    "train.max_steps=4", "seed=4"], cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    shutil.rmtree(inr)
    shutil.copytree(other / "model", inr)  # another INR at the same path
    before = _step(out)
    refused = subprocess.run([*command, "--resume"], cwd=ROOT, capture_output=True, text=True)
    named = refused.returncode != 0 and f"--inr {inr}: its weights changed" in refused.stderr
    kept = _step(out) == before
    code = _run([*command, "--resume", "--allow-inr-change"], None, None)
    print(f"prior resume after its INR changed: {'refused naming --inr' if named else 'NOT REFUSED'}"
          f"{'' if kept else '; CHECKPOINTS CHANGED'}; with --allow-inr-change: "
          f"{'finished' if code == 0 else f'exit {code}'}", flush=True)  # fmt: skip


def _folder(path: Path) -> dict[str, bytes] | None:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()} if path.exists() else None


def publish_trials(args, root: Path, config: Path, rng: random.Random) -> None:
    """Kill ``apps/publish.py RUN --dry-run DIR`` at random moments: DIR is absent or whole, never partial."""
    run = root / "run"
    subprocess.run([sys.executable, "apps/train.py", "--config", str(config), "--output-dir", str(run),
                    "train.max_steps=4"], cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    command = [sys.executable, "apps/publish.py", str(run), "--repo-id", "ginr-user/kill-trial", "--dry-run"]
    started = time.perf_counter()
    assert _run([*command, str(root / "straight")], None, None) == 0
    duration = time.perf_counter() - started
    expected = _folder(root / "straight")
    whole = absent = partial = 0
    for trial in range(args.trials):
        staged, sig = root / f"staged-{trial}", rng.choice(SIGNALS)
        code = _run([*command, str(staged)], rng.uniform(0.3, 1.1) * duration, sig)  # mostly late: while it writes
        got = _folder(staged)
        verdict = "absent" if got is None else ("whole" if got == expected else "PARTIAL")
        absent, whole, partial = absent + (got is None), whole + (got == expected), partial + (verdict == "PARTIAL")
        killed = sig.name if code != 0 else "nothing (finished first)"
        print(f"trial {trial}: killed by {killed}; {staged.name} {verdict}", flush=True)
    print(f"publish.py --dry-run: {args.trials} trials; {whole} whole, {absent} absent, {partial} partial")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--prior", action="store_true", help="kill apps/train_prior.py instead of apps/train.py")
    parser.add_argument("--stream", action="store_true", help="apps/train.py on a streamed local imagefolder")
    parser.add_argument("--publish", action="store_true", help="kill apps/publish.py --dry-run instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="ginr-kill-trials-"))
    config = root / "tiny.yaml"
    config.write_text(TINY)
    if args.publish:
        return publish_trials(args, root, config, rng)
    inr = None
    if args.stream:
        _write_imagefolder(root / "imagefolder")
    if args.prior:
        inr_run = root / "inr"
        subprocess.run([sys.executable, "apps/train.py", "--config", str(config), "--output-dir", str(inr_run),
                        "train.max_steps=4"], cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        inr = inr_run / "model"
    straight = root / "straight"
    started = time.perf_counter()
    assert _run(_command(args, straight, config, inr), None, None) == 0
    duration = time.perf_counter() - started
    expected = _weights(straight, args.prior)
    exact = lost = interrupted = 0
    for trial in range(args.trials):
        out = root / f"trial-{trial}"
        kills, resume, finished, lost_here = [], False, False, False
        while not finished:
            kill = len(kills) < 3 and (not kills or rng.random() < 0.5)
            sig = rng.choice(SIGNALS)
            before = _step(out)
            command = _command(args, out, config, inr) + (["--resume"] if resume else [])
            code = _run(command, rng.uniform(0.2, duration) if kill else None, sig)
            if code == 0:
                finished = True
                continue
            kills.append(sig.name)
            lost_here |= _step(out) < before
            resume = _step(out) >= 0  # killed before the first complete checkpoint: start afresh
        same = expected.keys() == (got := _weights(out, args.prior)).keys() and all(
            torch.equal(expected[k], got[k]) for k in expected
        )
        interrupted += bool(kills)
        exact += same and bool(kills)
        lost += lost_here
        print(f"trial {trial}: killed by {', '.join(kills) or 'nothing (finished first)'}; "
              f"{'bit-exact' if same else 'DIFFERENT'}{'; LOST WORK' if lost_here else ''}", flush=True)  # fmt: skip
    if args.prior:
        _inr_changed(args, root / "inr-changed", config, inr_run, duration)
    app = "train_prior.py" if args.prior else "train.py (dropout 0.1, 2 loader workers)"
    app = "train.py on a streamed imagefolder (dropout 0.1)" if args.stream else app
    print(f"{app}: {exact}/{interrupted} interrupted runs resumed bit-exact; {lost} lost work; "
          f"{args.trials - interrupted} trials finished before their kill")  # fmt: skip


if __name__ == "__main__":
    main()
