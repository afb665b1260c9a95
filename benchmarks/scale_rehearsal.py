"""Scale rehearsal: the ImageNet workflow on two CPU ranks, with a generated class-folder dataset.

    python benchmarks/scale_rehearsal.py                       # ~15 min on 2 CPU cores
    python benchmarks/scale_rehearsal.py --images 20000 --inr-minutes 3 --prior-steps 4000

1. Writes ``--images`` small PNGs (16 px) in 10 class folders named like ImageNet's (``red disc``,
   ``orange square``, ...): a shape in its class's colour at a random place and size on a noisy grey
   background, a held-out ``val/`` split beside ``train/``.
2. Two CPU ranks (``ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2``) train a
   small INR on it (``apps/train.py``, a time budget).
3. Encodes the latent cache with 1 rank and with 2 ranks (each rank its own shards, in parallel):
   prints both throughputs and each rank's share.
4. Trains a class-conditional prior on two ranks from the 2-rank cache (``apps/train_prior.py``).
5. Measures the peak RSS of prior training (one process, the same steps) on a 2,000-image subset and
   on the whole set: the latents are memory-mapped shards read a batch at a time, so memory should not
   grow with the data (goal: < 100 MB more).
6. Samples by class name (``apps/sample.py --classes "red disc" ...``) and scores the class accuracy
   of samples at guidance 2.5 and 1.0 with a classifier fitted on real held-out images (chance: 10 %).
7. The storage dtype of the cache (``data.cache_dtype``): the same prior trained from float32,
   bfloat16 and float16 caches (``--dtype-steps`` steps, one process); the mean loss of the last
   quarter of each run and the caches' sizes.

Prints every figure and writes ``<output-dir>/scale_rehearsal.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {
    "red": (220, 40, 40),
    "orange": (240, 140, 20),
    "yellow": (230, 220, 40),
    "green": (40, 170, 60),
    "cyan": (40, 200, 210),
    "blue": (40, 70, 220),
    "purple": (130, 50, 200),
    "pink": (240, 120, 190),
    "brown": (120, 70, 30),
    "black": (20, 20, 20),
}
SHAPES = ("disc", "square", "bar", "ring", "cross")
CLASSES = [f"{c} {SHAPES[i % len(SHAPES)]}" for i, c in enumerate(COLOURS)]  # 10 classes: a colour and a shape
SIZE = 16
INR_OVERRIDES = [
    "model.family=locinr",
    "model.preset=photos-32",
    "model.image_size=16",
    "model.patch_size=4",
    "model.encoder_width=64",
    "model.encoder_depth=2",
    "model.encoder_heads=4",
    "model.hidden_dim=64",
    "model.fourier_dim=64",
    "model.num_latents=16",
    "data.resolution=16",
    "data.test_size=64",
    "data.jitter=false",
    "train.batch_size=32",
    "train.lr=1e-3",
    "train.warmup_steps=100",
    "train.max_steps=100000",
    "train.eval_every=100000",
    "train.checkpoint_every=100000",
]


# ---------------------------------------------------------------------------------------------- data
def draw(label: int, rng: np.random.Generator) -> Image.Image:
    """One image of class ``label``: its shape in its colour, at a random place and size, on noise."""
    colour = np.array(COLOURS[CLASSES[label].split()[0]], dtype=np.float64)
    shape = CLASSES[label].split()[1]
    y, x = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    cy, cx = rng.uniform(5, 11, size=2)
    r = rng.uniform(3.5, 5.5)
    dy, dx = y - cy, x - cx
    mask = {
        "disc": dy**2 + dx**2 <= r**2,
        "square": (abs(dy) <= r * 0.8) & (abs(dx) <= r * 0.8),
        "bar": (abs(dy) <= r * 0.35) & (abs(dx) <= r * 1.2),
        "ring": (dy**2 + dx**2 <= r**2) & (dy**2 + dx**2 >= (0.55 * r) ** 2),
        "cross": ((abs(dy) <= r * 0.3) | (abs(dx) <= r * 0.3)) & (abs(dy) <= r) & (abs(dx) <= r),
    }[shape]
    background = 200 + rng.normal(0, 12, size=(SIZE, SIZE, 1))
    image = np.where(mask[..., None], colour + rng.normal(0, 8, size=3), background)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def write_dataset(root: Path, images: int, held_out: int, seed: int = 0) -> None:
    """``root/train/<class>/*.png`` (``images`` of them) and ``root/val/<class>/*.png`` (``held_out``)."""
    if (root / "complete").is_file():
        return
    rng = np.random.default_rng(seed)
    for split, count in (("train", images), ("val", held_out)):
        for i in range(count):
            label = i % len(CLASSES)
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            draw(label, rng).save(folder / f"{i:06d}.png")
    (root / "complete").write_text("done")


def subset(root: Path, per_class: int) -> Path:
    """A smaller copy of ``root/train`` (links, not copies): the first ``per_class`` images of each class."""
    small = root.parent / f"{root.name}-{per_class * len(CLASSES)}"
    if not (small / "complete").is_file():
        for name in CLASSES:
            (small / "train" / name).mkdir(parents=True, exist_ok=True)
            for f in sorted((root / "train" / name).glob("*.png"))[:per_class]:
                target = small / "train" / name / f.name
                if not target.exists():
                    os.link(f, target)
        (small / "complete").write_text("done")
    return small


# ---------------------------------------------------------------------------------------------- runs
def launch(args: list, ranks: int, log: Path) -> str:
    """Run an app on ``ranks`` CPU processes (two real ranks: --multi_gpu with ACCELERATE_USE_CPU=1)."""
    if ranks == 1:
        command = [sys.executable, *map(str, args)]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(ranks)]
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *map(str, args)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONUNBUFFERED": "1"}
    if ranks > 1:
        env["OMP_NUM_THREADS"] = "1"
    print("running:", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    log.write_text(result.stdout + "\n" + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}), see {log}:\n{result.stderr[-3000:]}")
    return result.stdout


PEAK_RSS = """
import re, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    status = open("/proc/self/status").read()
    kb = {k: int(v) for k, v in re.findall(r"(VmHWM|RssAnon|RssFile):\\s+(\\d+) kB", status)}
    print(f"peak RSS {kb['VmHWM'] / 1024:.1f} MB; at the end: anonymous {kb['RssAnon'] / 1024:.1f} MB, "
          f"file-backed {kb['RssFile'] / 1024:.1f} MB", flush=True)
"""


def encode(inr: Path, data: Path, cache: Path, ranks: int, out: Path) -> dict:
    """Encode the latent cache with ``ranks`` processes (the prior then trains 1 step): throughput and shares."""
    for scratch in (out, cache):  # measured afresh on every call
        shutil.rmtree(scratch, ignore_errors=True)
    args = ["apps/train_prior.py", "--inr", inr, "--data", data, "--cache-dir", cache, "--output-dir", out]
    args += ["--max-steps", "1", "--batch-size", "8", "--sample-steps", "2", "data.shard_size=1000"]
    stdout = launch(args, ranks, out.parent / f"{out.name}.log")
    (match,) = re.findall(r"encoded (\d+) images in ([\d.]+) s \(([\d.]+) images/s", stdout)
    shares = [int(n) for n in re.findall(r"process \d+: (\d+) images in", stdout)]
    return {"images": int(match[0]), "seconds": float(match[1]), "images_per_second": float(match[2]), "shares": shares}


def peak_rss(inr: Path, data: Path, cache: Path, steps: int, out: Path) -> dict:
    """Peak RSS (MB) of one process training the prior for ``steps`` steps (cache already encoded)."""
    shutil.rmtree(out, ignore_errors=True)
    script = out.parent / "peak_rss.py"
    script.write_text(PEAK_RSS)
    args = [script, "apps/train_prior.py", "--inr", inr, "--data", data, "--cache-dir", cache, "--output-dir", out]
    args += ["--max-steps", steps, "--batch-size", "64", "--sample-steps", "2", "data.shard_size=1000"]
    stdout = launch(args, 1, out.parent / f"{out.name}.log")
    pattern = r"peak RSS ([\d.]+) MB; at the end: anonymous ([\d.]+) MB, file-backed ([\d.]+)"
    peak, anonymous, mapped = re.findall(pattern, stdout)[-1]
    return {"peak": float(peak), "anonymous": float(anonymous), "file_backed": float(mapped)}


def storage_dtypes(inr: Path, data: Path, steps: int, out: Path) -> dict:
    """The prior's training loss from float32, bfloat16 and float16 caches (same seed, same steps)."""
    result = {}
    for dtype in ("float32", "bfloat16", "float16"):
        run, cache = out / f"dtype-{dtype}", out / f"cache-{dtype}"
        shutil.rmtree(run, ignore_errors=True)
        args = ["apps/train_prior.py", "--inr", inr, "--data", data, "--cache-dir", cache, "--output-dir", run]
        args += ["--max-steps", steps, "--batch-size", "64", "--sample-steps", "2", "data.shard_size=1000"]
        args += [f"data.cache_dtype={dtype}", f"train.checkpoint_every={steps}", "train.log_every=10"]
        launch(args, 1, out / f"dtype-{dtype}.log")
        losses = [
            loss for step, loss in json.loads((run / "metrics.json").read_text())["losses"] if step > steps * 3 / 4
        ]
        size = sum(p.stat().st_size for p in cache.rglob("shard-*"))
        result[dtype] = {"loss_last_quarter": sum(losses) / len(losses), "cache_mb": size / 2**20}
    return result


def class_accuracy(pipeline: Path, val: Path, per_class: int, steps: int) -> dict:
    """Class accuracy of samples drawn by class name, judged by a classifier fitted on real held-out images."""
    from sklearn.linear_model import LogisticRegression

    from ginr_data import image_dataset
    from ginr_diffusion import LatentINRPipeline

    real = image_dataset(val, "val", resolution=SIZE)
    x = torch.stack([real[i]["image"] for i in range(len(real))]).flatten(1).numpy()
    y = np.array([real[i]["label"] for i in range(len(real))])
    # the folders come class by class: fit on every other image, check on the rest
    classifier = LogisticRegression(max_iter=3000, C=0.5).fit(x[::2], y[::2])
    result = {"classifier_on_real": float(classifier.score(x[1::2], y[1::2])), "chance": 1 / len(CLASSES)}
    pipe = LatentINRPipeline.from_pretrained(pipeline)
    pipe.set_progress_bar_config(disable=True)
    names = [name for name in CLASSES for _ in range(per_class)]
    ids = [pipe.get_label_ids(n)[0] for n in names]  # by name, as a user asks
    for guidance in (2.5, 1.0):
        images = pipe(
            class_labels=names,
            guidance_scale=guidance,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(0),
            output_type="pt",
        ).images
        result[f"guidance {guidance}"] = float((classifier.predict(images.flatten(1).numpy()) == np.array(ids)).mean())
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000, help="training images (10 classes)")
    parser.add_argument("--held-out", type=int, default=1_000, help="held-out images (the classifier's)")
    parser.add_argument("--inr-minutes", type=float, default=3.0, help="INR training budget (2 ranks)")
    parser.add_argument("--prior-steps", type=int, default=4000, help="prior training steps (2 ranks)")
    parser.add_argument("--rss-steps", type=int, default=200, help="prior steps of each peak-RSS run")
    parser.add_argument("--per-class", type=int, default=50, help="samples per class for the accuracy")
    parser.add_argument("--sample-steps", type=int, default=50, help="DDIM steps of the samples")
    parser.add_argument("--dtype-steps", type=int, default=600, help="prior steps per cache dtype (0: skip)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "runs" / "scale_rehearsal")
    args = parser.parse_args(argv)
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = out / "shapes"
    started = time.perf_counter()
    write_dataset(data, args.images, args.held_out)
    print(
        f"dataset: {args.images} training images in {len(CLASSES)} class folders under {data}/train "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )

    inr = out / "inr"
    if not (inr / "model").is_dir():
        launch(
            [
                "apps/train.py",
                "--config",
                "apps/configs/default.yaml",
                "--output-dir",
                inr,
                f"data.source={data}",
                "data.test_split=val",
                f"train.time_budget_minutes={args.inr_minutes}",
                "data.smooth_fraction=0",
                "data.extra_test_splits=[]",
                *INR_OVERRIDES,
            ],
            2,
            out / "inr.log",
        )
    figures = {"inr_test_psnr": json.loads((inr / "metrics.json").read_text())["test"]["psnr"]}

    figures["encode_1_rank"] = encode(inr / "model", data, out / "cache-1", 1, out / "encode-1")
    figures["encode_2_ranks"] = encode(inr / "model", data, out / "cache-2", 2, out / "encode-2")
    speedup = figures["encode_2_ranks"]["images_per_second"] / figures["encode_1_rank"]["images_per_second"]
    figures["encode_speedup"] = speedup

    prior = out / "prior"
    if not (prior / "pipeline").is_dir():
        launch(
            [
                "apps/train_prior.py",
                "--inr",
                inr / "model",
                "--data",
                data,
                "--cache-dir",
                out / "cache-2",
                "--output-dir",
                prior,
                "--max-steps",
                args.prior_steps,
                "--batch-size",
                "64",
                "--checkpoint-every",
                "500",
                "--sample-steps",
                "10",
                "data.shard_size=1000",
            ],
            2,
            out / "prior.log",
        )

    small = subset(data, 200)
    encode(inr / "model", small, out / "cache-small", 1, out / "encode-small")  # encoded before, as the whole set
    rss_small = peak_rss(inr / "model", small, out / "cache-small", args.rss_steps, out / "rss-2000")
    rss_whole = peak_rss(inr / "model", data, out / "cache-2", args.rss_steps, out / "rss-whole")
    growth = rss_whole["peak"] - rss_small["peak"]
    figures["rss_mb"] = {"2000": rss_small, str(args.images): rss_whole, "peak_growth": growth}

    grid = out / "samples_by_name.png"
    launch(
        [
            "apps/sample.py",
            prior / "pipeline",
            "--classes",
            *CLASSES[:4],
            "--per-class",
            "4",
            "--steps",
            str(args.sample_steps),
            "--output",
            grid,
        ],
        1,
        out / "sample.log",
    )
    figures["class_accuracy"] = class_accuracy(prior / "pipeline", data, args.per_class, args.sample_steps)

    if args.dtype_steps:
        figures["cache_dtype"] = storage_dtypes(inr / "model", data, args.dtype_steps, out)

    one, two = figures["encode_1_rank"], figures["encode_2_ranks"]
    accuracy = figures["class_accuracy"]
    print(f"\nINR (2 ranks, {args.inr_minutes} min): test PSNR {figures['inr_test_psnr']:.2f} dB")
    print(
        f"encoding {one['images']} images: 1 rank {one['images_per_second']:.0f} images/s, 2 ranks "
        f"{two['images_per_second']:.0f} images/s ({speedup:.2f}x; shares {two['shares']})"
    )
    print(
        f"peak RSS of prior training: {rss_small['peak']:.0f} MB at 2,000 images, {rss_whole['peak']:.0f} MB at "
        f"{args.images:,} (+{growth:.0f} MB; goal < 100 MB); at the end: anonymous {rss_small['anonymous']:.0f} vs "
        f"{rss_whole['anonymous']:.0f} MB, file-backed (mapped shards, page cache) {rss_small['file_backed']:.0f} "
        f"vs {rss_whole['file_backed']:.0f} MB"
    )
    print(
        f"class accuracy of samples: guidance 2.5 {accuracy['guidance 2.5']:.1%}, guidance 1.0 "
        f"{accuracy['guidance 1.0']:.1%}, chance {accuracy['chance']:.0%} (classifier on real held-out images: "
        f"{accuracy['classifier_on_real']:.1%})"
    )
    for dtype, r in figures.get("cache_dtype", {}).items():
        print(
            f"cache {dtype}: {r['cache_mb']:.0f} MB, prior loss over the last quarter of {args.dtype_steps} steps "
            f"{r['loss_last_quarter']:.4f}"
        )
    print(f"samples by class name: {grid}; total {(time.perf_counter() - started) / 60:.1f} min")
    (out / "scale_rehearsal.json").write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
