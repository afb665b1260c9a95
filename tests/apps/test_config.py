import math
import time
from pathlib import Path

import pytest
import torch

from ginr_apps.config import ConfigError, load_config, model_kwargs
from ginr_core import IPC, LocalityAwareINR
from ginr_data import IMAGE_PROTOCOLS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "apps" / "configs").glob("*.yaml"))


def test_default_config_is_the_cpu_recipe():
    config = load_config(CONFIGS[0].parent / "default.yaml")
    cls, kwargs = model_kwargs(config.model)
    assert cls is LocalityAwareINR and kwargs["image_size"] == 32 and kwargs["patch_size"] == 4
    assert config.data.source == "photos" and config.train.mixed_precision == "no"


def test_overrides_are_typed_and_dotted(tmp_path):
    config = load_config(
        None,
        ["train.lr=3e-4", "data.jitter=true", "model.family=ipc", "model.sigma=32", "train.betas=[0.9, 0.95]"],
    )
    assert config.train.lr == pytest.approx(3e-4) and config.data.jitter is True
    assert config.train.betas == (0.9, 0.95)
    cls, kwargs = model_kwargs(config.model)
    assert cls is IPC and kwargs == {"sigma": 32}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["train.lrr=1"], "unknown setting train.lrr; train settings are: batch_size"),
        (["train.lrr=1"], r"train settings are: .*; did you mean lr\?$"),
        (["train.lr=fast"], r"train.lr = 'fast' is not a valid float"),
        (["data.sourc=x"], "unknown setting data.sourc"),
        (["model.sigmaz=3"], "unknown setting model.sigmaz for LocalityAwareINR"),
        (["model.sigma=3"], "unknown setting model.sigma for LocalityAwareINR"),
        (["model.family=siren"], "model.family: unknown model family 'siren'"),
        (["model.preset=ffhq-2048"], "unknown preset 'ffhq-2048'"),
        (["trian.lr=1"], "unknown top-level setting"),
        (["train.batch_size=big"], "train.batch_size = 'big' is not a valid"),
        (["train.max_steps=null"], "exactly one of train.max_steps and train.epochs"),
        (["train.mixed_precision=fp8"], "mixed_precision must be"),
        (["data.subsample=2"], "data.subsample must be in"),
        (["train.lr"], "not of the form"),
    ],
)
def test_bad_settings_name_the_setting(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_experiment_config_is_valid(path):
    config = load_config(path)
    cls, kwargs = model_kwargs(config.model)
    with torch.device("meta"):
        model = cls(**kwargs)
    if getattr(config.data, "protocol", None) is not None:  # an image protocol (nvs configs have none)
        protocol = IMAGE_PROTOCOLS[config.data.protocol]
        assert model.image_size == (protocol.resolution, protocol.resolution)
        official_lr = {"ffhq256_learned_init": 3e-4}.get(path.stem, 1e-4)  # ginr-ipc's FFHQ 256 Learned Init file
        assert config.train.batch_size == 16 and config.train.lr == pytest.approx(official_lr)
        text = path.read_text()
        assert "# Paper:" in text and f"--config apps/configs/{path.name}" in text


def test_paper_configs_cover_the_tables():
    names = {p.stem for p in CONFIGS}
    for dataset in ("celeba178", "ffhq178", "imagenette178", "ffhq256", "ffhq512", "ffhq1024", "imagenet256"):
        assert {f"{dataset}_{family}" for family in ("locinr", "ipc", "transinr")} <= names
    assert {"imagenette178_locinr_wo_sta", "ffhq256_locinr_wo_multifm", "imagenette178_locinr_sigmas_32_128"} <= names
    assert {f"ffhq{r}_locinr_L{level}" for r in (256, 512, 1024) for level in (1, 3, 4)} <= names
    ffhq1024 = load_config(CONFIGS[0].parent / "ffhq1024_locinr_L4.yaml")
    assert ffhq1024.model["sigmas"] == [256.0, 180.0, 128.0, 64.0] and ffhq1024.data.subsample == 0.1


def test_imagenette_learned_init_draws_no_coordinate_noise():
    # the official meta-learning trainer fits the pixel centres (no coord_noise); the encoders' runs jitter
    config = load_config(CONFIGS[0].parent / "imagenette178_learned_init.yaml")
    assert config.data.jitter is False and config.data.subsample is None
    assert load_config(CONFIGS[0].parent / "imagenette178_locinr.yaml").data.jitter == "coordwise"


def test_ffhq256_learned_init_is_the_official_file():
    from ginr_apps.experiments import resolve

    settings = resolve(CONFIGS[0].parent / "ffhq256_learned_init.yaml")
    model, data, train = settings["model"], settings["data"], settings["train"]
    # ginr-ipc configs/meta_learning/learned_init/ffhq256_learned_init.yaml, setting for setting
    official_model = dict(
        image_size=256, hidden_dim=256, num_layers=5, fourier_dim=256, sigma=64.0, inner_steps=2, inner_lr=1e-3
    )
    assert model["class"] == "LearnedInit" and {k: model[k] for k in official_model} == official_model
    official_train = dict(
        batch_size=16, lr=3e-4, lr_schedule="constant", epochs=200.0, warmup_steps=60_000 // 16 // 2, grad_clip=None
    )
    assert {k: train[k] for k in official_train} == official_train  # warm-up: half an epoch of FFHQ's 60,000
    assert data["subsample"] is None and data["jitter"] is False and data["protocol"] == "ffhq-256"


def test_nvs_configs_cover_figure_4a_with_the_papers_settings():
    # the paper's model, its NeRF-style baselines (official configs: lamps 400 epochs) and the light-field extras
    epochs = {"cars": 1000, "chairs": 1000, "lamps": 500}
    repeats = {"cars": 2, "chairs": 1, "lamps": 3}  # the official protocol: items per object and epoch
    runs = {"locinr": "locinr", "ipc_nerf": "ipc_nerf", "transinr_nerf": "transinr_nerf"}
    runs |= {"ipc_lightfield": "ipc", "transinr_lightfield": "transinr"}
    for category in epochs:
        for run, family in runs.items():
            for views in range(1, 6):
                path = CONFIGS[0].parent / f"shapenet_{category}_{run}_{views}view.yaml"
                config = load_config(path)
                cls, kwargs = model_kwargs(config.model)
                assert cls.family == family and config.data.task == "nvs" and config.data.category == category
                assert config.data.views == (views, views) and kwargs["num_views"] == views
                assert kwargs["d_in"] == 6 and kwargs["in_channels"] == 9 and kwargs["patch_size"] == 8
                assert config.data.train_repeats == repeats[category] and config.data.query_rays == 128
                assert config.data.adaptive_epochs == 2 and config.train.lr == 1e-4  # the official epoch <= 1, from 0
                nerf = family.endswith("_nerf")
                assert config.train.batch_size == 32
                assert config.train.epochs == (400 if nerf and category == "lamps" else epochs[category])
                if family == "locinr":
                    assert kwargs["sigmas"] == (8.0, 4.0) and kwargs["sigma_q"] == 2.0
                if nerf:
                    model = cls(**{**kwargs, "encoder_depth": 0})
                    assert (model.near, model.far, model.points_per_ray) == (2.0, 6.0, 128)
                    assert "Fig. 4a" in path.read_text().splitlines()[0]
                assert f"--config apps/configs/{path.name}" in path.read_text()
    anyviews = load_config(CONFIGS[0].parent / "shapenet_cars_locinr_1to5views.yaml")
    assert anyviews.data.views == (1, 5) and anyviews.model["num_views"] == 5
    default = load_config(CONFIGS[0].parent / "nvs_default.yaml")
    assert default.data.task == "nvs" and default.data.source == "scenes" and default.model["preset"] == "scenes-32"


def test_learning_rate_schedules():
    from ginr_apps.train import learning_rate_factor

    constant = learning_rate_factor(load_config(None, ["train.warmup_steps=4"]), total_steps=20)
    assert [constant(s) for s in (0, 1, 3, 4, 19)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    cosine = learning_rate_factor(load_config(None, ["train.warmup_steps=4", "train.lr_schedule=cosine"]), 20)
    assert cosine(1) == 0.5 and cosine(4) == 1.0 and cosine(12) == pytest.approx(0.5) and cosine(20) == 0.0
    assert all(cosine(s) > cosine(s + 1) for s in range(4, 20))
    with pytest.raises(ConfigError, match="train.lr_schedule must be constant or cosine"):
        load_config(None, ["train.lr_schedule=linear"])
    # warm-up, stable, then a linear decay to 0 over the last decay_steps steps
    tail = learning_rate_factor(load_config(None, ["train.warmup_steps=2", "train.decay_steps=4"]), total_steps=10)
    assert [tail(s) for s in range(10)] == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    both = learning_rate_factor(load_config(None, ["train.lr_schedule=cosine", "train.decay_steps=5"]), 10)
    half_cosine = lambda progress: 0.5 * (1 + math.cos(math.pi * progress))  # noqa: E731
    assert both(9) == pytest.approx(0.2 * half_cosine(0.9)) and both(2) == pytest.approx(half_cosine(0.2))
    with pytest.raises(ConfigError, match="train.decay_steps must be >= 0"):
        load_config(None, ["train.decay_steps=-1"])


def test_yaml_whose_aliases_explode_is_refused_before_it_is_walked(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]  # 10^8 values
    (tmp_path / "bomb.yaml").write_text("\n".join(levels) + "\n")
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        load_config(tmp_path / "bomb.yaml")
    (tmp_path / "anchors.yaml").write_text("train: &t {lr: 3.0e-4}\n")  # a few anchors are fine
    assert load_config(tmp_path / "anchors.yaml").train.lr == pytest.approx(3e-4)


def test_alias_bomb_is_refused_in_under_a_second_with_a_short_message(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    (tmp_path / "bomb.yaml").write_text("\n".join(levels) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "bomb.yaml")
    assert time.perf_counter() - started < 1 and len(str(caught.value)) < 300
    assert "bomb.yaml" in str(caught.value)


def test_a_model_too_large_to_train_in_memory_is_refused_naming_the_setting(tmp_path):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["model.hidden_dim=1000000000"])
    message = str(caught.value)
    assert "a LocalityAwareINR with model.hidden_dim=1000000000" in message and message.endswith(
        "lower model.hidden_dim"
    )
    assert "of memory, more than the" in message and time.perf_counter() - started < 5
    load_config(None, ["model.hidden_dim=64"])  # an ordinary size passes


def test_psnr_loss_is_minus_the_items_mean_psnr_and_weighs_items_by_their_relative_error():
    from ginr_apps.tasks import PSNR_LOSS_EPS, get_task_class
    from ginr_core.metrics import psnr

    targets = torch.rand(4, 64, 3, generator=torch.Generator().manual_seed(0))
    noise = (
        torch.randn(4, 64, 3, generator=torch.Generator().manual_seed(1))
        * torch.tensor([0.3, 0.1, 0.03, 0.01])[:, None, None]
    )
    prediction = (targets + noise).requires_grad_()
    task = get_task_class("images")(load_config(None, ["train.loss=psnr"]))
    loss = task.loss(prediction, targets)
    mse = (prediction - targets).square().flatten(1).mean(1)
    # minus the mean PSNR where the errors are far above eps, a little less where they are not
    worst = slice(0, 1)
    exact = -psnr(prediction[worst], targets[worst]).mean().item()
    assert task.loss(prediction[worst], targets[worst]).item() == pytest.approx(exact, abs=0.2)
    assert loss.item() == pytest.approx((10 * torch.log10(mse + PSNR_LOSS_EPS)).mean().item(), rel=1e-6)
    loss.backward()
    # each item's gradient is its MSE gradient scaled by 10 / (ln 10 * B * (MSE_i + eps)): the best item pulls hardest
    scale = prediction.grad.flatten(1).norm(dim=1) / (2 * (prediction - targets).detach().flatten(1).norm(dim=1) / 192)
    expected = 10 / (math.log(10) * 4 * (mse.detach() + PSNR_LOSS_EPS))
    assert (
        torch.allclose(scale, expected, rtol=1e-4)
        and scale.argmax() == 3
        and scale[3] > scale[2] > 3 * scale[1] > 20 * scale[0]
    )
    plain = get_task_class("images")(load_config(None, []))
    assert plain.loss(prediction, targets).item() == pytest.approx(mse.mean().item(), rel=1e-6)
    absolute = get_task_class("images")(load_config(None, ["train.loss=l1"]))
    assert absolute.loss(prediction, targets).item() == pytest.approx(
        (prediction - targets).abs().mean().item(), rel=1e-6
    )
    with pytest.raises(ConfigError, match="train.loss must be mse, psnr or l1, got 'huber'"):
        load_config(None, ["train.loss=huber"])


def test_nvs_background_weight_scales_the_loss_of_the_rays_that_miss_the_object():
    from ginr_apps.tasks import get_task_class

    targets = torch.ones(2, 8, 3)
    targets[:, :3] = torch.tensor([0.2, 0.5, 0.8])  # 3 rays on the object, 5 on the white background
    prediction = torch.full((2, 8, 3), 0.7)
    error = (prediction - targets).square()

    def task(*overrides):
        return get_task_class("nvs")(load_config(None, ["data.task=nvs", *overrides]))

    assert task().loss(prediction, targets).item() == pytest.approx(error.mean().item(), rel=1e-6)
    weighted = task("data.background_weight=4").loss(prediction, targets).item()
    expected = (error[:, :3].sum() + 4 * error[:, 3:].sum()) / error.numel()
    assert weighted == pytest.approx(expected.item(), rel=1e-6)
    absolute = task("data.background_weight=4", "train.loss=l1").loss(prediction, targets).item()
    assert absolute == pytest.approx(((0.5 + 0.2 + 0.1) * 3 * 2 + 4 * 0.3 * 30) / 48, rel=1e-6)
    with pytest.raises(ConfigError, match="data.background_weight must be > 0, got 0.0"):
        task("data.background_weight=0")
