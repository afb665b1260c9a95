"""Novel view synthesis through the apps: train.py (data.task=nvs), evaluate.py and render.py."""

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ginr_apps.checkpoints import latest_checkpoint
from ginr_apps.config import ConfigError, load_config
from ginr_core import GeneralizableINR

TRAIN, EVALUATE, RENDER = "apps/train.py", "apps/evaluate.py", "apps/render.py"

TINY_NVS = """
model:
  family: {family}
  preset: scenes-32
  image_size: 16
  patch_size: 4
  num_views: 3
  encoder_width: 32
  encoder_depth: 1
  encoder_heads: 2
  hidden_dim: 32
  fourier_dim: 24
data:
  task: nvs
  source: {source}
  category: shapes
  views: [1, 3]
  query_rays: 64
  test_repeats: 3
train:
  batch_size: 3
  max_steps: 6
  lr: 3.0e-3
  eval_every: 3
  eval_batch_size: 4
  checkpoint_every: 2
  log_every: 2
seed: 1
output_dir: {output_dir}
"""


@pytest.fixture
def nvs_config(tmp_path, tiny_scenes):
    def make(output_dir, family="locinr"):
        path = tmp_path / f"nvs-{family}.yaml"
        path.write_text(TINY_NVS.format(family=family, source=tiny_scenes, output_dir=output_dir))
        return path

    return make


def test_a_tiny_nvs_run_scores_each_number_of_views_and_draws_novel_views(
    tmp_path, nvs_config, app, tiny_scenes, monkeypatch
):
    out = tmp_path / "run"
    result = app(TRAIN, "--config", nvs_config(out))
    assert "1 views:" in result.stdout and "3 views:" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["task"] == "nvs" and metrics["test"]["setting"] == "3 views"
    assert list(metrics["test"]["by_setting"]) == ["1 views", "2 views", "3 views"]
    assert metrics["test"]["images"] == 2 * 3  # 2 test objects x 3 seeded draws
    assert metrics["test"]["psnr"] == pytest.approx(metrics["test"]["by_setting"]["3 views"])
    assert [h["step"] for h in metrics["history"]] == [3, 6] and "by_setting" in metrics["history"][0]
    model = GeneralizableINR.from_pretrained(out / "model")
    assert model.d_in == 6 and model.in_channels == 9 and model.num_views == 3
    card = (out / "model" / "README.md").read_text()
    assert "novel view synthesis" in card and f"| 2 | {metrics['test']['by_setting']['2 views']:.2f} |" in card
    picture = Image.open(out / "novel_views.png")
    assert picture.size[0] > 7 * 96  # 3 support views | the novel view | predictions from 1, 2, 3 views
    # the card's snippet runs on an object's posed photos as a user has them
    from ginr_apps.cards import PLACEHOLDER_REPO

    (snippet,) = re.findall(r"## Use\n\n```python\n(.*?)```", card, flags=re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "object").symlink_to(sorted(p for p in (Path(tiny_scenes) / "shapes").iterdir() if p.is_dir())[0])
    namespace: dict = {}
    exec(compile(snippet.replace(PLACEHOLDER_REPO, str(out / "model")), "README.md", "exec"), namespace)
    assert namespace["image"].size == (2 * model.image_size[0],) * 2

    # published, its card holds one model-index result per number of support views
    from huggingface_hub import ModelCard

    from ginr_apps import publish

    publish.main([str(out), "--repo-id", "ginr-tester/locinr-scenes", "--dry-run", str(tmp_path / "staged")])
    assert (tmp_path / "staged" / "novel_views.png").is_file()
    data = ModelCard.load(tmp_path / "staged" / "README.md").data
    assert "novel-view-synthesis" in data.tags
    assert [(r.task_type, r.metric_name) for r in data.eval_results] == [
        ("image-to-3d", f"PSNR (dB), {v}") for v in ("1 support view", "2 support views", "3 support views")
    ]
    assert [r.metric_value for r in data.eval_results] == [
        round(metrics["test"]["by_setting"][f"{v} views"], 2) for v in (1, 2, 3)
    ]


