import json
import os
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from ginr_core import IPC, CheckpointMismatchError, GeneralizableINR, LocalityAwareINR, TransINR, get_model_class

CLASSES = {
    name: get_model_class(name) for name in ("locinr", "ipc", "transinr", "learned_init", "ipc_nerf", "transinr_nerf")
}


def test_hub_is_offline_in_tests():
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE and os.environ["HF_HOME"] in constants.HF_HOME


def test_save_load_round_trip_is_exact(tmp_path, tiny, inputs, family):
    model = tiny(family, sigma_q=3.0) if family == "locinr" else tiny(family)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_class_name"] == type(model).__name__ and config["image_size"] == 16
    if family == "locinr":
        assert config["sigmas"] == [8.0, 4.0] and config["sigma_q"] == 3.0

    loaded = CLASSES[family].from_pretrained(tmp_path)
    assert not loaded.training
    assert loaded.config == {k: v for k, v in config.items() if not k.startswith("_")}
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    model.eval()
    x, coords = inputs(model)
    with torch.no_grad():
        assert torch.equal(model(x, coords), loaded(x, coords))
    # the loaded model saves the same configuration again
    loaded.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text()) == config


def test_model_card_names_the_library(tmp_path, tiny):
    tiny("locinr").save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "library_name: ginr" in card and "implicit-neural-representation" in card


def test_loading_another_family_raises_naming_both(tmp_path, tiny):
    tiny("ipc").save_pretrained(tmp_path)
    with pytest.raises(CheckpointMismatchError, match="holds a IPC checkpoint.*LocalityAwareINR"):
        LocalityAwareINR.from_pretrained(tmp_path)
    with pytest.raises(CheckpointMismatchError, match="TransINR"):
        TransINR.from_pretrained(tmp_path)
    assert isinstance(get_model_class("ipc").from_pretrained(tmp_path), IPC)


def test_mismatched_shapes_raise_instead_of_loading_silently(tmp_path, tiny):
    tiny("locinr").save_pretrained(tmp_path)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "hidden_dim": 32}))
    with pytest.raises(
        CheckpointMismatchError, match="(?s)do not match LocalityAwareINR.*size mismatch for latent_proj"
    ):
        LocalityAwareINR.from_pretrained(tmp_path)


def test_missing_or_unexpected_tensors_raise(tmp_path, tiny):
    tiny("ipc").save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights.pop("latent_proj.1.bias")
    weights["extra.weight"] = torch.zeros(2)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(
        CheckpointMismatchError, match=r"(?s)Missing key.*latent_proj\.1\.bias.*Unexpected key.*extra\.weight"
    ):
        IPC.from_pretrained(tmp_path)


def test_unknown_config_key_and_missing_files_raise(tmp_path, tiny):
    tiny("locinr").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_bands": 3}))
    with pytest.raises(CheckpointMismatchError, match="does not take: \\['num_bands'\\]"):
        LocalityAwareINR.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointMismatchError, match="no model.safetensors"):
        LocalityAwareINR.from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointMismatchError, match="no config.json"):
        LocalityAwareINR.from_pretrained(tmp_path)


def test_presets_round_trip_through_config(tmp_path):
    with torch.device("meta"):
        model = LocalityAwareINR.from_preset("ffhq-1024", encoder_depth=0)
    assert model.num_patches == 484 and model.padding == 16 and model.sigmas == (256.0, 64.0)
    assert model.config["patch_size"] == 48 and model.config["encoder_depth"] == 0


def test_the_base_class_loads_any_family_by_its_config(tmp_path, tiny, family):
    from ginr_core import GeneralizableINR

    model = tiny(family)
    model.save_pretrained(tmp_path)
    loaded = GeneralizableINR.from_pretrained(tmp_path)
    assert type(loaded) is CLASSES[family] and loaded.config == model.config
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "_class_name": "NeRF"}))
    with pytest.raises(CheckpointMismatchError, match="names no ginr model class"):
        GeneralizableINR.from_pretrained(tmp_path)


