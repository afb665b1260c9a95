"""Image reconstruction (Sec. 4.1): encode an image, decode it on (a subsample of) its pixel grid."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ginr_core.images import DEFAULT_PREPROCESSING
from ginr_data import augment_images, image_dataset, sample_pixels

from ..cli import at_least
from ..evaluation import check_scores, evaluation_chunk_size, psnr_per_image, reconstruct, source_index
from ..figures import image_grid, save_png
from ..files import write_json
from ..schema import setting
from . import CONFIGS, PSNR_CLAMPED, SSIM, CardParts, DataSettings, MeanSquaredLoss, Task, register_task

__all__ = ["ImageSettings", "ImageTask"]


PHOTOS_ONLY_SPLITS = ("smooth",)  # held-out splits only the embedded photos have


@dataclass
class ImageSettings(DataSettings):
    """Data settings of image reconstruction."""

    source: str | None = setting(None, '"photos" (embedded, offline), a folder, a save_to_disk dir or a Hub dataset id')
    protocol: str | None = setting(None, "a ginr_data.IMAGE_PROTOCOLS name (resolution, transforms, splits)")
    subsample: float | None = setting(None, "fraction of pixels decoded per image per step (paper: 0.1 above 178 px)")
    jitter: bool | str = setting(
        False,
        'move coordinates uniformly within their pixel: "coordwise" (each image and coordinate its own draw, as '
        "ginr-ipc's ImageNette configs), true (one draw for the whole batch: the grid stays shared, faster), false",
    )
    channel_permutation: bool = setting(False, "augmentation: random RGB order per training image")
    dihedral: bool = setting(False, "augmentation: one of the 8 rotations and reflections per training image")
    colour_jitter: float = setting(
        0.0, "augmentation: strength of random exposure, white balance, gamma and saturation (0: none; e.g. 0.3)"
    )
    max_zoom_out: float | None = setting(
        8.0,
        "embedded photos only: largest training crop side as a multiple of data.resolution (null: up to the "
        "whole photograph, downscaled)",
    )
    smooth_fraction: float = setting(
        0.0, "embedded photos only (ignored for other sources): share of training crops from smooth regions"
    )
    test_fraction: float = setting(
        0.1, "a flat folder (no split sub-folders): share of its images held out as the test split (seeded, by file)"
    )
    image_column: str | None = setting(None, "the image column of a `datasets` source (default: its only Image column)")
    label_column: str | None = setting(None, "the ClassLabel column of a `datasets` source (default: its only one)")
    hub_config: str | None = setting(None, "a Hub dataset's config name (frgfm/imagenette: full-size, 320px, 160px)")
    revision: str | None = setting(None, "a Hub dataset's revision: a branch, tag or commit")
    data_files: str | tuple[str, ...] | None = setting(None, "`datasets` data_files: globs of the files to read")
    data_dir: str | None = setting(None, "`datasets` data_dir: the sub-folder of the dataset to read")
    streaming: bool = setting(
        False, "stream a `datasets` source instead of downloading it first (train.max_steps, no epochs)"
    )
    shuffle_buffer: int = setting(1000, "streaming: items in the seeded shuffle buffer")


@register_task
class ImageTask(MeanSquaredLoss, Task):
    """Encode an image, decode it on (a subsample of) its pixel grid; scored by PSNR at its resolution."""

    name = "images"
    settings = ImageSettings
    default_source = "photos"
    default_config = CONFIGS / "default.yaml"
    extra_metrics = (PSNR_CLAMPED, SSIM)
    figure_name = "reconstructions.png"
    card_tag = "image-reconstruction"
    pipeline_tag = "image-to-image"

    @classmethod
    def accepts(cls, model) -> bool:
        return model.d_in == 2 and model.tokenizer_class.name == "patches"

    @classmethod
    def settle(cls, data: ImageSettings) -> None:
        """Settings of the embedded photos (their smooth crops and their "smooth" split) apply only there, so that
        the default recipe runs on ``data.source=<folder>`` with no other change."""
        if data.source != "photos":
            data.smooth_fraction = 0.0
            data.extra_test_splits = tuple(s for s in data.extra_test_splits if s not in PHOTOS_ONLY_SPLITS)

    @classmethod
    def check_settings(cls, data: ImageSettings) -> None:
        if data.subsample is not None and not 0 < data.subsample <= 1:
            raise ValueError(f"data.subsample must be in (0, 1], got {data.subsample}")
        if not 0 <= data.smooth_fraction <= 1:
            raise ValueError(f"data.smooth_fraction must be in [0, 1], got {data.smooth_fraction}")
        if not 0 <= data.colour_jitter <= 2:
            raise ValueError(f"data.colour_jitter must be in [0, 2], got {data.colour_jitter}")
        if data.max_zoom_out is not None and not data.max_zoom_out >= 1:
            raise ValueError(f"data.max_zoom_out must be >= 1 or null (the whole photograph), got {data.max_zoom_out}")
        if data.streaming and data.source in ("photos", "digits"):
            raise ValueError(f"data.streaming reads a `datasets` source; data.source={data.source} is embedded")
        if data.shuffle_buffer < 1:
            raise ValueError(f"data.shuffle_buffer must be >= 1, got {data.shuffle_buffer}")
        if not 0 < data.test_fraction < 1:
            raise ValueError(f"data.test_fraction must be in (0, 1), got {data.test_fraction}")
        if isinstance(data.jitter, str) and data.jitter != "coordwise":
            raise ValueError(f"data.jitter must be true, false or 'coordwise', got {data.jitter!r}")

    def datasets(self):
        data = self.data
        common = self._read_settings()
        smooth = {"smooth_fraction": data.smooth_fraction}
        if data.source == "photos":
            smooth["max_zoom_out"] = data.max_zoom_out
        if data.streaming:  # each process streams its own share of the training split
            from accelerate import PartialState

            state = PartialState()
            smooth.update(rank=state.process_index, world=state.num_processes, buffer_size=data.shuffle_buffer)
        train_set = image_dataset(data.source, data.train_split, train=True, seed=self.config.seed, **smooth, **common)
        # the test set never depends on the run's seed: every run is scored on the same images
        test_set = image_dataset(data.source, data.test_split, train=False, size=data.test_size, **common)
        return train_set, test_set

    def extra_test_set(self, split: str):
        data = self.data
        return image_dataset(data.source, split, train=False, **self._read_settings())

    def _read_settings(self) -> dict:
        """What ``image_dataset`` takes from the data settings, besides the source and the split."""
        data = self.data
        files = list(data.data_files) if isinstance(data.data_files, tuple) else data.data_files
        hub = {"name": data.hub_config, "revision": data.revision, "data_files": files, "data_dir": data.data_dir}
        return {
            "protocol": data.protocol,
            "resolution": data.resolution,
            "image_column": data.image_column,
            "label_column": data.label_column,
            "on_error": data.on_error,
            "test_fraction": data.test_fraction,
            "hub": hub,
            "streaming": data.streaming,
        }

    def preprocessing(self) -> dict:
        """What ``ginr_core.preprocess`` does to a user's image: as the evaluation transform of the data."""
        return dict(DEFAULT_PREPROCESSING)  # ginr_data's evaluation transform is this recipe

    def data_report(self, train_set, test_set) -> dict:
        held = getattr(test_set, "held_out", None)
        if not held:
            return {}
        note = (
            f"{held['held_out']} of the {held['of']} images of the flat folder {self.data.source} are held out as "
            f"the test split (data.test_fraction={held['test_fraction']:g}, the same files for every seed); the model "
            f"trains on the other {held['of'] - held['held_out']}"
        )
        return {"held_out": {k: v for k, v in held.items() if k != "part"}, "note": note}

    def resolution(self, train_set) -> int:
        return getattr(train_set, "resolution", None) or train_set[0]["image"].shape[-1]

    def check_model(self, model, train_set) -> str | None:
        resolution = self.resolution(train_set)
        if model.image_size != (resolution, resolution):
            return (
                f"the data is {resolution} x {resolution} but the model expects {model.image_size}: "
                f"set data.resolution or model.image_size"
            )
        if not self.accepts(model):
            return (
                "image reconstruction needs pixel coordinates (d_in=2) and image patches (tokenizer=patches); the "
                f"model has d_in={model.d_in}, tokenizer={model.tokenizer_class.name}"
            )
        return None

    def training_batch(self, items: dict, device, generators, batch_generator):
        images = items["image"].to(device, non_blocking=True)
        data = self.data
        if data.dihedral or data.channel_permutation or data.colour_jitter:
            images = augment_images(
                images,
                generators,
                dihedral=data.dihedral,
                channel_permutation=data.channel_permutation,
                colour=data.colour_jitter,
            )
        # jitter: true draws once for the whole global batch (a full grid stays shared and the decoder fast);
        # "coordwise" draws per image and coordinate, as the official code
        jitter = self.data.jitter
        shared = batch_generator if jitter is True else None
        coords, targets = sample_pixels(images, self.data.subsample, generators, bool(jitter), shared)
        return images, coords, targets

    def score(self, model, dataset, indices: Sequence[int], device, extra=None) -> dict[int, dict[int, float]]:
        """``{resolution: {index: PSNR}}`` at the data's own resolution (and the clamped PSNR and SSIM in ``extra``)."""
        train = self.config.train
        clamped, ssim = ({}, {}) if extra is not None else (None, None)
        scores = psnr_per_image(
            model,
            dataset,
            indices,
            batch_size=train.eval_batch_size,
            chunk_size=evaluation_chunk_size(train.decode_chunk_size, device),
            device=device,
            clamped=clamped,
            ssim_store=ssim,
        )
        r = model.image_size[0]
        if extra is not None:
            extra.update(psnr_clamped={r: clamped}, ssim={r: ssim})
        return {r: scores}

    def headline(self, scores: dict[int, dict[int, float]]) -> int:
        return min(scores)  # the only one: the data's own resolution

    @classmethod
    def setting_label(cls, setting: int) -> str:
        return f"{setting} px"

    def figure(self, model, test_set, shown: Sequence[int], device) -> Image.Image:
        resolution = test_set[0]["image"].shape[-1]
        images = torch.stack([test_set[i]["image"] for i in shown]).to(device)
        recon, double = reconstruct(model, images), reconstruct(model, images, 2 * resolution)
        rows = [[images[k], recon[k], double[k]] for k in range(len(shown))]
        titles = ["ground truth", "reconstruction", f"x2 decode ({2 * resolution} px)"]
        return image_grid(rows, cell=max(128, 2 * resolution), titles=titles)

    @classmethod
    def card(cls, model, metrics: dict, repo: str) -> CardParts:
        from huggingface_hub import EvalResult

        from ..cards import dataset_label

        label, split = dataset_label(metrics["data"]["source"]), metrics["data"]["test_split"]
        r = model.image_size[0]
        psnr = metrics["test"]["psnr"]
        intro = (
            f"A generalizable implicit neural representation ([ginr](https://arxiv.org/abs/2310.05624) family\n"
            f"`{model.family}`): its encoder turns a {r} x {r} image into {model.num_latents} latent tokens,\n"
            "and its decoder renders them at any resolution."
        )

        def row(name: str, scored: dict) -> str:
            clamped = scored.get("psnr_clamped")
            clamped = f"{clamped:.2f}" if isinstance(clamped, (int, float)) else "-"
            ssim = f"{scored['ssim']:.3f}" if isinstance(scored.get("ssim"), (int, float)) else "-"
            return f"| {label} | {name} | {scored['images']} | {r} | {scored['psnr']:.2f} | {clamped} | {ssim} |\n"

        extra = metrics["test"].get("extra", {})
        results = (
            "| data | split | images | resolution | PSNR (dB) | PSNR, outputs clamped to [0, 1] | SSIM |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n"
            + row(split, metrics["test"])
            + "".join(row(name, scored) for name, scored in extra.items())
            + "\n"
            "PSNR is the mean over images of each image's PSNR on the raw outputs (the paper's protocol, as the "
            "official code computes it); the figure with the outputs clamped to [0, 1] is given beside it, and their "
            "SSIM (11 px Gaussian window)."
        )
        if metrics["data"].get("note"):
            results += f" {metrics['data']['note'][0].upper()}{metrics['data']['note'][1:]}."
        usage = (
            "from PIL import Image\n"
            f"from ginr_core import {type(model).__name__}, preprocess, reconstruct\n\n"
            f'model = {type(model).__name__}.from_pretrained("{repo}")\n'
            'photo = Image.open("photo.jpg")           # any size: resized and centre-cropped as in training\n'
            f"same = reconstruct(model, photo)          # a PIL image, {r} x {r}\n"
            f"x3 = reconstruct(model, photo, scale=3)   # the same function decoded at {3 * r} x {3 * r}\n"
            f"latents = model.encode(preprocess(photo, model))   # (1, {model.num_latents}, {model.latent_dim})"
        )
        common = {"dataset_type": label, "dataset_name": label, "dataset_split": split, "metric_type": "psnr"}
        result = EvalResult(
            task_type=cls.pipeline_tag,
            task_name="Image reconstruction",
            metric_name=f"PSNR (dB) at {r} px",
            metric_value=round(psnr, 2),
            **common,
        )
        return CardParts(intro, results, usage, [result])

    # ---------------------------------------------------------------- apps/evaluate.py
    @classmethod
    def add_evaluate_arguments(cls, parser) -> None:
        group = parser.add_argument_group("images")
        group.add_argument("--protocol", help="image protocol (ginr_data.IMAGE_PROTOCOLS), e.g. ffhq-256")
        group.add_argument("--resolutions", type=at_least(1), nargs="+", help="decoding resolutions (default: native)")
        group.add_argument("--image-column", help="image column of a datasets source")
        group.add_argument(
            "--test-fraction", type=float, default=0.1, help="a flat folder: the share held out (as data.test_fraction)"
        )

    @classmethod
    def evaluate(cls, model, args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
        source = args.data or cls.default_source
        native = model.image_size[0]
        if model.image_size[0] != model.image_size[1]:
            parser.error(f"the model expects {model.image_size} inputs; only square images are supported here")
        dataset = image_dataset(
            source,
            args.split,
            protocol=args.protocol,
            resolution=native if args.protocol is None else None,
            train=False,
            size=args.size,
            image_column=args.image_column,
            test_fraction=args.test_fraction,
        )
        resolutions = args.resolutions or [native]
        out: Path = args.output_dir
        out.mkdir(parents=True, exist_ok=True)
        indices = list(range(len(dataset)))
        results = {"model": args.model, "class": type(model).__name__, "data": source, "split": args.split}
        results.update(images=len(indices), native_resolution=native, resolutions={})
        for resolution in resolutions:
            start = time.perf_counter()
            clamped: dict[int, float] = {}
            ssim: dict[int, float] = {}
            scores = psnr_per_image(
                model,
                dataset,
                indices,
                resolution,
                args.batch_size,
                args.chunk_size,
                device=args.device,
                clamped=clamped,
                ssim_store=ssim,
                progress=f"scoring at {resolution} px",
            )
            mean, mean_clamped = float(np.mean(list(scores.values()))), float(np.mean(list(clamped.values())))
            mean_ssim = float(np.mean(list(ssim.values())))
            results["resolutions"][str(resolution)] = {
                "psnr": mean,
                "psnr_clamped": mean_clamped,
                "ssim": mean_ssim,
                "seconds": time.perf_counter() - start,
                "per_image": scores,
            }
            print(
                f"{resolution} x {resolution}: PSNR {mean:.2f} dB over {len(scores)} images (raw outputs; clamped to "
                f"[0, 1]: {mean_clamped:.2f} dB; SSIM {mean_ssim:.3f})",
                flush=True,
            )

        check_scores(results, args.model)
        items = [dataset[i] for i in indices[:6]]
        images = torch.stack([item["image"] for item in items]).to(args.device)
        rows = []
        for k, item in enumerate(items):
            row = []
            for resolution in resolutions:
                target = images[k] if resolution == native else dataset.render(source_index(dataset, item), resolution)
                row += [target, reconstruct(model, images[k : k + 1], resolution, args.chunk_size)[0]]
            rows.append(row)
        titles = [t for r in resolutions for t in (f"truth {r}px", f"decoded {r}px")]
        save_png(image_grid(rows, cell=max(128, max(resolutions)), titles=titles), out / "eval.png")
        write_json(out / "eval.json", results)
        print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}", flush=True)
        return results
