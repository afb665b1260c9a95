"""Few-shot novel view synthesis (Sec. 4.2): from 1..V posed support views, predict the colour of any ray."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ginr_core import LIGHT_FIELD_CHANNELS, RAY_DIM, ray_format_of, silhouette
from ginr_data import light_field_dataset

from ..cli import at_least
from ..evaluation import (
    check_scores,
    evaluation_chunk_size,
    nearest_support_view,
    novel_views,
    nvs_psnr,
    support_mean_colour,
)
from ..figures import image_grid, save_png
from ..files import write_json
from ..schema import setting
from . import CONFIGS, PSNR_CLAMPED, SSIM, CardParts, DataSettings, MeanSquaredLoss, Task, register_task

__all__ = ["NovelViewSettings", "NovelViewTask"]


@dataclass
class NovelViewSettings(DataSettings):
    """Data settings of novel view synthesis."""

    task: str = setting("nvs", "")
    source: str | None = setting(None, '"scenes" (embedded rendered objects, offline) or a learnit-layout folder')
    category: str | None = setting(None, "cars, chairs, lamps (learnit ShapeNet); the embedded scenes: shapes")
    views: tuple[int, int] | None = setting(None, "(min, max) support views per training step; evaluated at each")
    query_rays: int | None = setting(
        None, "rays of the novel view per training item and step (None: all; official: 128)"
    )
    train_repeats: int = setting(1, "training items per object and epoch, each with its own views (official: 2)")
    adaptive_epochs: int = setting(
        0, "first epochs drawing half the query rays from the foreground (official: 2, epochs 0 and 1)"
    )
    test_repeats: int = setting(100, "test items per test object, each with its own seeded views (paper: 100)")
    background_weight: float = setting(
        1.0,
        "weight of the loss on the novel view's background rays (white in the true view, ginr_core.silhouette) "
        "against 1 on the object's: above 1, a ray the model is unsure about leans to the background, so the "
        "predicted silhouette is not padded with a grey halo (official: 1)",
    )


def _views_label(count: int) -> str:
    return f"{count} support view{'' if count == 1 else 's'}"


@register_task
class NovelViewTask(MeanSquaredLoss, Task):
    """From 1..V posed support views, predict the colour of the rays of an unseen view (Sec. 4.2)."""

    name = "nvs"
    settings = NovelViewSettings
    default_source = "scenes"
    default_config = CONFIGS / "nvs_default.yaml"
    extra_metrics = (PSNR_CLAMPED, SSIM)
    figure_name = "novel_views.png"
    card_tag = "novel-view-synthesis"
    pipeline_tag = "image-to-3d"

    @classmethod
    def accepts(cls, model) -> bool:
        patches = model.tokenizer_class.name == "patches"
        return patches and model.d_in == RAY_DIM and model.in_channels == LIGHT_FIELD_CHANNELS

    @classmethod
    def check_settings(cls, data: NovelViewSettings) -> None:
        if data.views is not None and not 1 <= data.views[0] <= data.views[1]:
            raise ValueError(
                f"data.views must be [min, max] support views with 1 <= min <= max, got {list(data.views)}"
            )
        if data.query_rays is not None and data.query_rays < 1:
            raise ValueError(f"data.query_rays must be >= 1, got {data.query_rays}")
        if data.test_repeats < 1 or data.train_repeats < 1:
            raise ValueError(
                f"data.test_repeats and data.train_repeats must be >= 1, got {data.test_repeats}, {data.train_repeats}"
            )
        if data.adaptive_epochs < 0:
            raise ValueError(f"data.adaptive_epochs must be >= 0, got {data.adaptive_epochs}")
        if not data.background_weight > 0:
            raise ValueError(f"data.background_weight must be > 0, got {data.background_weight}")

    @property
    def views(self) -> tuple[int, int]:
        return tuple(self.data.views) if self.data.views else (1, 1)

    def datasets(self):
        from ..config import model_kwargs  # config reads the tasks' schemas: import it when running

        data, high = self.data, self.views[1]
        common = {"category": data.category, "resolution": data.resolution, "num_support": high}
        # rays as the model takes them: Plücker (light fields) or origin and direction (NeRF-style)
        common["ray_format"] = ray_format_of(model_kwargs(self.config.model)[0])
        common["on_error"] = data.on_error
        train_set = light_field_dataset(
            data.source,
            data.train_split,
            train=True,
            query_rays=data.query_rays,
            repeats=data.train_repeats,
            adaptive_epochs=data.adaptive_epochs,
            seed=self.config.seed,
            **common,
        )
        test_set = light_field_dataset(data.source, data.test_split, train=False, repeats=data.test_repeats, **common)
        if data.test_size is not None:
            test_set = torch.utils.data.Subset(test_set, range(min(data.test_size, len(test_set))))
        return train_set, test_set

    def resolution(self, train_set) -> int:
        return train_set.resolution

    def check_model(self, model, train_set) -> str | None:
        r, high = train_set.resolution, self.views[1]
        problems = []
        if model.image_size != (r, r):
            problems.append(f"the views are {r} x {r} but the model expects {model.image_size} (model.image_size)")
        if not self.accepts(model):
            problems.append(
                f"novel view synthesis needs in_channels={LIGHT_FIELD_CHANNELS} (RGB + rays) and "
                f"d_in={RAY_DIM} (rays), the model has in_channels={model.in_channels}, d_in={model.d_in} "
                "(use a light-field preset such as shapenet-nvs)"
            )
        if model.num_views < high:
            problems.append(f"data.views asks for up to {high} support views, the model has {model.num_views} slots")
        return "; ".join(problems) or None

    def training_batch(self, items: dict, device, generators, batch_generator):
        low, high = self.views
        # one number of support views per global step, the same on every process
        v = int(torch.randint(low, high + 1, (1,), generator=batch_generator))
        support = items["support"][:, :v].to(device, non_blocking=True)
        return support, items["query_rays"].to(device), items["query_rgb"].to(device)

    def loss(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``train.loss`` on the query rays ``(B, N, 3)``, the background's weighted by ``data.background_weight``."""
        weight = self.data.background_weight
        if weight == 1.0:
            return super().loss(prediction, targets)
        return super().loss(prediction, targets, torch.where(silhouette(targets), 1.0, weight).unsqueeze(-1))

    def score(self, model, dataset, indices: Sequence[int], device, extra=None) -> dict[int, dict[int, float]]:
        """``{v: {index: PSNR}}`` for every number of support views v of the run (the clamped PSNR and SSIM
        in ``extra``)."""
        train = self.config.train
        low, high = self.views
        clamped, ssim = ({}, {}) if extra is not None else (None, None)
        scores = nvs_psnr(
            model,
            dataset,
            indices,
            range(low, high + 1),
            train.eval_batch_size,
            evaluation_chunk_size(train.decode_chunk_size, device),
            device,
            clamped=clamped,
            ssim_store=ssim,
        )
        if extra is not None:
            extra.update(psnr_clamped=clamped, ssim=ssim)
        return scores

    def headline(self, scores: dict[int, dict[int, float]]) -> int:
        return max(scores)

    @classmethod
    def setting_label(cls, setting: int) -> str:
        return f"{setting} views"

    def shown(self, indices: list[int]) -> list[int]:
        """One item of each of the first 8 test objects (items of an object are consecutive)."""
        return indices[:: self.data.test_repeats][:8]

    def figure(self, model, test_set, shown: Sequence[int], device) -> Image.Image:
        return self.picture(model, test_set, shown, self.views[1], device)

    @staticmethod
    def picture(model, test_set, shown: Sequence[int], high: int, device) -> Image.Image:
        """Rows of: the support views | the novel view | its prediction from the first 1, 2, ... high views."""
        rows = []
        for i in shown:
            item = test_set[i]
            r = item["support"].shape[-1]
            support = item["support"][None].to(device)
            truth = item["query_rgb"].T.reshape(3, r, r)
            predictions = [
                novel_views(model, support[:, :v], item["query_rays"][None].to(device))[0].T.reshape(3, r, r)
                for v in range(1, high + 1)
            ]
            rows.append([*item["support"][:, :3], truth, *predictions])
        titles = [f"support {k + 1}" for k in range(high)] + ["novel view"] + [f"from {v}" for v in range(1, high + 1)]
        return image_grid(rows, cell=max(96, 2 * rows[0][0].shape[-1]), titles=titles)

    @classmethod
    def card(cls, model, metrics: dict, repo: str) -> CardParts:
        from huggingface_hub import EvalResult

        from ..cards import dataset_label

        label, split = dataset_label(metrics["data"]["source"]), metrics["data"]["test_split"]
        r, name, fmt = model.image_size[0], type(model).__name__, ray_format_of(model)
        volume = fmt == "origin_direction"
        intro = (
            f"A generalizable implicit neural representation ([ginr](https://arxiv.org/abs/2310.05624) family\n"
            f"`{model.family}`) of {'radiance fields' if volume else 'light fields'}: its encoder turns 1 to "
            f"{model.num_views} posed {r} x {r} views of\nan object (RGB plus the "
            f"{'origin and direction' if volume else 'Plücker coordinates'} of each pixel's ray) into "
            f"{model.num_latents} latent tokens,\n"
            + (
                f"and its decoder predicts colour and density at {model.points_per_ray} points of any ray, "
                "alpha-composited onto white\n(NeRF-style volume rendering, the paper's Fig. 4a baselines)."
                if volume
                else "and its decoder predicts the colour of any ray, i.e. renders unseen views, with no volume "
                "rendering."
            )
        )
        scored = metrics["test"]["results"]

        def beside(setting: int, key: str, digits: int) -> str:
            value = metrics["test"].get(f"by_setting_{key}", {}).get(cls.setting_label(setting))
            return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"

        rows = "\n".join(
            f"| {e['setting']} | {e['psnr']:.2f} | {beside(e['setting'], 'psnr_clamped', 2)} | "
            f"{beside(e['setting'], 'ssim', 3)} |"
            for e in scored
        )
        results = (
            f"Novel-view PSNR on held-out objects ({label}, split {split}, {metrics['test']['images']} test items: "
            "each test object\nwith seeded random support and query views), by number of support views:\n\n"
            "| support views | PSNR (dB) | PSNR, outputs clamped to [0, 1] | SSIM |\n| --- | --- | --- | --- |\n"
            f"{rows}\n\n"
            "PSNR is the mean over items of each predicted view's PSNR on the raw outputs (the paper's protocol); "
            "the figure with the outputs clamped to [0, 1] is given beside it, and their SSIM."
        )
        usage = (
            "import json\n"
            "import torch\n"
            "from PIL import Image\n"
            f"from ginr_core import {name}, focal_from_fov, novel_view, orbit_around\n\n"
            f'model = {name}.from_pretrained("{repo}")\n'
            'meta = json.load(open("object/transforms.json"))   # your posed photos (NeRF / Blender layout)\n'
            'frames = meta["frames"][:2]                        # two support views\n'
            "views = [Image.open(f\"object/{f['file_path']}.png\") for f in frames]\n"
            'poses = torch.tensor([f["transform_matrix"] for f in frames])       # camera-to-world\n'
            'focal = focal_from_fov(meta["camera_angle_x"], views[0].size[0])   # pixels, at the views\' size\n'
            "camera = orbit_around(poses, 8)[3]                   # any new camera\n"
            f"image = novel_view(model, views, poses, focal, camera, size={2 * r})   # a PIL image of that view\n"
            f'# novel_view builds rays as the model reads them: ray_format_of(model) == "{fmt}" (ginr_core.rays)'
        )
        common = {"dataset_type": label, "dataset_name": label, "dataset_split": split, "metric_type": "psnr"}
        eval_results = [
            EvalResult(
                task_type=cls.pipeline_tag,
                task_name="Novel view synthesis",
                metric_name=f"PSNR (dB), {_views_label(entry['setting'])}",
                metric_value=round(entry["psnr"], 2),
                **common,
            )
            for entry in scored
        ]
        return CardParts(intro, results, usage, eval_results, title=" for novel view synthesis")

    # ---------------------------------------------------------------- apps/evaluate.py
    @classmethod
    def add_evaluate_arguments(cls, parser) -> None:
        group = parser.add_argument_group("light fields (novel view synthesis)")
        group.add_argument("--category", help="cars, chairs, lamps (learnit); the scenes: shapes")
        group.add_argument("--views", type=at_least(1), nargs="+", help="numbers of support views (default 1..V)")
        group.add_argument("--repeats", type=at_least(1), default=100, help="seeded draws per test object")

    @classmethod
    def evaluate(cls, model, args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
        views = args.views or list(range(1, model.num_views + 1))
        if min(views) < 1 or max(views) > model.num_views:
            parser.error(f"--views must lie in 1..{model.num_views} (the model's view slots), got {views}")
        source = args.data or cls.default_source
        dataset = light_field_dataset(
            source,
            args.split,
            category=args.category,
            resolution=model.image_size[0],
            num_support=max(views),
            train=False,
            repeats=args.repeats,
            ray_format=ray_format_of(model),
        )
        indices = list(range(len(dataset) if args.size is None else min(args.size, len(dataset))))
        out = args.output_dir
        out.mkdir(parents=True, exist_ok=True)
        results = {"model": args.model, "class": type(model).__name__, "data": source, "split": args.split}
        results.update(items=len(indices), objects=len(dataset.objects), repeats=dataset.repeats, views={})
        start = time.perf_counter()
        predictors = {
            "model": None,
            "support mean colour": support_mean_colour,
            "nearest support view": nearest_support_view,
        }
        clamped: dict[int, dict[int, float]] = {}
        for name, predict in predictors.items():
            ious: dict[int, dict[int, float]] = {}
            scores = nvs_psnr(
                model if predict is None else None,
                dataset,
                indices,
                views,
                args.batch_size,
                args.chunk_size,
                args.device,
                predict=predict,
                clamped=clamped if predict is None else None,
                iou_store=ious,
                progress=f"scoring: {name}",
            )
            for v, per_item in scores.items():
                entry = results["views"].setdefault(str(v), {})
                entry[name] = float(np.mean(list(per_item.values())))
                entry[f"{name} silhouette IoU"] = float(np.mean(list(ious[v].values())))
                if predict is None:
                    entry["model_clamped"] = float(np.mean(list(clamped[v].values())))
                    entry["per_item"] = per_item
        results["seconds"] = time.perf_counter() - start
        print(
            f"{'views':>5} {'model':>8} {'(clamped)':>10} {'mean colour':>12} {'nearest view':>13} {'IoU':>6} "
            f"{'(nearest)':>10}  (PSNR dB on raw outputs; silhouette IoU; {len(indices)} items)"
        )
        for v, entry in results["views"].items():
            print(
                f"{v:>5} {entry['model']:>8.2f} {entry['model_clamped']:>10.2f} {entry['support mean colour']:>12.2f} "
                f"{entry['nearest support view']:>13.2f} {entry['model silhouette IoU']:>6.3f} "
                f"{entry['nearest support view silhouette IoU']:>10.3f}",
                flush=True,
            )
        check_scores(results, args.model)
        save_png(cls.picture(model, dataset, indices[:6], max(views), args.device), out / "eval.png")
        write_json(out / "eval.json", results)
        print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}", flush=True)
        return results
