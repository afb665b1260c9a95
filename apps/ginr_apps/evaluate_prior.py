"""FID of a latent prior's samples against reference images (Inception-v3 pool features).

    python apps/evaluate_prior.py runs/prior/pipeline                  # vs the digits test split, 1000 samples
    python apps/evaluate_prior.py runs/prior/pipeline --guidance 1.0 --steps 50 --num-samples 2000
    python apps/evaluate_prior.py <user>/ginr-prior-ffhq --reference /data/ffhq --split test \\
        --num-samples 10000 --inception-weights ~/weights/pt_inception-2015-12-05-6726825d.safetensors

Generates ``--num-samples`` images (classes in turn for a class-conditional prior) at the INR's
training resolution, and compares their Inception features with those of the reference split's
images. The reference statistics (mean and covariance of the features) are cached in
``$GINR_CACHE/fid`` under a key of the reference set (source, split, protocol, size, resolution,
weights) and reused by later evaluations. Under ``accelerate launch`` every process generates its
share of the batches (each batch has its own seed: the FID does not depend on the number of
processes). The Inception weights are the standard FID ones (``pt_inception-2015-12-05``): a local
safetensors file (``--inception-weights``), else torch.hub's cache, else downloaded once; offline
without them the app stops before generating anything and says where to put the file. The standard
``.pth`` is a pickle, which ginr never loads: convert it once with
``python -m ginr_diffusion.convert X.pth X.safetensors``. Writes the result to
``--output`` (default: ``<run>/eval/fid.json`` beside a local pipeline folder) and prints it.
FIDs from a few hundred images are biased upwards: compare runs at equal sample counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
from accelerate.utils import gather_object
from safetensors.torch import load_file, save
from tqdm.auto import tqdm

from ginr_core import frechet_distance, gaussian_statistics
from ginr_data import cache_dir, fingerprint_digest, image_dataset, source_fingerprint
from ginr_diffusion import InceptionWeightsError, inception_features, load_fid_inception

from .cards import command_line
from .cli import at_least, checked_source
from .files import write_atomically, write_json
from .sample import DTYPES, load_pipeline, process_state


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", help="a saved LatentINRPipeline (folder or Hub repo id)")
    parser.add_argument("--reference", help="reference images (default: the data the prior was trained on)")
    parser.add_argument("--protocol", help="image protocol of --reference")
    parser.add_argument("--split", default="test", help="reference split (default: test)")
    parser.add_argument("--reference-size", type=at_least(1), help="use only the first N reference images")
    parser.add_argument("--num-samples", type=at_least(1), default=1000)
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale (1: off)")
    parser.add_argument("--steps", type=at_least(1), default=250, help="denoising steps")
    parser.add_argument("--batch-size", type=at_least(1), default=100)
    parser.add_argument("--inception-weights", type=Path, help="local pt_inception-2015-12-05-6726825d.safetensors")
    parser.add_argument("--seed", type=at_least(0), default=0)
    parser.add_argument(
        "--dtype", choices=("auto", *DTYPES), default="auto", help="the prior's weights and activations"
    )
    parser.add_argument("--device", help="default: the process's device (accelerate launch), else cuda or cpu")
    parser.add_argument("--fid-cache", type=Path, help="reference statistics cache (default: $GINR_CACHE/fid)")
    parser.add_argument("--output", type=Path, help="result JSON (default: <run>/eval/fid.json or ./fid.json)")
    args = parser.parse_args(argv)
    for name in ("num_samples", "batch_size", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.num_samples < 2:
        parser.error("--num-samples must be >= 2 (FID fits a covariance)")
    return args


def _run_dir(pipeline: str) -> Path | None:
    folder = Path(pipeline)
    return folder.parent if folder.is_dir() else None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    checked_source(args.pipeline, "pipeline")
    run = _run_dir(args.pipeline)
    reference = args.reference
    if reference is None:
        trained = run / "metrics.json" if run is not None else None
        reference = json.loads(trained.read_text()).get("data") if trained and trained.is_file() else None
        if reference is None:
            raise SystemExit(f"error: {args.pipeline} does not say what it was trained on; pass --reference")
    state = process_state(args.device)
    try:  # before anything slow: without the weights there is nothing to compute
        inception = load_fid_inception(args.inception_weights, device=args.device or state.device)
    except InceptionWeightsError as error:
        raise SystemExit(f"error: {error}") from None
    pipe, state = load_pipeline(args.pipeline, args.device, args.dtype)
    resolution = pipe.inr.image_size[0]
    dataset = image_dataset(
        reference,
        args.split,
        protocol=args.protocol,
        resolution=None if args.protocol else resolution,
        train=False,
        size=args.reference_size,
    )
    if len(dataset) < 2:
        raise SystemExit(f"error: {reference} ({args.split}) has {len(dataset)} image(s); FID needs at least 2")
    started = time.perf_counter()
    reference_stats = reference_statistics(inception, dataset, reference, args, resolution, state)

    num_classes = pipe.denoiser.config.num_classes
    starts = list(range(0, args.num_samples, args.batch_size))
    features = {}
    mine = range(state.process_index, len(starts), state.num_processes)
    for k in tqdm(mine, desc="generating", disable=not state.is_local_main_process):
        count = min(args.batch_size, args.num_samples - starts[k])
        labels = [(starts[k] + i) % num_classes for i in range(count)] if num_classes else None
        images = pipe(
            class_labels=labels,
            batch_size=count,
            guidance_scale=args.guidance,
            num_inference_steps=args.steps,
            generator=torch.Generator().manual_seed(args.seed * 10_007 + k),
            output_type="pt",
        ).images
        features[k] = inception_features(inception, images.float()).cpu()
    parts = gather_object([features]) if state.num_processes > 1 else [features]
    if not state.is_main_process:
        state.wait_for_everyone()
        return {}
    merged = {k: v for part in parts for k, v in part.items()}
    generated = torch.cat([merged[k] for k in sorted(merged)])
    value = frechet_distance(generated, reference_stats)
    result = {
        "fid": value,
        "num_samples": args.num_samples,
        "reference": str(reference),
        "split": args.split,
        "reference_images": len(dataset),
        "resolution": resolution,
        "guidance_scale": args.guidance,
        "num_inference_steps": args.steps,
        "seed": args.seed,
        "inception_weights": str(args.inception_weights) if args.inception_weights else "torch.hub cache",
        "dtype": str(pipe.denoiser.dtype).removeprefix("torch."),
        "processes": state.num_processes,
        "minutes": (time.perf_counter() - started) / 60,
        "command": command_line(),
    }
    output = args.output or (run / "eval" / "fid.json" if run is not None else Path("fid.json"))
    write_json(output, result)
    print(
        f"FID {value:.2f}: {args.num_samples} samples (guidance {args.guidance}, {args.steps} steps) vs "
        f"{len(dataset)} {reference} {args.split} images at {resolution} px; wrote {output}",
        flush=True,
    )
    state.wait_for_everyone()
    return result


def reference_statistics(inception, dataset, reference, args, resolution: int, state) -> tuple:
    """Mean and covariance of the reference images' Inception features, from the FID cache or computed (and
    cached) once; the key names the reference set and the weights, so other images never reuse them."""
    weights = args.inception_weights
    key = {
        "reference": str(reference),
        "split": args.split,
        "protocol": args.protocol,
        "images": len(dataset),
        "resolution": resolution,
        "weights": hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16] if weights else "torch.hub",
    }
    key["fingerprint"] = fingerprint_digest(source_fingerprint(reference, [dataset]))  # a file edited: new statistics
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = (args.fid_cache or cache_dir() / "fid") / f"{digest}.safetensors"
    if path.is_file():
        stored = load_file(str(path))
        if state.is_main_process:
            print(f"reference statistics from {path}", flush=True)
        return stored["mean"], stored["covariance"]
    batches = range(0, len(dataset), args.batch_size)
    mine = list(batches)[state.process_index :: state.num_processes]
    features = {}
    for start in tqdm(mine, desc="reference", disable=not state.is_local_main_process):
        images = torch.stack([dataset[i]["image"] for i in range(start, min(start + args.batch_size, len(dataset)))])
        features[start] = inception_features(inception, images).cpu()
    parts = gather_object([features]) if state.num_processes > 1 else [features]
    merged = {k: v for part in parts for k, v in part.items()}
    mean, covariance = gaussian_statistics(torch.cat([merged[k] for k in sorted(merged)]))
    if state.is_main_process:
        write_atomically(path, save({"mean": mean, "covariance": covariance}, metadata={"key": json.dumps(key)}))
    return mean, covariance


def run() -> None:
    """The console entry point (``apps/evaluate_prior.py``, ``ginr-evaluate-prior``)."""
    main()