@pytest.mark.skipif(
    int(__import__("huggingface_hub").__version__.split(".")[0]) < 1,
    reason="the fake Hub replaces the httpx transport of huggingface_hub >= 1.0",
)
def test_every_family_loads_by_repo_id_online_then_offline_from_the_hub_cache(tmp_path, tiny, inputs, monkeypatch):
    from fakehub import FakeHub
    from huggingface_hub import constants

    hub = FakeHub(tmp_path / "hub")
    models = {family: tiny(family) for family in CLASSES}
    with hub.online(monkeypatch):
        for family, model in models.items():
            model.push_to_hub(f"ginr-tester/{family}")  # the mixin's own upload: weights, config, card
            online = CLASSES[family].from_pretrained(f"ginr-tester/{family}")  # downloads into the Hub cache
            assert all(torch.equal(online.state_dict()[k], v) for k, v in model.state_dict().items())
    assert hub.unhandled == [] and {"config.json", "model.safetensors"} <= set(hub.files("ginr-tester/ipc"))

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for family, model in models.items():
        loaded = CLASSES[family].from_pretrained(f"ginr-tester/{family}")  # from the cache, no transport
        x, coords = inputs(model, batch=1, num=20)
        with torch.no_grad():
            assert torch.equal(loaded(x, coords), model.eval()(x, coords))
    with pytest.raises(CheckpointMismatchError, match="ginr-tester/ipc holds a IPC checkpoint.*TransINR"):
        TransINR.from_pretrained("ginr-tester/ipc")
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(LocalEntryNotFoundError, match="cannot find the requested files in the local cache"):
        IPC.from_pretrained("ginr-tester/never-downloaded")


