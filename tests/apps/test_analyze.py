"""apps/analyze.py: locality maps and test-time optimisation from a run folder, for any family."""

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
