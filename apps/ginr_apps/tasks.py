"""The two jobs apps/train.py knows: image reconstruction and novel view synthesis (light fields).

A task builds the datasets of a run, checks that the model fits them, turns a loader batch into
``(inputs, coords, targets)`` for one training step, scores a model on test items, and draws the
picture a run leaves behind. The training loop itself (Accelerate, checkpoints, resume, budgets)
is the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from ginr_data import image_dataset, light_field_dataset, sample_pixels

from .config import RunConfig
from .evaluation import novel_views, nvs_psnr, psnr_per_image, reconstruct
from .reporting import image_grid

__all__ = ["ImageTask", "NovelViewTask", "get_task"]


class ImageTask:
    """Encode an image, decode it on (a subsample of) its pixel grid (Sec. 4.1)."""

    name = "images"
    figure_name = "reconstructions.png"

    def __init__(self, config: RunConfig):
        self.config, self.data = config, config.data

    def datasets(self):
        data = self.data
        common = {"protocol": data.protocol, "resolution": data.resolution, "image_column": data.image_column}
        common["on_error"] = data.on_error
        train_set = image_dataset(data.source, data.train_split, train=True, seed=self.config.seed, **common)
        # the test set never depends on the run's seed: every run is scored on the same images
        test_set = image_dataset(data.source, data.test_split, train=False, size=data.test_size, **common)
        return train_set, test_set

    def check_model(self, model, train_set) -> str | None:
        resolution = train_set[0]["image"].shape[-1]
        if model.image_size != (resolution, resolution):
            return (
                f"the data is {resolution} x {resolution} but the model expects {model.image_size}: "
                f"set data.resolution or model.image_size"
            )
        return None

    def resolution(self, train_set) -> int:
        return train_set[0]["image"].shape[-1]

    def training_batch(self, items: dict, device, generators, batch_generator):
        images = items["image"].to(device, non_blocking=True)
        if self.data.channel_permutation:
            order_rgb = torch.stack([torch.randperm(3, generator=g) for g in generators]).to(images.device)
            images = torch.gather(images, 1, order_rgb[:, :, None, None].expand_as(images))
        # one jitter for the whole global batch keeps a full grid shared (and the decoder fast)
        coords, targets = sample_pixels(images, self.data.subsample, generators, self.data.jitter, batch_generator)
        return images, coords, targets

    def score(self, model, dataset, indices: Sequence[int], device) -> dict[str, dict[int, float]]:
        """``{"native": {index: PSNR}}``."""
        train = self.config.train
        scores = psnr_per_image(
            model,
            dataset,
            indices,
            batch_size=train.eval_batch_size,
            chunk_size=train.decode_chunk_size or 65536,
            device=device,
        )
        return {"native": scores}

    def headline(self, scores: dict[str, dict[int, float]]) -> str:
        return "native"

    def shown(self, indices: list[int]) -> list[int]:
        """The test items in the run's picture."""
        return indices[:8]

    def figure(self, model, test_set, shown: Sequence[int], device) -> Image.Image:
        resolution = test_set[0]["image"].shape[-1]
        images = torch.stack([test_set[i]["image"] for i in shown]).to(device)
        recon, double = reconstruct(model, images), reconstruct(model, images, 2 * resolution)
        rows = [[images[k], recon[k], double[k]] for k in range(len(shown))]
        titles = ["ground truth", "reconstruction", f"x2 decode ({2 * resolution} px)"]
        return image_grid(rows, cell=max(128, 2 * resolution), titles=titles)


class NovelViewTask:
    """From 1..V posed support views, predict the colour of the rays of an unseen view (Sec. 4.2)."""

    name = "nvs"
    figure_name = "novel_views.png"

    def __init__(self, config: RunConfig):
        self.config, self.data = config, config.data  # data.views is checked by load_config

    @property
    def views(self) -> tuple[int, int]:
        return tuple(self.data.views) if self.data.views else (1, 1)

    def datasets(self):
        data, high = self.data, self.views[1]
        common = {"category": data.category, "resolution": data.resolution, "num_support": high}
        common["on_error"] = data.on_error
        train_set = light_field_dataset(
            data.source, data.train_split, train=True, query_rays=data.query_rays, seed=self.config.seed, **common
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
        if model.in_channels != 9 or model.d_in != 6:
            problems.append(
                f"novel view synthesis needs in_channels=9 (RGB + Plücker rays) and d_in=6 (rays), the model has "
                f"in_channels={model.in_channels}, d_in={model.d_in} (use a light-field preset such as shapenet-nvs)"
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

    def score(self, model, dataset, indices: Sequence[int], device) -> dict[str, dict[int, float]]:
        """``{"<v> views": {index: PSNR}}`` for every number of support views v of the run."""
        train = self.config.train
        low, high = self.views
        return {
            f"{v} views": scores
            for v, scores in nvs_psnr(
                model,
                dataset,
                indices,
                range(low, high + 1),
                train.eval_batch_size,
                train.decode_chunk_size or 65536,
                device,
            ).items()
        }

    def headline(self, scores: dict[str, dict[int, float]]) -> str:
        return f"{self.views[1]} views"

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


def get_task(config: RunConfig):
    tasks = {"images": ImageTask, "nvs": NovelViewTask}
    return tasks[config.data.task](config)