@pytest.mark.parametrize("loader", [LocalityAwareINR, get_model_class("locinr").__mro__[1]], ids=["class", "base"])
def test_bad_model_folders_are_named_with_what_is_wrong(tmp_path, tiny, loader):
    folder = tmp_path / "model"
    tiny("locinr").save_pretrained(folder)
    weights = (folder / "model.safetensors").read_bytes()
    for broken, what in ((weights[: len(weights) // 2], "truncated"), (b"", "empty")):
        (folder / "model.safetensors").write_bytes(broken)
        with pytest.raises(CheckpointMismatchError, match="not a readable safetensors file") as caught:
            loader.from_pretrained(folder)
        assert str(folder / "model.safetensors") in str(caught.value), what
    (folder / "model.safetensors").write_bytes(weights)
    for text, expected in (("{not json", "cannot read the config.json"), ("[1, 2]", "must be a JSON object, got list")):
        (folder / "config.json").write_text(text)
        with pytest.raises(ValueError, match=expected) as caught:
            loader.from_pretrained(folder)
        assert str(folder / "config.json") in str(caught.value)


def test_a_mistyped_local_path_and_an_uncached_repo_id_say_what_they_are(tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    from ginr_core import GeneralizableINR

    with pytest.raises(FileNotFoundError, match="no such folder") as caught:
        GeneralizableINR.from_pretrained(str(tmp_path / "runs" / "defualt" / "model"))
    assert "Repo id must be" not in str(caught.value)
    with pytest.raises(LocalEntryNotFoundError, match="HF_HUB_OFFLINE is set") as caught:
        LocalityAwareINR.from_pretrained("someone/never-downloaded")
    assert "someone/never-downloaded" in str(caught.value)


FIXTURES = os.path.join(os.path.dirname(__file__), "data", "v0.1.0")


def fixture_weights(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """The fixtures' weights: a seeded normal draw per tensor, in name order, scaled by 0.1 (the 0.1.0 code
    decoded the expected outputs with these weights loaded)."""
    g = torch.Generator().manual_seed(0)
    return {name: torch.randn(shape, generator=g) * 0.1 for name, shape in sorted(shapes.items())}


@pytest.mark.parametrize("family", sorted(os.listdir(FIXTURES)))
def test_checkpoints_written_by_ginr_0_1_0_load_and_decode_the_same_numbers(family, tmp_path, inputs):
    """config.json as ginr-core 0.1.0 wrote it, its tensors' names and shapes, and the outputs of the 0.1.0
    model on the conftest's seeded inputs (text fixtures; the weights are made here)."""
    from ginr_core import GeneralizableINR

    folder = os.path.join(FIXTURES, family)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "expected.json")) as f:
        expected = json.load(f)
    assert config["_ginr_version"] == "0.1.0"
    (tmp_path / "config.json").write_text(json.dumps(config))
    save_file(fixture_weights(expected["tensors"]), tmp_path / "model.safetensors")
    model = GeneralizableINR.from_pretrained(tmp_path)  # strict: every tensor of 0.1.0, and no other
    assert type(model) is CLASSES[family] and model.family == family
    x, coords = inputs(model, batch=2, num=30)
    with torch.no_grad():
        out = model(x, coords)
    torch.testing.assert_close(out, torch.tensor(expected["outputs"]), atol=1e-6, rtol=0)


def test_unknown_loading_arguments_are_refused_by_name(tmp_path, tiny):
    from ginr_core import GeneralizableINR

    tiny("locinr").save_pretrained(tmp_path)
    for loader in (GeneralizableINR, LocalityAwareINR):
        with pytest.raises(TypeError, match=r"from_pretrained got unknown arguments \['foo'\]; it takes .*dtype"):
            loader.from_pretrained(tmp_path, foo=1)
    with pytest.raises(ValueError, match="device_map='auto' is not supported.*device='cuda'"):
        LocalityAwareINR.from_pretrained(tmp_path, device_map="auto")
    with pytest.raises(TypeError, match=r"LocalityAwareINR got unknown settings \['sigma'\]"):
        LocalityAwareINR(sigma=3.0)


@pytest.mark.parametrize("loader", ["base", "class"])
def test_dtype_takes_a_torch_dtype_its_name_auto_or_the_torch_dtype_alias(tmp_path, tiny, inputs, loader):
    from ginr_core import GeneralizableINR

    model = tiny("locinr")
    model.save_pretrained(tmp_path / "fp32")
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    cls = GeneralizableINR if loader == "base" else LocalityAwareINR
    assert cls.from_pretrained(tmp_path / "fp32").dtype == torch.float32
    assert cls.from_pretrained(tmp_path / "bf16").dtype == torch.float32  # default: float32
    for dtype in (torch.bfloat16, "bfloat16", "torch.bfloat16"):
        assert cls.from_pretrained(tmp_path / "fp32", dtype=dtype).dtype == torch.bfloat16
        assert cls.from_pretrained(tmp_path / "fp32", torch_dtype=dtype).dtype == torch.bfloat16
    assert cls.from_pretrained(tmp_path / "bf16", dtype="auto").dtype == torch.bfloat16
    assert cls.from_pretrained(tmp_path / "fp32", dtype="auto").dtype == torch.float32
    assert cls.from_pretrained(tmp_path / "fp32", dtype="float64").dtype == torch.float64
    for bad in ("int8", "bfloat", torch.int64, 3):
        with pytest.raises(ValueError, match="dtype must be a floating torch dtype, its name"):
            cls.from_pretrained(tmp_path / "fp32", dtype=bad)
    with pytest.raises(ValueError, match="disagree"):
        cls.from_pretrained(tmp_path / "fp32", dtype="float16", torch_dtype=torch.bfloat16)
    # a bf16 model loaded in bf16 decodes as the model it was
    x, coords = inputs(model)
    loaded = cls.from_pretrained(tmp_path / "bf16", dtype="auto")
    with torch.no_grad():
        assert torch.equal(loaded(x.bfloat16(), coords), model.eval()(x.bfloat16(), coords))


def test_device_and_map_location_place_the_weights(tmp_path, tiny):
    tiny("ipc").save_pretrained(tmp_path)
    for kwargs in ({"device": "cpu"}, {"map_location": "cpu"}, {"device": torch.device("cpu")}, {}):
        model = IPC.from_pretrained(tmp_path, **kwargs)
        assert model.device == torch.device("cpu") and all(p.device.type == "cpu" for p in model.parameters())
    with pytest.raises(ValueError, match="disagree"):
        IPC.from_pretrained(tmp_path, device="cpu", map_location="meta")


def test_subfolder_loads_a_model_inside_a_folder_or_repo(tmp_path, tiny, inputs):
    from ginr_core import GeneralizableINR

    model = tiny("transinr").eval()
    model.save_pretrained(tmp_path / "pipeline" / "inr")
    (tmp_path / "pipeline" / "model_index.json").write_text("{}")
    loaded = GeneralizableINR.from_pretrained(tmp_path / "pipeline", subfolder="inr")
    x, coords = inputs(model)
    with torch.no_grad():
        assert torch.equal(loaded(x, coords), model(x, coords))
    with pytest.raises(CheckpointMismatchError, match=r"holds a diffusers pipeline.*subfolder='inr'"):
        GeneralizableINR.from_pretrained(tmp_path / "pipeline")
    with pytest.raises(CheckpointMismatchError, match=r"pipeline/missing: no config.json found"):
        GeneralizableINR.from_pretrained(tmp_path / "pipeline", subfolder="missing")


def test_config_is_a_mapping_with_attribute_access_and_num_parameters_counts(tiny):
    model = tiny("locinr")
    config = model.config
    assert config.num_latents == config["num_latents"] == 8 and config.sigmas == [8.0, 4.0]
    assert dict(config) == json.loads(json.dumps(dict(config))) and "hidden_dim" in config
    with pytest.raises(AttributeError, match="no setting 'num_latent'.*num_latents"):
        _ = config.num_latent
    config["hidden_dim"] = 99  # a copy: the model's own config is unchanged
    assert model.config.hidden_dim == 16
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    model.encoder.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == model.num_parameters() - sum(
        p.numel() for p in model.encoder.parameters()
    )


def test_nan_and_non_floating_weights_are_refused_at_load(tmp_path, tiny):
    tiny("locinr").save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = load_file(path)
    name = "query_features.linear.weight"
    for tensor, expected in (
        (torch.full_like(state[name], float("nan")), "holds NaN or Inf values"),
        (state[name].to(torch.int64), "is torch.int64, expected a floating dtype"),
        (state[name] > 0, "is torch.bool, expected a floating dtype"),
    ):
        save_file({**state, name: tensor}, path)
        with pytest.raises(CheckpointMismatchError, match=f"{name} {expected}" if "NaN" not in expected else expected):
            LocalityAwareINR.from_pretrained(tmp_path)


def test_a_config_from_a_newer_ginr_says_to_upgrade(tmp_path, tiny):
    tiny("ipc").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "new_setting": 1, "_ginr_version": "9.0.0"}))
    with pytest.raises(CheckpointMismatchError, match=r"\['new_setting'\].*written by ginr-core 9.0.0.*upgrade"):
        IPC.from_pretrained(tmp_path)


@pytest.mark.parametrize(("setting", "value"), [("hidden_dim", 10_000_000), ("image_size", 1_000_000)])
def test_a_config_json_too_large_for_memory_is_refused_before_building(tmp_path, tiny, setting, value):
    tiny("locinr").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, setting: value}))
    started = time.perf_counter()
    with pytest.raises(CheckpointMismatchError) as caught:
        GeneralizableINR.from_pretrained(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path}/config.json: a LocalityAwareINR with {setting}={value}" in message
    assert "of memory, more than the" in message and message.endswith(f"lower {setting}")
    assert time.perf_counter() - started < 5 and "\n" not in message
