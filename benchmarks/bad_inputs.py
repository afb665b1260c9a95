"""Bad inputs: feed the apps and packages inputs that cannot be right and count the answers.

    python benchmarks/bad_inputs.py

Each case is a setting, a file or a flag that cannot be right. Its answer is *clear* when it is
refused with a message that names the setting, file or flag (the fragment listed with the case),
*unclear* when it is refused otherwise (a bare exception, a message without the name), and
*silent* when it is accepted. Runs in-process, in about a minute; prints one line per case that is
not clear, and the counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "apps" / "configs" / "default.yaml"


def _answer(call) -> tuple[str, str]:
    """('accepted' | 'refused', message) of ``call()``, stdout and stderr included."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except SystemExit as stop:
        if stop.code in (0, None):
            return "accepted", out.getvalue()
        return "refused", f"{stop.code if isinstance(stop.code, str) else ''} {out.getvalue()}"
    except Exception as error:
        return "refused", f"{type(error).__name__}: {error} {out.getvalue()}"
    return "accepted", out.getvalue()


def config_cases() -> list[tuple[str, object, str]]:
    from ginr_apps import train, train_prior

    def train_args(*argv):
        return lambda: train.parse_args(["--config", str(DEFAULT), *argv])

    cases = []
    bad = {
        "train.lr=.inf": "train.lr",
        "train.lr=.nan": "train.lr",
        "train.lr=-1": "train.lr",
        "train.max_steps=0": "train.max_steps",
        "train.max_steps=null": "train.max_steps",
        "train.grad_clip=-1": "train.grad_clip",
        "train.grad_clip=.nan": "train.grad_clip",
        "train.warmup_steps=-3": "train.warmup_steps",
        "train.time_budget_minutes=-1": "train.time_budget_minutes",
        "train.cpu_threads=-2": "train.cpu_threads",
        "train.batch_size=0": "train.batch_size",
        "train.betas=[0.9]": "train.betas",
        "train.betas=[0.9,1.5]": "train.betas",
        "train.weight_decay=-1": "train.weight_decay",
        "train.lr_schedule=linear": "train.lr_schedule",
        "train.mixed_precision=fp8": "train.mixed_precision",
        "train.eval_every=0": "train.eval_every",
        "train.keep_checkpoints=0": "train.keep_checkpoints",
        "train.decode_chunk_size=0": "train.decode_chunk_size",
        "train.lrr=1": "train.lrr",
        "train=5": "train",
        "data.resolution=0": "data.resolution",
        "data.resolution=100000": "data.resolution",
        "data.test_size=0": "data.test_size",
        "data.num_workers=-1": "data.num_workers",
        "data.subsample=0": "data.subsample",
        "data.subsample=2": "data.subsample",
        "data.on_error=ignore": "data.on_error",
        "data.task=video": "data.task",
        "data.views=3": "data.views",
        "model.family=nerf": "model.family",
        "model.preset=huge": "model.preset",
        "model.hidden_dim=-4": "hidden_dim",
        "model.patch_size=5": "patch_size",
        "model.fourier_dim=7": "fourier_dim",
        "model.dropout=1.5": "dropout",
        "model.num_heads=3": "model.num_heads",
        "output_dir=null": "output_dir",
        "seed=-1": "seed",
        "seed=abc": "seed",
        "colour=red": "colour",
        "nodot": "nodot",
    }
    for override, named in bad.items():
        cases.append((f"train.py {override}", train_args(override), named))
    cases.append(("train.py train.epochs=0", train_args("train.max_steps=null", "train.epochs=0"), "train.epochs"))
    cases.append(("train.py train.epochs=-1", train_args("train.max_steps=null", "train.epochs=-1"), "train.epochs"))
    prior = {
        "--lr inf": "train.lr",
        "--lr 0": "train.lr",
        "--max-steps 0": "train.max_steps",
        "--batch-size 0": "train.batch_size",
        "--ema-decay 1.5": "prior.ema_decay",
        "--class-dropout 1": "prior.class_dropout",
        "--preset huge": "prior.preset",
        "prior.inr=": "prior.inr",
    }
    for flags, named in prior.items():
        argv = flags.split() if flags != "prior.inr=" else [flags]
        inr = [] if flags == "prior.inr=" else ["--inr", "x"]
        cases.append((f"train_prior.py {flags}", lambda a=argv, i=inr: train_prior.parse_args([*i, *a]), named))
    return cases


