"""Model cards: what a run measured, how to reproduce it and how to use the model, with Hub metadata.

The task of a run (``ginr_apps.tasks``) writes the sections that depend on its kind of data (the
introduction, the results table and its ``model-index`` entries, the usage snippet); this module
puts a card together and fills in what every card has (the command, the configuration, the
metadata that huggingface_hub's ``ModelCardData`` validates).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import yaml

__all__ = [
    "PLACEHOLDER_REPO",
    "command_line",
    "dataset_label",
    "hub_card",
    "inr_model_card",
    "prior_model_card",
    "unmeasured_model_card",
    "write_model_card",
]


def command_line() -> str:
    """The command that started this process, as a user would type it again."""
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    script = sys.argv[0] if sys.argv and sys.argv[0] else "apps/train.py"
    launched = "accelerate launch" if os.environ.get("ACCELERATE_MIXED_PRECISION") is not None else "python"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if launched == "accelerate launch" and world > 1:
        launched += f" --num_processes {world}"
    return f"{launched} {script} {args}".strip()


_REPRODUCE = """## Reproduce

```bash
{command}
```
"""
_TRAINING_CONFIGURATION = """## Training configuration

```yaml
{config_yaml}```
"""

INR_CARD = (
    """
# {class_name} trained with ginr{title}

{intro}

## Results

{results}

Trained for {steps} steps ({minutes:.1f} minutes on {hardware}).

"""
    + _REPRODUCE
    + """
## Use

```python
{usage}
```

"""
    + _TRAINING_CONFIGURATION
)


def inr_model_card(model, metrics: dict, repo_id: str | None = None):
    """The card of an INR trained by ``apps/train.py``: results table, command, usage, configuration.

    Its metadata is Hub metadata (``library_name``, ``tags``, ``license``, ``datasets`` when the data is
    a Hub dataset) with the task's measured test score as ``model-index`` results. The task of the run
    (``metrics["data"]["task"]``) writes the task-specific sections.
    """
    from .tasks import get_task_class

    task = get_task_class(metrics["data"]["task"])
    source = metrics["data"]["source"]
    repo = repo_id or PLACEHOLDER_REPO
    parts = task.card(model, metrics, repo)
    config_yaml = (
        yaml.safe_dump(json.loads(json.dumps(metrics["config"])), sort_keys=False) if "config" in metrics else ""
    )
    text = INR_CARD.format(
        class_name=type(model).__name__,
        title=parts.title,
        intro=parts.intro,
        results=parts.results,
        usage=parts.usage,
        steps=metrics["steps"],
        minutes=metrics["train_minutes"],
        hardware=metrics["hardware"],
        command=metrics["command"],
        config_yaml=config_yaml,
    )
    return hub_card(
        text,
        tags=["ginr", "implicit-neural-representation", model.family, task.card_tag],
        metrics=[task.metric.key],
        datasets=[source] if _is_hub_id(source) else [],
        results=parts.eval_results,
        model_name=(repo_id or type(model).__name__).split("/")[-1],
        pipeline_tag=task.pipeline_tag,
    )


PRIOR_CARD = (
    """
# Latent diffusion prior trained with ginr