def test_an_nvs_run_resumes_exactly(tmp_path, nvs_config, app):
    straight, split = tmp_path / "straight", tmp_path / "split"
    app(TRAIN, "--config", nvs_config(straight), "train.max_steps=6", "--model", "ipc")
    app(TRAIN, "--config", nvs_config(split), "train.max_steps=3", "--model", "ipc")
    app(TRAIN, "--config", nvs_config(split), "train.max_steps=6", "--model", "ipc", "--resume")
    a = load_file(latest_checkpoint(straight / "checkpoints") / "model.safetensors")
    b = load_file(latest_checkpoint(split / "checkpoints") / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_and_render_a_light_field_model(tmp_path, nvs_config, app, tiny_scenes):
    out = tmp_path / "run"
    app(TRAIN, "--config", nvs_config(out), "--model", "transinr", "train.max_steps=2")
    result = app(EVALUATE, out / "model", "--data", tiny_scenes, "--category", "shapes", "--repeats", "2")
    assert "mean colour" in result.stdout and "nearest view" in result.stdout
    scores = json.loads((out / "eval" / "eval.json").read_text())
    assert scores["items"] == 4 and list(scores["views"]) == ["1", "2", "3"]
    for entry in scores["views"].values():
        predictors = {"model", "support mean colour", "nearest support view"}
        ious = {f"{name} silhouette IoU" for name in predictors}
        assert set(entry) == predictors | ious | {"model_clamped", "per_item"}
        assert entry["model_clamped"] >= entry["model"] - 1e-9  # the raw outputs are the headline, clamped beside
        assert all(0.0 <= entry[key] <= 1.0 for key in ious)
    metrics = json.loads((out / "metrics.json").read_text())  # same protocol as training's, other repeats
    assert 5 < scores["views"]["3"]["model"] < 60 and metrics["test"]["psnr"] > 5

    app(RENDER, out / "model", "--data", tiny_scenes, "--category", "shapes", "--views", "2", "--frames", "6")
    gif = Image.open(out / "render" / "orbit.gif")
    assert gif.n_frames == 6 and gif.size == (64, 64)  # 4x the model's 16 px by default
    strip = Image.open(out / "render" / "orbit.png")
    assert strip.size[0] > 8 * 64  # 2 support views + 6 frames
    first_object = sorted((tiny_scenes / "shapes").iterdir())[0]
    app(
        RENDER,
        out / "model",
        "--transforms",
        first_object / "transforms.json",
        "--support",
        "0",
        "3",
        "--frames",
        "4",
        "--size",
        "24",
        "--output-dir",
        tmp_path / "mine",
    )
    assert Image.open(tmp_path / "mine" / "orbit.gif").size == (24, 24)
    bad = app(RENDER, out / "model", "--transforms", tmp_path / "none.json", check=False)
    assert bad.returncode != 0 and "none.json not found" in bad.stderr


def test_nvs_settings_are_checked_before_anything_runs(tmp_path, nvs_config, app):
    with pytest.raises(ConfigError, match="data.jitter applies to data.task=images only"):
        load_config(nvs_config(tmp_path / "x"), ["data.jitter=true"])
    with pytest.raises(ConfigError, match="data.views must be"):
        load_config(nvs_config(tmp_path / "x"), ["data.views=[3, 1]"])
    with pytest.raises(ConfigError, match="data.views applies to data.task=nvs only"):
        load_config(None, ["data.views=[1, 2]"])
    assert load_config(None, ["data.task=nvs"]).data.source == "scenes"
    result = app(TRAIN, "--config", nvs_config(tmp_path / "y"), "model.num_views=2", check=False)
    assert result.returncode != 0 and "up to 3 support views, the model has 2 slots" in result.stderr
    image_model = ["model.preset=photos-32", "model.fourier_dim=32"]
    result = app(TRAIN, "--config", nvs_config(tmp_path / "z"), *image_model, check=False)
    assert result.returncode != 0 and "needs in_channels=9" in result.stderr


def test_the_nerf_style_baselines_train_evaluate_and_render_through_the_apps(tmp_path, nvs_config, app, tiny_scenes):
    from ginr_apps.tasks.nvs import NovelViewTask
    from ginr_core import posed_rays

    # the data is built for the model: views and rays as (origin, direction), not Plücker coordinates
    config = load_config(nvs_config(tmp_path / "x", family="ipc_nerf"))
    train_set, _ = NovelViewTask(config).datasets()
    item = train_set[0]
    rays = posed_rays(item["support_poses"], item["focal"], 16, 16, "origin_direction")
    torch.testing.assert_close(item["support"][:, 3:], rays.permute(0, 3, 1, 2))

    for family in ("ipc_nerf", "transinr_nerf"):
        out = tmp_path / family
        app(TRAIN, "--config", nvs_config(out, family=family), "train.max_steps=2", "model.points_per_ray=16")
        model = GeneralizableINR.from_pretrained(out / "model")
        assert model.family == family and model.points_per_ray == 16 and model.ray_format == "origin_direction"
        card = (out / "model" / "README.md").read_text()
        assert "volume rendering" in card and '"origin_direction"' in card
    result = app(EVALUATE, out / "model", "--data", tiny_scenes, "--category", "shapes", "--repeats", "1")
    scores = json.loads((out / "eval" / "eval.json").read_text())
    assert list(scores["views"]) == ["1", "2", "3"] and 3 < scores["views"]["3"]["model"] < 60
    assert "nearest view" in result.stdout
    app(RENDER, out / "model", "--data", tiny_scenes, "--category", "shapes", "--views", "2", "--frames", "3")
    assert Image.open(out / "render" / "orbit.gif").n_frames == 3


def test_locality_maps_of_a_light_field_run(tmp_path, nvs_config, app, tiny_scenes):
    out = tmp_path / "run"
    app(TRAIN, "--config", nvs_config(out), "train.max_steps=2")
    app("apps/analyze.py", "locality", out, "--items", "2", "--tokens", "2", "--data", tiny_scenes)
    scores = json.loads((out / "analysis" / "locality.json").read_text())
    assert scores["family"] == "locinr" and len(scores["instances"]) == 2
    assert all(len(inst["area"]) == scores["latent_tokens"] for inst in scores["instances"])
    assert Image.open(out / "analysis" / "locality.png").width > 4 * 96  # support view, novel view, 2 maps
