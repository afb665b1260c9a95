"""The latent-prior quality bar on the embedded digits.

    python benchmarks/prior_quality_bar.py --inr runs/digits-inr/model --pipeline runs/prior/pipeline

Given the digits INR (``apps/configs/digits_default.yaml``) and a prior trained on its latents
(``apps/train_prior.py``), prints:

* class accuracy of generated samples (``--per-class`` per digit) under a classifier trained on the
  real held-out test digits (multinomial logistic regression on pixels; its accuracy on real
  training digits is printed as a sanity check), at guidance 2.5 and 1.0;
* the Fréchet distance between generated latents and the held-out digits' latents, next to that of
  samples from a diagonal Gaussian fitted to the training latents (both in the 64-dimensional PCA
  space of the training latents, where the covariances are well estimated);
* nearest-neighbour distances of generated images to the training images, next to those of the
  held-out digits (a copy of a training image would sit at ~0).

The bar: >= 70 % accuracy at guidance 2.5, guidance 2.5 >= guidance 1.0, Fréchet distance below
the diagonal Gaussian's, and no generated sample closer to a training image than the closest
held-out digit is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]

from ginr_core import GeneralizableINR, frechet_distance  # noqa: E402
from ginr_data import image_dataset  # noqa: E402
from ginr_diffusion import LatentINRPipeline, LatentStatistics  # noqa: E402


def images_of(dataset) -> torch.Tensor:
    return torch.stack([dataset[i]["image"] for i in range(len(dataset))])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inr", type=Path, required=True)
    parser.add_argument("--pipeline", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        help="sample metrics JSON (default: <run>/eval/sample_metrics.json beside the pipeline folder, which "
        "apps/publish.py puts into the model card)",
    )
    args = parser.parse_args(argv)

    inr = GeneralizableINR.from_pretrained(args.inr).eval()
    pipe = LatentINRPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    r = inr.image_size[0]
    train, test = image_dataset("digits", "train", resolution=r), image_dataset("digits", "test", resolution=r)
    train_images, test_images = images_of(train), images_of(test)
    train_labels = np.array([train.label(i) for i in range(len(train))])
    test_labels = np.array([test.label(i) for i in range(len(test))])

    classifier = LogisticRegression(max_iter=2000, C=0.1).fit(test_images[:, 0].flatten(1).numpy(), test_labels)
    sanity = classifier.score(train_images[:, 0].flatten(1).numpy(), train_labels)

    labels = [c for c in range(10) for _ in range(args.per_class)]
    results = {}
    generated = {}
    for guidance in (2.5, 1.0):
        latents = pipe(
            class_labels=labels,
            guidance_scale=guidance,
            num_inference_steps=args.steps,
            generator=torch.Generator().manual_seed(args.seed),
            output_type="latent",
        ).images
        images = pipe.render(latents)
        generated[guidance] = (images, latents)
        accuracy = float((classifier.predict(images[:, 0].flatten(1).numpy()) == np.array(labels)).mean())
        results[f"accuracy at guidance {guidance}"] = accuracy

    with torch.no_grad():
        train_latents = torch.cat([inr.encode(b) for b in train_images.split(256)]).flatten(1).numpy()
        test_latents = torch.cat([inr.encode(b) for b in test_images.split(256)]).flatten(1).numpy()
    mean = train_latents.mean(0)
    _, _, vt = np.linalg.svd(train_latents - mean, full_matrices=False)
    basis = vt[:64].T

    def project(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x - mean) @ basis)

    stats = LatentStatistics().update(torch.from_numpy(train_latents)[:, None])
    rng = np.random.default_rng(args.seed)
    gaussian = (
        stats.mean.numpy()[0]
        + rng.standard_normal((len(labels), train_latents.shape[1])) * stats.variance.sqrt().numpy()[0]
    )
    images, latents = generated[2.5]
    results["frechet (prior, guidance 2.5)"] = frechet_distance(
        project(latents.flatten(1).numpy()), project(test_latents)
    )
    results["frechet (diagonal Gaussian)"] = frechet_distance(project(gaussian), project(test_latents))
    results["frechet (training latents)"] = frechet_distance(project(train_latents), project(test_latents))

    flat_train = train_images[:, 0].flatten(1)
    nearest_generated = torch.cdist(images[:, 0].flatten(1), flat_train).min(1).values / np.sqrt(r * r)
    nearest_test = torch.cdist(test_images[:, 0].flatten(1), flat_train).min(1).values / np.sqrt(r * r)
    results["nearest training image: generated min / median"] = (
        float(nearest_generated.min()),
        float(nearest_generated.median()),
    )
    results["nearest training image: held-out min / median"] = (float(nearest_test.min()), float(nearest_test.median()))

    print(
        f"\nclassifier trained on the {len(test)} held-out digits; "
        f"accuracy on the {len(train)} training digits {sanity:.1%}"
    )
    for name, value in results.items():
        shown = (
            f"{value:.1%}"
            if name.startswith("accuracy")
            else (f"{value[0]:.3f} / {value[1]:.3f} (RMS per pixel)" if isinstance(value, tuple) else f"{value:.1f}")
        )
        print(f"  {name:<50} {shown}")
    bar = {
        "accuracy >= 70 % at guidance 2.5": results["accuracy at guidance 2.5"] >= 0.7,
        "guidance 2.5 >= guidance 1.0": results["accuracy at guidance 2.5"] >= results["accuracy at guidance 1.0"],
        "Fréchet below the diagonal Gaussian": results["frechet (prior, guidance 2.5)"]
        < results["frechet (diagonal Gaussian)"],
        "no copies (closest generated >= closest held-out)": float(nearest_generated.min())
        >= float(nearest_test.min()),
    }
    for name, ok in bar.items():
        print(f"  {name:<50} {'yes' if ok else 'NO'}")
    print(f"  bar {'met' if all(bar.values()) else 'NOT met'}")
    output = args.output or args.pipeline.parent / "eval" / "sample_metrics.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "reference": "digits",
        "split": "test",
        "num_samples": len(labels),
        "num_inference_steps": args.steps,
        "class_accuracy": {str(g): results[f"accuracy at guidance {g}"] for g in (2.5, 1.0)},
        "classifier": f"logistic regression on the {len(test)} held-out digits ({sanity:.1%} on the training digits)",
        "latent_frechet": results["frechet (prior, guidance 2.5)"],
        "latent_frechet_diagonal_gaussian": results["frechet (diagonal Gaussian)"],
        "nearest_training_rms_min": results["nearest training image: generated min / median"][0],
        "nearest_training_rms_min_held_out": results["nearest training image: held-out min / median"][0],
        "bar_met": all(bar.values()),
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {output}")
    return {"results": results, "bar": bar, "classifier_sanity": sanity}


if __name__ == "__main__":
    main()
