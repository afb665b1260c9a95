"""apps/analyze.py: locality maps and test-time optimisation from a run folder, for any family."""

import itertools
import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ginr_core import GeneralizableINR


@pytest.mark.slow
@pytest.mark.parametrize("family", ["locinr", "ipc", "learned_init"])
def test_locality_maps_of_an_image_run(tmp_path, tiny_config, app, family):
    out = tmp_path / "run"
    app("apps/train.py", "--config", tiny_config(out, family=family), "train.max_steps=2")
    result = app("apps/analyze.py", "locality", out, "--items", "2", "--tokens", "3")
    scores = json.loads((out / "analysis" / "locality.json").read_text())
    model = GeneralizableINR.from_pretrained(out / "model")
    assert scores["family"] == family and scores["latent_tokens"] == model.num_latents
    assert len(scores["instances"]) == 2 and len(scores["shown_tokens"]) == min(3, model.num_latents)
    for instance in scores["instances"]:
        assert len(instance["area"]) == min(64, model.num_latents)
        assert all(0 <= a <= 1 for a in instance["area"])
    assert 0 < scores["median_area"] <= 1 and "median token area" in result.stdout
    figure = Image.open(out / "analysis" / "locality.png")
    assert figure.width > (1 + len(scores["shown_tokens"])) * 96  # input, then one map per token
    assert scores["colour_scale"] == "instance"
    token_scale = ["--items", "2", "--tokens", "3", "--scale", "token", "--output-dir", tmp_path]
    app("apps/analyze.py", "locality", out, *token_scale)
    own = json.loads((tmp_path / "locality.json").read_text())
    assert own["colour_scale"] == "token" and own["instances"] == scores["instances"]  # the scores do not change
    bad = app("apps/analyze.py", "locality", out, "--token-ids", "999", check=False)
    assert bad.returncode != 0 and "--token-ids must lie in [0," in bad.stderr


def test_locality_maps_share_one_scale_per_instance_row_or_have_their_own():
    from ginr_apps.analyze import _heat

    maps = torch.stack([torch.ones(2, 2), 4 * torch.ones(2, 2)])  # a weak token and a strong one
    maps[0, 0, 0], maps[1, 0, 0] = 2.0, 8.0
    row, own = _heat(maps, "instance"), _heat(maps, "token")
    top = row[1, :, 0, 0]  # the row's largest difference: the top of the colour map
    assert torch.equal(own[0, :, 0, 0], top) and torch.equal(own[1, :, 0, 0], top)  # each map's own largest
    assert not torch.equal(row[0, :, 0, 0], top)  # on the row's scale the weak token stays below the top
    assert torch.equal(_heat(maps), row)  # per instance row by default


def test_fit_gives_every_image_its_own_budget_and_reports_seconds_per_sample(tmp_path, tiny):
    from ginr_apps.analyze import main
    from ginr_core import image_coords, psnr

    folder = tmp_path / "model"
    model = tiny("locinr").eval()
    model.save_pretrained(folder)
    budget = 0.3
    result = main(["fit", str(folder), "--images", "2", "--seconds", str(budget), "--eval-every", "2",
                   "--output-dir", str(tmp_path / "fit"), "--device", "cpu"])  # fmt: skip
    fit = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert fit["curves"] == result["curves"] and fit["images"] == 2
    for name, runs in fit["per_sample"].items():
        assert len(runs) == 2  # one fit per image, each for the whole budget: seconds per sample
        assert all(run[0]["seconds"] == 0 and run[-1]["seconds"] >= budget for run in runs), name
        curve = fit["curves"][name]
        assert curve[0]["seconds"] == 0 and curve[-1]["seconds"] == pytest.approx(budget)
        best = [max(h["psnr"] for h in run if h["seconds"] <= budget) for run in runs]
        assert curve[-1]["psnr"] == pytest.approx(sum(best) / 2)  # the mean over images of each one's best
        assert all(b["psnr"] >= a["psnr"] for a, b in itertools.pairwise(curve))
    # the zero-shot point: each image encoded on its own, the PSNRs averaged
    from ginr_data import image_dataset

    test = image_dataset("photos", "test", resolution=16, train=False, size=2)
    images = torch.stack([test[0]["image"], test[1]["image"]])
    targets = images.permute(0, 2, 3, 1).reshape(2, -1, 3)
    with torch.no_grad():
        zero = psnr(model.decode(model.encode(images), image_coords(16).view(1, -1, 2)), targets)
    assert fit["zero_shot_psnr"] == pytest.approx(float(zero.mean()), abs=1e-4)
    assert [run[0]["psnr"] for run in fit["per_sample"]["TTO: latents"]] == pytest.approx(zero.tolist(), abs=1e-4)
    saved = load_file(tmp_path / "fit" / "refined_latents.safetensors")["latents"]
    assert saved.shape == (2, model.num_latents, model.latent_dim)


@pytest.mark.slow
def test_fit_draws_the_four_curves_and_saves_refined_latents(tmp_path, tiny_config, app):
    out = tmp_path / "run"
    app("apps/train.py", "--config", tiny_config(out), "train.max_steps=2")
    result = app("apps/analyze.py", "fit", out, "--images", "2", "--seconds", "1", "--eval-every", "2")
    fit = json.loads((out / "analysis" / "fit.json").read_text())
    assert set(fit["curves"]) == {"TTO: latents", "TTO: decoder", "FFNet from scratch"}
    for history in fit["curves"].values():
        assert history[0]["seconds"] == 0 and history[-1]["seconds"] >= 1
    latents_curve = fit["curves"]["TTO: latents"]
    assert latents_curve[0]["psnr"] == pytest.approx(fit["zero_shot_psnr"])
    assert max(h["psnr"] for h in latents_curve) >= fit["zero_shot_psnr"]
    saved = load_file(out / "analysis" / "refined_latents.safetensors")["latents"]
    model = GeneralizableINR.from_pretrained(out / "model")
    assert saved.shape == (2, model.num_latents, model.latent_dim)
    assert Image.open(out / "analysis" / "fit.png").width > 400 and "zero-shot" in result.stdout
    assert (out / "analysis" / "fit_steps.png").is_file()
