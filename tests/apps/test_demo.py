"""apps/demo.py served on a free local port and driven through gradio_client: what each tab returns."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from ginr_core import LocalityAwareINR, reconstruct

gradio_client = pytest.importorskip("gradio_client")

SMALL = {"image_size": 16, "patch_size": 4, "encoder_width": 32, "encoder_depth": 1, "encoder_heads": 2,
         "hidden_dim": 16, "fourier_dim": 16, "num_latents": 8, "sigmas": (8.0, 4.0), "sigma_q": 2.0}  # fmt: skip


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An image INR, a light-field model and a prior's pipeline, saved as apps/train*.py save them."""
    from ginr_diffusion import LatentDenoiser, LatentINRPipeline, sampling_scheduler

    root = tmp_path_factory.mktemp("demo-models")
    torch.manual_seed(0)
    inr = LocalityAwareINR(**SMALL)
    inr.save_pretrained(root / "model")
    LocalityAwareINR(**SMALL, in_channels=9, d_in=6, num_views=3).save_pretrained(root / "nvs")
    denoiser = LatentDenoiser(num_latents=8, latent_dim=inr.latent_dim, width=32, depth=1, heads=2,
                              num_classes=2)  # fmt: skip
    pipe = LatentINRPipeline(denoiser, sampling_scheduler(), inr, id2label={0: "cat", 1: "dog"})
    pipe.save_pretrained(root / "pipeline")
    photo = root / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)).save(photo)
    (root / "notes.png").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def served(saved):
    from ginr_apps import demo

    page = demo.main(["--model", str(saved / "model"), "--nvs-model", str(saved / "nvs"), "--prior",
                      str(saved / "pipeline"), "--port", "0"], block=False)  # fmt: skip
    yield page, gradio_client.Client(page.local_url, verbose=False)
    page.close()


def test_reconstruct_returns_the_models_decode_at_the_chosen_resolution(served, saved):
    _, client = served
    photo = gradio_client.handle_file(str(saved / "photo.jpg"))
    shown, recon, decoded, text = client.predict(photo, None, 3, 0, api_name="/reconstruct")
    model = LocalityAwareINR.from_pretrained(saved / "model")
    expected = np.asarray(reconstruct(model, Image.open(saved / "photo.jpg").convert("RGB"), size=(48, 48)))
    got = np.asarray(Image.open(decoded).convert("RGB"))
    assert got.shape == (48, 48, 3) and np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert Image.open(shown).size == Image.open(recon).size == (256, 256)  # the 16 px input, enlarged 16x
    assert "PSNR of the reconstruction" in text and "dB" in text and "48 x 48" in text and "zero-shot" not in text


def test_test_time_optimisation_in_the_page_matches_reconstruct_and_beats_the_zero_shot_psnr(served, saved):
    _, client = served
    photo = gradio_client.handle_file(str(saved / "photo.jpg"))
    _, _, decoded, text = client.predict(photo, None, 2, 30, api_name="/reconstruct")
    model = LocalityAwareINR.from_pretrained(saved / "model")
    image = Image.open(saved / "photo.jpg").convert("RGB")
    expected = np.asarray(reconstruct(model, image, size=(32, 32), refine_steps=30))
    got = np.asarray(Image.open(decoded).convert("RGB"))
    assert got.shape == (32, 32, 3) and np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    refined, zero_shot = (float(v) for v in re.findall(r"([0-9.]+) dB", text)[:2])
    assert "30 steps of test-time optimisation" in text and refined > zero_shot + 0.5
    with pytest.raises(Exception, match="greater than maximum value 200"):  # gradio refuses it itself
        client.predict(photo, None, 2, 500, api_name="/reconstruct")


def test_a_bad_upload_is_a_message_in_the_page(served, saved):
    _, client = served
    with pytest.raises(Exception, match="not an image PIL can read"):
        client.predict(gradio_client.handle_file(str(saved / "notes.png")), None, 2, 0, api_name="/reconstruct")


def test_novel_views_and_generation_through_the_api(served):
    _, client = served
    support, view, orbit = client.predict(1, 2, None, 30, 20, api_name="/novel_view")
    assert len(support) == 2 and Image.open(view).size == (64, 64)  # 4x the model's 16 px
    assert Image.open(orbit).n_frames == 24
    image, steps = client.predict("dog", 2.0, 5, 3, 24, api_name="/generate")
    assert Image.open(image).size == (24, 24) and len(steps) == 5  # one picture a step (at most 10)
    again, _ = client.predict("dog", 2.0, 5, 3, 24, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(again)))  # seeded
    with pytest.raises(Exception, match="not in the list of choices"):  # refused by the page
        client.predict("bird", 2.0, 5, 3, 24, api_name="/generate")


def test_without_a_model_the_page_says_how_to_get_one(served):
    from ginr_apps import demo

    page = demo.build_demo(demo.DemoModels())
    text = json.dumps(page.get_config_file())
    assert "No model loaded" in text and "python apps/demo.py --model runs/default/model" in text
    assert "tab-reconstruct" not in text


def test_the_demo_refuses_a_wrong_kind_of_model_in_one_line(saved, capsys):
    from ginr_apps import demo

    with pytest.raises(SystemExit) as stop:
        demo.main(["--model", str(saved / "pipeline"), "--port", "0"], block=False)
    assert stop.value.code == 2 and "holds a prior's pipeline" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--nvs-model"):
        demo.DemoModels(model=LocalityAwareINR.from_pretrained(saved / "nvs"))


def test_the_demo_refuses_a_test_time_optimisation_out_of_range(saved):
    from ginr_apps.demo import DemoError, DemoModels

    models = DemoModels(LocalityAwareINR.from_pretrained(saved / "model"))
    with pytest.raises(DemoError, match="0-200 steps, got 201"):
        models.reconstruct(Image.open(saved / "photo.jpg"), 2, 201)
