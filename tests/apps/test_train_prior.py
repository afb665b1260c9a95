"""apps/train_prior.py and apps/sample.py on a tiny INR of the embedded digits (fresh processes)."""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ginr_apps.checkpoints import latest_checkpoint
from ginr_diffusion import LatentCache, LatentINRPipeline
from ginr_diffusion.fid import FID_WEIGHTS_URL

TRAIN, PRIOR, SAMPLE, EVAL = "apps/train.py", "apps/train_prior.py", "apps/sample.py", "apps/evaluate_prior.py"

pytestmark = pytest.mark.slow  # every test trains an INR and a prior


def _prior(app, inr, out, *extra, cache):
    args = ["--inr", inr, "--output-dir", out, "--batch-size", "8", "--checkpoint-every", "3", "--sample-steps", "2"]
    return app(PRIOR, *args, "--cache-dir", cache, *extra)


def test_a_prior_trains_caches_latents_resumes_exactly_samples_and_is_scored(tmp_path, digits_inr, app, fid_weights):
    cache = tmp_path / "latents"
    result = _prior(app, digits_inr, tmp_path / "straight", "--max-steps", "6", cache=cache)
    assert "10 classes" in result.stdout and "encoding latents" in result.stderr
    cached = list(cache.glob("*/manifest.json"))
    assert len(cached) == 1
    latents = LatentCache(cached[0].parent)
    assert len(latents) == 1442 and latents.shape == (8, 32) and latents.class_names == [str(c) for c in range(10)]
    stamp = cached[0].stat().st_mtime_ns
    # the cache is reused by the next run: no encoding
    split = tmp_path / "split"
    again = _prior(app, digits_inr, split, "--max-steps", "3", cache=cache)
    assert "encoding latents" not in again.stderr and cached[0].stat().st_mtime_ns == stamp
    _prior(app, digits_inr, split, "--max-steps", "6", "--resume", cache=cache)
    a = load_file(str(latest_checkpoint(tmp_path / "straight" / "checkpoints") / "model.safetensors"))
    b = load_file(str(latest_checkpoint(split / "checkpoints") / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # outputs: a loadable pipeline, one row of samples per class, metrics
    pipe = LatentINRPipeline.from_pretrained(tmp_path / "straight" / "pipeline")
    assert pipe.denoiser.config.num_classes == 10 and pipe.scheduler.config.prediction_type == "sample"
    assert pipe.id2label == {c: str(c) for c in range(10)} and pipe.get_label_ids("7") == [7]
    assert not torch.equal(pipe.denoiser.latent_std, torch.ones_like(pipe.denoiser.latent_std))
    assert Image.open(tmp_path / "straight" / "samples.png").size[1] > 10 * 64
    assert Image.open(tmp_path / "straight" / "learning_curve.png").size[0] > 300  # the loss curve beside it
    metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["classes"] == 10

    grid = tmp_path / "grid.png"
    app(
        SAMPLE,
        tmp_path / "straight" / "pipeline",
        "--classes",
        "3",
        "7",
        "--per-class",
        "2",
        "--steps",
        "2",
        "--resolution",
        "24",
        "--output",
        grid,
    )
    assert Image.open(grid).size[1] > 2 * 24
    bad = app(SAMPLE, tmp_path / "straight" / "pipeline", "--classes", "12", "--output", grid, check=False)
    assert bad.returncode != 0 and "class labels must be in 0..9" in bad.stderr

    # FID against the held-out digits the run names (stand-in Inception weights: the real file needs network)
    pipeline = tmp_path / "straight" / "pipeline"
    scored = app(
        EVAL,
        pipeline,
        "--num-samples",
        "6",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--reference-size",
        "8",
        "--inception-weights",
        fid_weights,
    )
    report = json.loads((tmp_path / "straight" / "eval" / "fid.json").read_text())
    assert report["reference"] == "digits" and report["split"] == "test" and report["reference_images"] == 8
    assert report["num_samples"] == 6 and report["fid"] > 0 and f"FID {report['fid']:.2f}" in scored.stdout
    assert "reference statistics from" not in scored.stdout
    # the reference statistics are cached under a key of the reference set: the same evaluation reuses them
    again = app(EVAL, pipeline, "--num-samples", "6", "--steps", "2", "--batch-size", "4", "--reference-size", "8",
                "--inception-weights", fid_weights)  # fmt: skip
    assert "reference statistics from" in again.stdout and f"FID {report['fid']:.2f}" in again.stdout
    other = app(EVAL, pipeline, "--num-samples", "6", "--steps", "2", "--batch-size", "4", "--reference-size", "7",
                "--inception-weights", fid_weights)  # fmt: skip
    assert "reference statistics from" not in other.stdout  # another reference set: computed afresh
    offline = app(EVAL, pipeline, "--num-samples", "6", check=False)  # no weights cached, HF_HUB_OFFLINE=1
    assert offline.returncode != 0 and "HF_HUB_OFFLINE" in offline.stderr and FID_WEIGHTS_URL in offline.stderr
    assert "generating" not in offline.stderr  # it stopped before any slow work


def test_a_new_inr_never_reuses_stale_latents(tmp_path, digits_inr, app):
    from ginr_core import GeneralizableINR

    cache = tmp_path / "latents"
    _prior(app, digits_inr, tmp_path / "one", "--max-steps", "1", cache=cache)
    other = GeneralizableINR.from_pretrained(digits_inr)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    other.save_pretrained(tmp_path / "other")
    _prior(app, tmp_path / "other", tmp_path / "two", "--max-steps", "1", cache=cache)
    assert len(list(cache.glob("*/manifest.json"))) == 2


def test_two_processes_train_the_same_prior_as_one(tmp_path, digits_inr, app):
    import sys

    _prior(app, digits_inr, tmp_path / "one", "--max-steps", "4", cache=tmp_path / "cache-one")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    args = ["--inr", digits_inr, "--output-dir", tmp_path / "two", "--batch-size", "8", "--checkpoint-every", "3"]
    result = app(
        PRIOR,
        *args,
        "--sample-steps",
        "2",
        "--max-steps",
        "4",
        "--cache-dir",
        tmp_path / "cache-two",  # encoded afresh by both processes, each its own shards
        "data.shard_size=256",
        launcher=launcher,
        env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.stdout.count("LatentDenoiser (tiny)") == 1  # one process reports
    assert "6 shard(s) to encode, over 2 process(es)" in result.stdout
    assert "process 0: 768 images in" in result.stdout and "process 1: 674 images in" in result.stdout  # both busy
    (folder,) = [p.parent for p in (tmp_path / "cache-two").glob("*/manifest.json")]
    one_cache = LatentCache(next((tmp_path / "cache-one").glob("*/manifest.json")).parent)
    torch.testing.assert_close(LatentCache(folder)[range(1442)][0], one_cache[range(1442)][0], atol=1e-5, rtol=0)
    # each process trains on its half of the same global batches: the same weights and EMA up to summation order
    a = load_file(str(latest_checkpoint(tmp_path / "one" / "checkpoints") / "model.safetensors"))
    b = load_file(str(latest_checkpoint(tmp_path / "two" / "checkpoints") / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    one = LatentINRPipeline.from_pretrained(tmp_path / "one" / "pipeline").denoiser.state_dict()
    two = LatentINRPipeline.from_pretrained(tmp_path / "two" / "pipeline").denoiser.state_dict()
    assert all(torch.allclose(one[k], two[k], atol=1e-5) for k in one)


def test_an_encoding_killed_halfway_resumes_to_the_same_cache(tmp_path, digits_inr, monkeypatch):
    from accelerate import Accelerator

    from ginr_apps import train_prior
    from ginr_core import GeneralizableINR

    inr = GeneralizableINR.from_pretrained(digits_inr).eval()
    accelerator = Accelerator(cpu=True)

    def config(cache):
        return train_prior.load_prior_config(
            None, [f"prior.inr={digits_inr}", f"data.cache_dir={cache}", "data.shard_size=200", "data.num_workers=0"]
        )

    whole = train_prior.latent_cache(config(tmp_path / "whole"), inr, accelerator)
    written = []
    real = train_prior.write_shard

    def dies_after_three(*args, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt  # the kill arrives while the fourth shard is being encoded
        written.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_prior, "write_shard", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        train_prior.latent_cache(config(tmp_path / "killed"), inr, accelerator)
    (folder,) = list((tmp_path / "killed").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == [f"shard-0000{i}.safetensors" for i in range(3)]
    monkeypatch.setattr(train_prior, "write_shard", real)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    resumed = train_prior.latent_cache(config(tmp_path / "killed"), inr, accelerator)
    assert all((folder / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())  # kept, not redone
    for name in sorted(p.name for p in whole.folder.glob("shard-*")):
        assert (whole.folder / name).read_bytes() == (resumed.folder / name).read_bytes(), name
    assert len(resumed) == 1442 and torch.equal(resumed.labels(), whole.labels())


def test_prior_trackers_and_sampling_split_over_two_processes(tmp_path, digits_inr, app, fid_weights):
    import sys

    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "prior"
    _prior(app, digits_inr, out, "--max-steps", "4", "train.log_every=2", "--report_to", "tensorboard",
           cache=tmp_path / "cache")  # fmt: skip
    board = EventAccumulator(str(out / "logs" / "ginr-train-prior"), size_guidance={"images": 0}).Reload()
    assert [e.step for e in board.Scalars("train/loss")] == [2, 4] and "train/step_seconds" in board.Tags()["scalars"]
    assert "samples" in board.Tags()["images"]  # a grid of the EMA weights' samples at the step-3 checkpoint
    # the same grid from one process and from two (each row its own seed; rows shared out, gathered in order)
    args = [out / "pipeline", "--classes", "1", "4", "7", "--per-class", "2", "--steps", "2"]
    app(SAMPLE, *args, "--output", tmp_path / "one.png")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    two = app(SAMPLE, *args, "--output", tmp_path / "two.png", launcher=launcher,
              env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert "3 row(s) of 2 samples (2 processes)" in two.stdout
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png"), dtype=np.int16) for n in ("one", "two"))
    assert a.shape == b.shape and np.abs(a - b).max() <= 1  # the same samples (1/255: summation order)
    # FID: each process generates its share of the batches (per-batch seeds), the same figure as one process
    fid_args = [out / "pipeline", "--num-samples", "6", "--steps", "2", "--batch-size", "2", "--reference-size", "8"]
    fid_args += ["--inception-weights", fid_weights, "--fid-cache", tmp_path / "fid"]
    app(EVAL, *fid_args, "--output", tmp_path / "fid1.json")
    app(EVAL, *fid_args, "--output", tmp_path / "fid2.json", launcher=launcher,
        env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    one, two = (json.loads((tmp_path / f"fid{n}.json").read_text()) for n in (1, 2))
    assert two["processes"] == 2 and one["processes"] == 1
    assert abs(one["fid"] - two["fid"]) < 1e-3 * max(1.0, one["fid"])


def _class_folder(root, classes=("cat", "dog", "owl"), per_class=7):
    import numpy as np

    rng = np.random.default_rng(0)
    for name in classes:
        (root / "train" / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "train" / name / f"{name}{i}.png")
    return root


def _assert_same_items(cache, other):
    """The two caches hold the same latents and class names, item for item, in any order."""
    (a, a_labels), (b, b_labels) = cache[range(len(cache))], other[range(len(other))]
    assert len(a) == len(b)
    nearest = torch.cdist(a.flatten(1), b.flatten(1)).min(dim=1)
    assert nearest.values.max() < 1e-4 and len(set(nearest.indices.tolist())) == len(a)  # a one-to-one match
    assert [cache.class_names[i] for i in a_labels] == [other.class_names[i] for i in b_labels[nearest.indices]]


def test_a_streamed_source_is_encoded_in_one_pass_resumes_after_a_kill_and_splits_over_processes(
    tmp_path, digits_inr, app, monkeypatch
):
    import sys

    from accelerate import Accelerator

    from ginr_apps import train_prior
    from ginr_core import GeneralizableINR

    data = _class_folder(tmp_path / "photos")
    inr = GeneralizableINR.from_pretrained(digits_inr).eval()
    accelerator = Accelerator(cpu=True)

    def config(cache, streaming=True):
        settings = [f"prior.inr={digits_inr}", f"data.source={data}", f"data.cache_dir={cache}", "data.shard_size=4"]
        return train_prior.load_prior_config(None, [*settings, f"data.streaming={str(streaming).lower()}"])

    listed = train_prior.latent_cache(config(tmp_path / "listed", streaming=False), inr, accelerator)
    streamed = train_prior.latent_cache(config(tmp_path / "whole"), inr, accelerator)
    assert len(streamed) == len(listed) == 21 and streamed.class_names == ["cat", "dog", "owl"]
    assert [rows for _, rows in streamed.info["files"]] == [4, 4, 4, 4, 4, 1]
    _assert_same_items(streamed, listed)

    written = []
    real = train_prior.write_shard

    def dies_after_two(*args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt  # killed while the third shard is being encoded
        written.append(kwargs["name"])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_prior, "write_shard", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        train_prior.latent_cache(config(tmp_path / "killed"), inr, accelerator)
    (folder,) = list((tmp_path / "killed").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == written == ["stream-r000-00000.safetensors",
                                                                   "stream-r000-00001.safetensors"]  # fmt: skip
    monkeypatch.setattr(train_prior, "write_shard", real)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    resumed = train_prior.latent_cache(config(tmp_path / "killed"), inr, accelerator)
    assert all((folder / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())  # kept, not redone
    for name, _ in streamed.info["files"]:
        assert (streamed.folder / name).read_bytes() == (resumed.folder / name).read_bytes(), name

    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    result = app(PRIOR, "--inr", digits_inr, "--output-dir", tmp_path / "two", "--batch-size", "4", "--max-steps", "1",
                 "--sample-steps", "1", "--cache-dir", tmp_path / "two-processes", f"data.source={data}",
                 "data.streaming=true", "data.shard_size=4", launcher=launcher,
                 env={"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert "encoding a stream over 2 process(es)" in result.stdout
    (two,) = [p.parent for p in (tmp_path / "two-processes").glob("*/manifest.json")]
    shared = LatentCache(two)
    counts = {}
    for name, rows in shared.info["files"]:
        counts[name[:11]] = counts.get(name[:11], 0) + rows
    assert counts == {"stream-r000": 11, "stream-r001": 10}  # each process encoded its share
    _assert_same_items(shared, listed)