def file_cases(tmp: Path) -> list[tuple[str, object, str]]:
    from ginr_apps.config import load_config
    from ginr_core import GeneralizableINR, LocalityAwareINR
    from ginr_data import LightFieldDataset, image_dataset
    from ginr_data.scenes import default_scenes

    cases = []
    # config files
    texts = {
        "dup.yaml": ("train:\n  lr: 1.0e-3\n  lr: 2.0e-3\n", "duplicate key"),
        "list.yaml": ("- 1\n- 2\n", "list.yaml"),
        "latin1.yaml": (None, "latin1.yaml"),
        "broken.yaml": ("train: {lr: 1\n", "broken.yaml"),
        "section.yaml": ("data: [1, 2]\n", "data"),
        "loop.yaml": ("base: loop.yaml\n", "loop.yaml"),
    }
    for name, (text, named) in texts.items():
        path = tmp / name
        path.write_bytes("train:\n  lr: 1e-3 # caf\xe9\n".encode("latin-1") if text is None else text.encode())
        cases.append((f"config file {name}", lambda p=path: load_config(p), named))
    cases.append(("config file missing", lambda: load_config(tmp / "nope.yaml"), "nope.yaml"))
    # model folders
    model = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                             hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    good = tmp / "model"
    model.save_pretrained(good)
    weights = (good / "model.safetensors").read_bytes()
    folders = {
        "truncated weights": ({"model.safetensors": weights[: len(weights) // 2]}, "model.safetensors"),
        "empty weights": ({"model.safetensors": b""}, "model.safetensors"),
        "malformed config.json": ({"config.json": b"{nope"}, "config.json"),
        "list config.json": ({"config.json": b"[1]"}, "config.json"),
        "unknown class": ({"config.json": json.dumps({"_class_name": "Nope"}).encode()}, "_class_name"),
        "no weights": ({"model.safetensors": None}, "model.safetensors"),
    }
    for name, (files, named) in folders.items():
        folder = tmp / name.replace(" ", "-")
        shutil.copytree(good, folder)
        for file, content in files.items():
            (folder / file).unlink() if content is None else (folder / file).write_bytes(content)
        cases.append((f"model folder: {name}", lambda f=folder: GeneralizableINR.from_pretrained(f), named))
    cases.append(("model: mistyped path", lambda: GeneralizableINR.from_pretrained("runs/defualt/model"), "no such"))
    cases.append(("model: uncached repo id offline", lambda: GeneralizableINR.from_pretrained("u/m"), "HF_HUB_OFFLINE"))
    # images
    broken = tmp / "broken-images"
    broken.mkdir()
    for k in range(3):
        (broken / f"{k}.png").write_bytes(b"\x89PNG nope")
    cases.append(
        (
            "image folder, all unreadable",
            lambda: image_dataset(broken, "train", resolution=8)[0],
            "images are unreadable",
        )
    )
    cases.append(("image folder missing", lambda: image_dataset(tmp / "none", "train", resolution=8), "none"))
    # light fields
    scenes = default_scenes()

    def lightfield_case(name, edit, named):
        root = tmp / f"lf-{len(cases)}"
        shutil.copytree(scenes, root)
        splits = json.loads((root / "shape_splits.json").read_text())
        victim = root / "shapes" / splits["test"][-1] / "transforms.json"
        edit(root, splits, victim)
        cases.append((f"light field: {name}", lambda: LightFieldDataset(root, "shapes", "test"), named))

    def meta_edit(change):
        def edit(root, splits, path):
            meta = json.loads(path.read_text())
            change(meta)
            path.write_text(json.dumps(meta))

        return edit

    lightfield_case("frames not a list", meta_edit(lambda m: m.update(frames={})), "transforms.json")
    lightfield_case("ragged matrix", meta_edit(lambda m: m["frames"][0].update(transform_matrix=[[1], [2, 3]])),
                    "transforms.json")  # fmt: skip
    lightfield_case("non-numeric matrix", meta_edit(lambda m: m["frames"][0].update(transform_matrix=[["a"] * 4] * 4)),
                    "transforms.json")  # fmt: skip
    lightfield_case("camera_angle_x string", meta_edit(lambda m: m.update(camera_angle_x="wide")), "camera_angle_x")
    lightfield_case("camera_angle_x 0", meta_edit(lambda m: m.update(camera_angle_x=0)), "camera_angle_x")
    lightfield_case("camera_angle_x < 0", meta_edit(lambda m: m.update(camera_angle_x=-1)), "camera_angle_x")
    lightfield_case("file_path ../", meta_edit(lambda m: m["frames"][0].update(file_path="../../x")), "file_path")
    lightfield_case("not JSON", lambda r, s, p: p.write_text("{"), "transforms.json")

    def splits_edit(ids):
        return lambda root, splits, path: (root / "shape_splits.json").write_text(json.dumps({**splits, "test": ids}))

    lightfield_case("split ids with ../", splits_edit(["../x"]), "shape_splits.json")
    lightfield_case("duplicate split ids", splits_edit(["a", "a"]), "shape_splits.json")
    lightfield_case("split not a list", splits_edit("abc"), "shape_splits.json")

    def non_square(root, splits, path):
        for png in root.rglob("*.png"):
            with Image.open(png) as image:
                image.crop((0, 0, image.width, image.height // 2)).save(png)

    lightfield_case("non-square views", non_square, "square")
    return cases


def flag_cases() -> list[tuple[str, object, str]]:
    from ginr_apps import evaluate_prior, publish, render, sample

    return [
        ("render.py --frames 0", lambda: render.main(["m", "--frames", "0"]), "--frames"),
        ("render.py --size 0", lambda: render.main(["m", "--size", "0"]), "--size"),
        ("sample.py --steps 0", lambda: sample.main(["p", "--steps", "0"]), "--steps"),
        ("sample.py --per-class 0", lambda: sample.main(["p", "--per-class", "0"]), "--per-class"),
        ("sample.py --resolution 0", lambda: sample.main(["p", "--resolution", "0"]), "--resolution"),
        (
            "evaluate_prior.py --num-samples 0",
            lambda: evaluate_prior.main(["p", "--num-samples", "0"]),
            "--num-samples",
        ),
        ("publish.py --repo-id ../x", lambda: publish.main(["runs", "--repo-id", "../x"]), "--repo-id"),
        ("publish.py --repo-id u/..", lambda: publish.main(["runs", "--repo-id", "u/.."]), "--repo-id"),
        ("publish.py --repo-id 'u/a b;rm'", lambda: publish.main(["runs", "--repo-id", "u/a b;rm"]), "--repo-id"),
    ]


TINY_RUN = """
model: {family: locinr, preset: photos-32, image_size: 16, patch_size: 4, encoder_width: 32, encoder_depth: 1,
        encoder_heads: 2, hidden_dim: 32, fourier_dim: 32}
data: {source: photos, resolution: 16, test_size: 4, extra_test_splits: []}
train: {batch_size: 4, max_steps: 6, lr: 1.0e+30, warmup_steps: 0, decay_steps: 0, eval_every: 100,
        eval_batch_size: 4, checkpoint_every: 100, keep_checkpoints: 1, log_every: 100, max_bad_steps: 100}
seed: 0
"""


def _scaled_copy(good: Path, folder: Path, change) -> Path:
    """A copy of model folder ``good`` whose weights are ``change(tensor)``."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(good, folder)
    weights = folder / "model.safetensors"
    save_file({k: change(v) for k, v in load_file(weights).items()}, weights, metadata={"format": "pt"})
    return folder


def wrong_results_cases(tmp: Path) -> list[tuple[str, object, str]]:
    """Issue 30: results that were silently wrong (a broken run's model, NaN or int weights, a non-finite score,
    an empty class folder)."""
    import torch

    from ginr_apps import evaluate, train
    from ginr_core import GeneralizableINR, LocalityAwareINR
    from ginr_data import image_dataset

    root = tmp / "wrong-results"
    model = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                             hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    good = model.save_pretrained(root / "good")
    cases = []
    for name, change, named in (
        ("NaN weights", lambda t: torch.full_like(t, float("nan")), "holds NaN or Inf values"),
        ("int64 weights", lambda t: t.long(), "expected a floating dtype"),
        ("bool weights", lambda t: t > 0, "expected a floating dtype"),
    ):
        folder = _scaled_copy(good, root / name.replace(" ", "-"), change)
        cases.append((f"model folder: {name}", lambda f=folder: GeneralizableINR.from_pretrained(f), named))
    huge = _scaled_copy(good, root / "huge-weights", lambda t: t * 1e30)
    cases.append(("evaluate.py: a non-finite score", lambda: evaluate.main([str(huge), "--size", "2"]), str(huge)))
    (root / "run.yaml").write_text(TINY_RUN)
    argv = ["--config", str(root / "run.yaml"), "--output-dir", str(root / "run")]
    cases.append(("train.py: most steps skipped as non-finite", lambda: train.main(argv), "not written"))
    pets = root / "pets"
    for name in ("cat", "dog"):
        (pets / "train" / name).mkdir(parents=True)
        Image.new("RGB", (12, 12)).save(pets / "train" / name / "0.png")
    (pets / "train" / "bird").mkdir()
    cases.append(("image folder: an empty class folder",
                  lambda: image_dataset(pets, "train", resolution=8), str(pets / "train" / "bird")))  # fmt: skip
    return cases


def resource_cases(tmp: Path) -> list[tuple[str, object, str]]:
    """Issue 30: requests beyond the machine's memory, an alias bomb, a full disk and a read-only folder."""
    from ginr_apps import render, train
    from ginr_apps.checkpoints import RunState, save_checkpoint
    from ginr_apps.config import load_config
    from ginr_apps.guards import run_app
    from ginr_core import GeneralizableINR, LocalityAwareINR, NeRFIPC
    from ginr_diffusion import LatentDenoiser, LatentINRPipeline, sampling_scheduler

    root = tmp / "resources"
    cases = []
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    root.mkdir(parents=True)
    (root / "bomb.yaml").write_text("\n".join(levels) + "\n")
    cases.append(("config file: 9 levels of YAML aliases", lambda: load_config(root / "bomb.yaml"), "bomb.yaml"))
    cases.append(("train.py model.hidden_dim=1000000000",
                  lambda: train.parse_args(["--config", str(DEFAULT), "model.hidden_dim=1000000000"]),
                  "model.hidden_dim"))  # fmt: skip
    inr = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                           hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    good = inr.save_pretrained(root / "good")
    for setting, value in (("hidden_dim", 10_000_000), ("image_size", 1_000_000)):
        folder = root / setting
        shutil.copytree(good, folder)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, setting: value}))
        cases.append((f"config.json {setting}: {value}", lambda f=folder: GeneralizableINR.from_pretrained(f),
                      f"{setting}={value}"))  # fmt: skip
    denoiser = LatentDenoiser(num_latents=8, latent_dim=inr.latent_dim, width=32, depth=1, heads=2)
    pipe = LatentINRPipeline(denoiser, sampling_scheduler(), inr)
    pipe.save_pretrained(root / "pipeline")
    for file, setting, value in (("scheduler/scheduler_config.json", "num_train_timesteps", 1e10),
                                 ("denoiser/config.json", "width", 1_000_000)):  # fmt: skip
        folder = root / f"pipeline-{setting}"
        shutil.copytree(root / "pipeline", folder)
        config = json.loads((folder / file).read_text())
        (folder / file).write_text(json.dumps({**config, setting: value}))
        cases.append((f"pipeline {file} {setting}: {value:g}", lambda f=folder: LatentINRPipeline.from_pretrained(f),
                      setting))  # fmt: skip
    light_field = NeRFIPC(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                          hidden_dim=16, num_views=2, num_latents=8, num_layers=3, points_per_ray=8)  # fmt: skip
    lf = light_field.save_pretrained(root / "light-field")
    for flag, value in (("--size", "100000"), ("--frames", "100000000")):
        cases.append((f"render.py {flag} {value}", lambda a=[flag, value]: render.main([str(lf), *a]), flag))
    if _tmpfs_mountable(root / "probe"):

        class One:
            is_main_process = True

            def wait_for_everyone(self):
                pass

        def full_disk():
            import torch

            with _tmpfs(root / "disk", "size=1m") as disk:
                parts = {"model": torch.nn.Linear(4, 8), "state": RunState()}
                save_checkpoint(One(), disk / "checkpoints", 1, 2, parts)
                parts["model"] = torch.nn.Linear(40_000, 8)  # 1.3 MB: more than the disk holds
                save_checkpoint(One(), disk / "checkpoints", 2, 2, parts)

        def read_only():
            with _tmpfs(root / "readonly", "ro,size=1m") as folder:
                run_app(lambda: train.main(["--config", str(root / "tiny.yaml"), "--output-dir", str(folder / "run")]))

        (root / "tiny.yaml").write_text(TINY_RUN)
        cases.append(("checkpoint on a full disk", full_disk, "Free space"))
        cases.append(("train.py --output-dir on a read-only folder", read_only, "readonly/run"))
    return cases


@contextlib.contextmanager
def _tmpfs(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    if os.system(f"mount -t tmpfs -o {options} tmpfs {folder} 2>/dev/null"):
        raise RuntimeError(f"cannot mount a tmpfs at {folder}")
    try:
        yield folder
    finally:
        os.system(f"umount -l {folder}")


def _tmpfs_mountable(folder: Path) -> bool:
    """Whether a tmpfs can be mounted here (root, and a kernel that lets us): the disk cases need one."""
    if os.geteuid() != 0:
        return False
    try:
        with _tmpfs(folder, "size=1m"):
            return True
    except RuntimeError:
        return False


def mixing_cases(tmp: Path) -> list[tuple[str, object, str]]:
    """Runs that would silently mix: a resume or a latent cache whose inputs changed, an evaluation into a live run."""
    from accelerate import Accelerator

    from ginr_apps import evaluate, train, train_prior
    from ginr_apps.checkpoints import lock_run
    from ginr_core import LocalityAwareINR

    def images(folder: Path, count: int, start: int = 0, seed: int = 0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(start, start + count):
            pixels = np.random.default_rng([seed, i]).integers(0, 255, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")

    data, run, prior, cache = tmp / "mix-data", tmp / "mix-run", tmp / "mix-prior", tmp / "mix-cache"
    images(data / "train", 12)
    images(data / "test", 4, seed=1)
    tiny = ["model.image_size=16", "model.patch_size=4", "model.encoder_width=32", "model.encoder_depth=1"]
    tiny += ["model.encoder_heads=2", "model.hidden_dim=32", "model.fourier_dim=32", "data.resolution=16"]
    tiny += ["train.batch_size=4", "train.checkpoint_every=2", "train.eval_every=2", "data.extra_test_splits=[]"]
    argv = ["--config", str(DEFAULT), "--output-dir", str(run), f"data.source={data}", *tiny]
    inr = tmp / "mix-inr"
    LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                     hidden_dim=32, fourier_dim=32, num_latents=8).save_pretrained(inr)  # fmt: skip
    prior_argv = ["--inr", str(inr), "--data", str(data), "--output-dir", str(prior), "--cache-dir", str(cache)]
    prior_argv += ["--batch-size", "4", "--checkpoint-every", "2", "--sample-steps", "2", "data.num_workers=0"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train.main([*argv, "train.max_steps=2"])
        train_prior.main([*prior_argv, "--max-steps", "2"])
    images(data / "train", 28, start=12)
    images(data / "test", 2, seed=2)

    def replace_inr() -> None:
        LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                         hidden_dim=32, fourier_dim=32, num_latents=8, sigma_q=3.0).save_pretrained(inr)  # fmt: skip
        return train_prior.main([*prior_argv, "--max-steps", "4", "--resume", "--allow-data-change"])

    class RebuiltError(Exception):
        """The right answer to changed inputs of a cache: encoded afresh (a stale cache is reused silently)."""

    def cache_after_edit() -> None:
        settings = [f"prior.inr={inr}", f"data.source={data}", f"data.cache_dir={tmp / 'mix-cache-2'}"]
        config = train_prior.load_prior_config(None, [*settings, "data.num_workers=0"])
        model, accelerator = LocalityAwareINR.from_pretrained(inr), Accelerator(cpu=True)
        before = train_prior.latent_cache(config, model, accelerator).folder
        images(data / "train", 1, seed=3)  # rewritten in place: no folder's mtime moves
        after = train_prior.latent_cache(config, model, accelerator).folder
        if after != before:
            raise RebuiltError(f"latent cache encoded afresh: data.source changed under train/ ({after.name})")

    def evaluate_live() -> None:
        with lock_run(run):
            evaluate.main([str(run / "model"), "--size", "2"])

    resume = [*argv, "train.max_steps=4", "--resume"]
    return [
        ("train.py --resume after data.source changed", lambda: train.main(resume), "--allow-data-change"),
        ("train.py --resume: the change named", lambda: train.main(resume), "28 files added, 0 removed, 2 changed"),
        (
            "train_prior.py --resume after data.source changed",
            lambda: train_prior.main([*prior_argv, "--max-steps", "4", "--resume"]),
            "--allow-data-change",
        ),
        ("train_prior.py --resume after the INR at --inr was replaced", replace_inr, "--inr"),
        ("latent cache after files under train/ changed", cache_after_edit, "data.source changed"),
        ("evaluate.py into a run that is training", evaluate_live, "is in use by"),
        ("evaluate.py RUN instead of RUN/model", lambda: evaluate.main([str(run)]), "pass its model/ folder"),
    ]


SECRET = "hf_not_for_the_hub"  # what a published folder must never hold
CRAFTED_README = (
    "---\nbase_model: someone-else/famous\nmodel-index: [{name: x, results: [{metrics: [{value: 99.9}]}\n---\n"
)


def _leaked(folder: Path):
    """Whether anything staged in ``folder`` holds what a crafted input planted (a secret, a fake card)."""
    marks = (SECRET.encode(), b"99.9", b"someone-else")
    return lambda: folder.exists() and any(m in p.read_bytes() for p in folder.rglob("*") if p.is_file() for m in marks)


def publish_cases(tmp: Path) -> list[tuple]:
    """Publish dry runs of runs and folders holding what ginr did not write, and pickles handed to the loaders.
    A case whose right answer is to publish (``named`` None) is handled when nothing planted leaks."""
    import torch

    from ginr_apps import publish
    from ginr_core import LocalityAwareINR
    from ginr_diffusion import LatentDenoiser, LatentINRPipeline, load_fid_inception, sampling_scheduler

    torch.manual_seed(0)
    inr = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                           hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    good = tmp / "publish-prior"
    LatentINRPipeline(LatentDenoiser(num_latents=8, latent_dim=32, width=32, depth=1, heads=2, num_classes=2),
                      sampling_scheduler(), inr).save_pretrained(good / "pipeline")  # fmt: skip
    (good / "metrics.json").write_text(json.dumps({"steps": 3, "train_minutes": 0.1}))
    (good / "eval").mkdir()
    fid = {"fid": 9.5, "num_samples": 4, "reference": "digits", "split": "test", "reference_images": 6,
           "guidance_scale": 2.5, "num_inference_steps": 2}  # fmt: skip
    (good / "eval" / "fid.json").write_text(json.dumps(fid))
    inr.save_pretrained(tmp / "publish-model" / "model")
    secret = tmp / "outside-secret.json"
    secret.write_text(json.dumps({"token": SECRET}))
    cases = []

    def case(name, source, edit, named):
        copy = tmp / f"publish-{len(cases)}"
        shutil.copytree(source, copy)
        folder = copy / "model" if source.name == "publish-model" else copy
        edit(copy)
        staged = tmp / f"staged-{len(cases)}"
        call = lambda: publish.main([str(folder), "--repo-id", "u/m", "--dry-run", str(staged)])  # noqa: E731
        cases.append((f"publish.py: {name}", call, named, _leaked(staged)))

    def hard_link(relative):
        def edit(run):
            (run / relative).unlink()
            (run / relative).hardlink_to(secret)

        return edit

    def write(relative, text):
        return lambda run: (run / relative).write_text(text)

    def add_keys(relative, key="token"):
        def edit(run):
            (run / relative).write_text(json.dumps({**json.loads((run / relative).read_text()), key: SECRET}))

        return edit

    case("hard link to a file outside (eval/fid.json)", good, hard_link("eval/fid.json"), "hard links")
    case("hard link to a file outside (metrics.json)", good, hard_link("metrics.json"), "hard links")
    case("hard link to a file outside (model.safetensors)", tmp / "publish-model",
         hard_link("model/model.safetensors"), "hard links")  # fmt: skip
    case("stray JSON in a pipeline", good, write("pipeline/notes.json", json.dumps({"t": SECRET})), "notes.json")
    case("stray JSON in a component", good, write("pipeline/denoiser/s.json", json.dumps({"t": SECRET})), "s.json")
    case("eval/fid.json not JSON", good, write("eval/fid.json", "{" + SECRET), "fid.json")
    case("eval/fid.json a list", good, write("eval/fid.json", f'["{SECRET}"]'), "fid.json")
    case("eval/fid.json fid a string", good, write("eval/fid.json", json.dumps({**fid, "fid": SECRET})), "fid.json")
    case("eval/sample_metrics.json not ginr's", good, write("eval/sample_metrics.json", json.dumps({"t": SECRET})),
         "sample_metrics.json")  # fmt: skip
    case("metrics.json not ginr's", good, write("metrics.json", json.dumps({"t": SECRET})), "metrics.json")
    case("denoiser config.json with extra keys", good, add_keys("pipeline/denoiser/config.json"), "config.json")
    case("model_index.json with extra keys", good, add_keys("pipeline/model_index.json"), "model_index.json")
    case("inr config.json with an extra _key", good, add_keys("pipeline/inr/config.json", "_token"), "config.json")
    case("crafted README.md of a model folder", tmp / "publish-model", write("model/README.md", CRAFTED_README), None)
    case("crafted README.md of a pipeline", good, write("pipeline/README.md", CRAFTED_README), None)

    pickled = tmp / "pickled-pipeline"
    shutil.copytree(good / "pipeline", pickled)
    denoiser = LatentDenoiser.from_pretrained(pickled / "denoiser")
    (pickled / "denoiser" / "diffusion_pytorch_model.safetensors").unlink()
    denoiser.save_pretrained(pickled / "denoiser", safe_serialization=False)
    pth = tmp / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"fc.weight": torch.zeros(1)}, pth)
    cases += [
        ("pipeline with a pickled denoiser (.bin)", lambda: LatentINRPipeline.from_pretrained(pickled),
         "python -m ginr_diffusion.convert"),
        ("denoiser folder with a pickle (.bin)", lambda: LatentDenoiser.from_pretrained(pickled / "denoiser"),
         "python -m ginr_diffusion.convert"),
        ("use_safetensors=False", lambda: LatentINRPipeline.from_pretrained(good / "pipeline", use_safetensors=False),
         "use_safetensors=False"),
        ("FID weights a .pth pickle", lambda: load_fid_inception(pth), "python -m ginr_diffusion.convert"),
    ]  # fmt: skip
    return cases


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ginr-bad-inputs-"))
    cases = config_cases() + file_cases(tmp) + flag_cases() + wrong_results_cases(tmp) + resource_cases(tmp)
    cases += mixing_cases(tmp) + publish_cases(tmp)
    counts = {"clear": 0, "unclear": 0, "silent": 0, "handled": 0, "leak": 0}
    for name, call, named, *leaked in cases:
        kind, message = _answer(call)
        verdict = "silent" if kind == "accepted" else ("clear" if named is not None and named in message else "unclear")
        verdict = "handled" if named is None and kind == "accepted" else verdict
        verdict = "leak" if leaked and leaked[0]() else verdict
        counts[verdict] += 1
        if verdict not in ("clear", "handled"):
            print(f"{verdict}: {name}: {' '.join(message.split())[:300]}")
    print(f"{len(cases)} bad inputs: {counts['clear']} refused with a clear error naming what is wrong, "
          f"{counts['handled']} handled, {counts['unclear']} refused unclearly, {counts['silent']} accepted "
          f"silently, {counts['leak']} leaks (published what they should not)")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