A `LatentINRPipeline` ([ginr](https://arxiv.org/abs/2310.05624), Sec. 4.4 of the paper): a diffusion
prior (`LatentDenoiser`, {parameters:,} parameters, {conditioning}) over the {num_latents} latent tokens
of a frozen `{inr_class}` trained on {inr_data}. It samples latents with DDIM and classifier-free
guidance, and the INR decodes them into images at any resolution.

## Results

{results}

{training}

"""
    + _REPRODUCE
    + """
## Use

```python
import torch
from ginr_diffusion import LatentINRPipeline

pipe = LatentINRPipeline.from_pretrained("{repo_or_path}")
images = pipe({call}, guidance_scale=2.5, num_inference_steps=50,
              resolution={resolution2}, generator=torch.Generator().manual_seed(0)).images   # PIL images
images[0].save("sample.png")
```
"""
)

PLACEHOLDER_REPO = "<user>/<model> or a local folder"


def dataset_label(source: str) -> str:
    """What a card may say about training data: a Hub dataset id or an embedded name as is, a local path by its name."""
    if source.startswith(("/", ".", "~")) or Path(source).exists() or "\\" in source:
        return Path(source).name or "local images"
    return source


def _is_hub_id(source: str) -> bool:
    return "/" in source and dataset_label(source) == source


# the Hub task id of a prior (the Hub has no class-conditional task: a class id is no input the widget takes)
GENERATION_TASK = "unconditional-image-generation"


def hub_card(
    text: str,
    *,
    tags: list[str],
    metrics: list[str],
    datasets: list[str],
    results,
    model_name: str,
    pipeline_tag: str,
    base_model: str | None = None,
):
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="ginr",
        license="apache-2.0",
        pipeline_tag=pipeline_tag,
        base_model=base_model,
        tags=tags,
        metrics=metrics or None,
        datasets=datasets or None,
        model_name=model_name if results else None,
        eval_results=results or None,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{text}")


UNMEASURED_CARD = """
# {class_name} trained with ginr

A `{class_name}` ({family}, {parameters:,} parameters) published from its model folder alone: no run's
measurements came with it, so this card states no results. Publishing the run folder of `apps/train.py`
instead gives the card its measured test score.

## Use

```python
from ginr_core import GeneralizableINR

model = GeneralizableINR.from_pretrained("{repo}")
```
"""


def unmeasured_model_card(model, repo_id: str | None = None):
    """The card of an INR without the run that trained it: Hub metadata and usage, no results (nothing measured)."""
    from .tasks import task_for_model

    task = task_for_model(model)
    text = UNMEASURED_CARD.format(
        class_name=type(model).__name__,
        family=model.family,
        parameters=model.num_parameters(),
        repo=repo_id or PLACEHOLDER_REPO,
    )
    return hub_card(
        text,
        tags=["ginr", "implicit-neural-representation", model.family, task.card_tag],
        metrics=[],
        datasets=[],
        results=None,
        model_name=(repo_id or type(model).__name__).split("/")[-1],
        pipeline_tag=task.pipeline_tag,
    )


def write_model_card(model_dir: str | Path, *, model, metrics: dict) -> None:
    """Replace the default card of ``save_pretrained`` with one that states what was measured and how."""
    inr_model_card(model, metrics).save(Path(model_dir) / "README.md")


def prior_model_card(
    pipeline, metrics: dict, fid: dict | None = None, repo_id: str | None = None, samples: dict | None = None
):
    """The card of a ``LatentINRPipeline`` trained by ``apps/train_prior.py``. FID from
    ``apps/evaluate_prior.py`` (``fid``) and the class accuracy of samples from
    ``benchmarks/prior_quality_bar.py`` (``samples``) go into the table and the ``model-index``."""
    from huggingface_hub import EvalResult

    denoiser, inr = pipeline.denoiser, pipeline.inr
    classes = denoiser.config.num_classes
    results, table = [], "Not evaluated yet: `python apps/evaluate_prior.py PIPELINE` measures FID."
    if samples is not None:
        label = dataset_label(samples["reference"])
        results += [
            EvalResult(
                task_type=GENERATION_TASK,
                task_name="Class-conditional image generation",
                dataset_type=label,
                dataset_name=label,
                dataset_split=samples["split"],
                metric_type="accuracy",
                metric_name=f"class accuracy of samples, guidance {guidance}",
                metric_value=round(value, 4),
            )
            for guidance, value in samples["class_accuracy"].items()
        ]
        rows = "\n".join(
            f"| class accuracy of samples, guidance {g} | {v:.1%} |" for g, v in samples["class_accuracy"].items()
        )
        table = (
            f"| measure ({samples['num_samples']} samples, {samples['num_inference_steps']} DDIM steps) | value |\n"
            f"| --- | --- |\n{rows}\n"
            f"| Fréchet distance of sample latents to held-out latents (diagonal Gaussian: "
            f"{samples['latent_frechet_diagonal_gaussian']:.1f}) | {samples['latent_frechet']:.1f} |\n"
            f"| nearest training image, RMS per pixel, closest sample (closest held-out image: "
            f"{samples['nearest_training_rms_min_held_out']:.3f}) | {samples['nearest_training_rms_min']:.3f} |\n\n"
            f"Classes judged by a {samples['classifier']}."
        )
    if fid is not None:
        label = dataset_label(fid["reference"])
        results += [
            EvalResult(
                task_type=GENERATION_TASK,
                task_name="Class-conditional image generation" if classes else "Image generation",
                dataset_type=label,
                dataset_name=label,
                dataset_split=fid["split"],
                metric_type="fid",
                metric_name=f"FID ({fid['num_samples']} samples, guidance {fid['guidance_scale']})",
                metric_value=round(fid["fid"], 2),
            )
        ]
        table = ("" if samples is None else table + "\n\n") + (
            "| FID | samples | reference | guidance | DDIM steps |\n| --- | --- | --- | --- | --- |\n"
            f"| {fid['fid']:.2f} | {fid['num_samples']} | {label} ({fid['split']}, {fid['reference_images']} images) "
            f"| {fid['guidance_scale']} | {fid['num_inference_steps']} |\n\n"
            "FID on Inception-v3 pool features (the pytorch-fid weights); with fewer than 10k samples it is biased "
            "upwards, so compare runs at equal sample counts."
        )
    call = "class_labels=[0, 1]" if classes else "batch_size=2"
    text = PRIOR_CARD.format(
        parameters=sum(p.numel() for p in denoiser.parameters()),
        conditioning=f"{classes} classes" if classes else "unconditional",
        num_latents=denoiser.config.num_latents,
        inr_class=type(inr).__name__,
        inr_data=dataset_label(str(metrics.get("data", "its images"))),
        results=table,
        training=f"Trained for {metrics['steps']} steps ({metrics['train_minutes']:.1f} minutes)." if metrics else "",
        command=metrics.get("command", ""),
        repo_or_path=repo_id or PLACEHOLDER_REPO,
        call=call,
        resolution2=2 * inr.image_size[0],
    )
    return hub_card(
        text,
        tags=["ginr", "implicit-neural-representation", "diffusion", "latent-diffusion", "image-generation"]
        + (["class-conditional"] if classes else []),
        metrics=(["fid"] if fid is not None else []) + (["accuracy"] if samples is not None else []),
        datasets=[fid["reference"]] if fid is not None and _is_hub_id(fid["reference"]) else [],
        results=results,
        model_name=(repo_id or "LatentINRPipeline").split("/")[-1],
        pipeline_tag=GENERATION_TASK,
        base_model=base_model(str(metrics.get("inr", ""))),
    )


def base_model(inr: str) -> str | None:
    """The INR a prior decodes with, as the Hub's ``base_model``: its repo id (a local folder has none)."""
    return inr if _is_hub_id(inr) and not Path(inr).exists() else None
