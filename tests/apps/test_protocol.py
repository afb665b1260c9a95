"""The paper's evaluation protocol: PSNR on the raw model outputs (as the official code computes it),
with the clamped figure reported beside it, never instead of it."""

import json

import torch

from ginr_apps.evaluation import psnr_per_image
from ginr_core import LocalityAwareINR, image_coords, psnr, render_image
from ginr_data import image_dataset


class _Overshooting(torch.nn.Module):
    """Wraps a model so that its outputs leave [0, 1]: raw and clamped PSNR must then differ."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    d_in = 2

    def encode(self, images):
        return self.model.encode(images)

    def decode(self, latents, coords, chunk_size=None):
        return self.model.decode(latents, coords, chunk_size=chunk_size) * 3.0 - 1.0


def test_psnr_is_computed_on_the_raw_outputs_and_the_clamped_figure_beside_it():
    torch.manual_seed(0)
    inr = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                           hidden_dim=32, fourier_dim=32, num_latents=8)  # fmt: skip
    model = _Overshooting(inr).eval()
    data = image_dataset("photos", "test", resolution=16, size=4)
    clamped: dict[int, float] = {}
    raw = psnr_per_image(model, data, range(4), clamped=clamped)
    images = torch.stack([data[i]["image"] for i in range(4)])
    with torch.no_grad():
        output = render_image(model, model.encode(images), 16)
    assert output.min() < 0 or output.max() > 1
    expected_raw, expected_clamped = psnr(output, images), psnr(output.clamp(0, 1), images)
    assert torch.allclose(torch.tensor([raw[i] for i in range(4)], dtype=torch.float32), expected_raw, atol=1e-4)
    assert torch.allclose(
        torch.tensor([clamped[i] for i in range(4)], dtype=torch.float32), expected_clamped, atol=1e-4
    )
    assert all(raw[i] < clamped[i] for i in range(4))


def test_a_run_reports_raw_psnr_as_its_headline_and_clamped_beside(image_run):
    metrics = json.loads((image_run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["outputs"].startswith("raw") and test["psnr_clamped"] >= test["psnr"] - 1e-9
    assert test["by_setting_psnr_clamped"] == {"16 px": test["psnr_clamped"]}
    assert 0 < test["ssim"] <= 1 and test["by_setting_ssim"] == {"16 px": test["ssim"]}
    card = (image_run / "model" / "README.md").read_text()
    assert f"{test['psnr']:.2f} | {test['psnr_clamped']:.2f}" in card and "raw outputs" in card


def test_learned_init_trains_evaluates_publishes_and_loads_like_any_family(tmp_path, tiny_config, app):
    from ginr_apps import publish
    from ginr_core import GeneralizableINR, LearnedInit

    out = tmp_path / "run"
    app("apps/train.py", "--config", tiny_config(out), "--model", "learned_init", "train.max_steps=4",
        "model.inner_lr=0.05")  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["class"] == "LearnedInit" and metrics["test"]["psnr"] > 5
    result = app("apps/evaluate.py", out / "model", "--size", "3", "--resolutions", "16", "32")
    assert "32 x 32: PSNR" in result.stdout
    publish.main([str(out), "--repo-id", "ginr-tester/learned-init", "--dry-run", str(tmp_path / "staged")])
    model = GeneralizableINR.from_pretrained(tmp_path / "staged")
    assert type(model) is LearnedInit and model.encoder is None and model.inner_steps == 2


def test_evaluations_can_fall_on_epoch_boundaries(tmp_path, tiny_config, app):
    from PIL import Image

    data = tmp_path / "images"
    for split, count in (("train", 8), ("test", 2)):
        (data / split).mkdir(parents=True)
        for k in range(count):
            Image.effect_noise((20, 20), 30 + k).convert("RGB").save(data / split / f"{k}.png")
    out = tmp_path / "run"  # 8 images, batch 4: 2 steps per epoch
    app("apps/train.py", "--config", tiny_config(out), f"data.source={data}", "data.test_size=null",
        "train.max_steps=9", "train.eval_every_epochs=2")  # fmt: skip
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["step"] for h in history] == [4, 8, 9]  # epochs 2 and 4, then the final evaluation


def test_coordwise_jitter_moves_each_images_coordinates_within_their_pixels():
    from ginr_apps.config import load_config
    from ginr_apps.seeding import keyed_generator
    from ginr_apps.tasks.images import ImageTask

    images = torch.rand(3, 3, 8, 8)
    grid = image_coords(8).view(1, -1, 2)
    found = {}
    for jitter in (True, "coordwise", False):
        task = ImageTask(load_config(None, [f"data.jitter={str(jitter).lower()}"]))
        generators = [torch.Generator().manual_seed(i) for i in range(3)]
        _, coords, targets = task.training_batch({"image": images}, "cpu", generators, keyed_generator(0, 5))
        found[jitter] = coords
        assert targets.shape == (3, 64, 3)
        assert ((coords - grid).abs() <= 1 / 8 + 1e-6).all()  # within the pixel: half a cell of 2/8
    assert found[False].shape == (1, 64, 2) and torch.equal(found[False], grid)
    assert found[True].shape == (1, 64, 2)  # one draw for the whole batch: the grid stays shared
    coordwise = found["coordwise"]  # the official noise: every image and coordinate its own draw
    assert coordwise.shape == (3, 64, 2) and not torch.equal(coordwise[0], coordwise[1])
    assert (coordwise - grid).std() > 0.05


def test_baseline_weights_are_drawn_as_the_official_code_draws_them():
    from ginr_core import IPC, TransINR

    torch.manual_seed(0)
    for model in (IPC(encoder_depth=0), TransINR(encoder_depth=0)):
        first, last = model.layers[0].weight, model.layers[-1].weight  # (fan_out, fan_in): (256, 256), (3, 256)
        assert first.abs().max() <= 1 / 16 and first.abs().max() > 0.06  # U(-1/sqrt(256), 1/sqrt(256))
        assert last.abs().max() <= 1 / 3**0.5 and last.abs().max() > 0.3  # kaiming on (fan_in, fan_out): fan_out = 3


def test_extra_test_splits_are_scored_beside_the_test_split(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    result = app("apps/train.py", "--config", tiny_config(out), "data.extra_test_splits=[smooth]", "train.max_steps=2")
    metrics = json.loads((out / "metrics.json").read_text())
    extra = metrics["test"]["extra"]["smooth"]
    assert extra["images"] == 64 and 5 < extra["psnr"] < 60 and extra["psnr_clamped"] >= extra["psnr"] - 1e-9
    assert metrics["data"]["extra_test_splits"] == ["smooth"]
    assert f"smooth PSNR {extra['psnr']:.2f} dB" in result.stdout
    card = (out / "model" / "README.md").read_text()
    assert f"| smooth | 64 | 16 | {extra['psnr']:.2f} |" in card
    from PIL import Image

    assert Image.open(out / "reconstructions.png").height > 6 * 128  # the test rows, then 4 smooth crops


def test_evaluation_decodes_in_cache_sized_chunks_on_cpu_and_bounded_ones_on_accelerators():
    from ginr_apps.evaluation import evaluation_chunk_size

    assert evaluation_chunk_size("auto", "cpu") == "auto" and evaluation_chunk_size(None, "cpu") == "auto"
    assert evaluation_chunk_size("auto", "cuda:0") == 65536 and evaluation_chunk_size(None, "mps") == 65536
    assert evaluation_chunk_size(4096, "cuda") == 4096 and evaluation_chunk_size(100, "cpu") == 100
    from ginr_apps.evaluation import CPU_CHUNK_ROWS, resolve_chunk_size

    # "auto" is the apps' cache heuristic: CPU_CHUNK_ROWS rows per chunk on CPU, one go elsewhere
    assert resolve_chunk_size("auto", 16, "cpu") == CPU_CHUNK_ROWS // 16 == 256
    assert resolve_chunk_size("auto", 1, "cpu") == 4096
    assert resolve_chunk_size("auto", 10_000, "cpu") == 1 and resolve_chunk_size("auto", 16, "cuda:0") is None
    assert resolve_chunk_size(None, 16, "cpu") is None and resolve_chunk_size(300, 16, "cuda") == 300
