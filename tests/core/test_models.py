import itertools

import pytest
import torch

from ginr_core import IPC, LocalityAwareINR, TransINR, get_model_class, image_coords, render_image

LIGHT_FIELD = {"in_channels": 9, "num_views": 3, "d_in": 6, "fourier_dim": 24}


def _needs_images(tiny, family: str) -> None:
    try:
        tiny(family, in_channels=3, num_views=1, d_in=2)
    except ValueError as err:  # a family that takes rays only says so when built for pixels
        pytest.skip(f"{family}: {err}")


def _images(batch=2, size=16, channels=3):
    torch.manual_seed(1)
    return torch.rand(batch, channels, size, size)


def test_image_shapes(tiny, family):
    _needs_images(tiny, family)
    model = tiny(family)
    latents = model.encode(_images())
    assert latents.shape == (2, model.num_latents, model.latent_dim)
    coords = torch.rand(2, 37, 2) * 2 - 1
    assert model.decode(latents, coords).shape == (2, 37, 3)
    assert model(_images(), coords).shape == (2, 37, 3)


def test_expected_latent_shapes():
    assert LocalityAwareINR().encode(torch.rand(1, 3, 178, 178)).shape == (1, 256, 256)
    assert IPC().num_latents == 256 and IPC().latent_dim == 256
    # TransINR (ginr-ipc image config): 64 tokens for each of four 256-wide layers, 3 for the output layer
    assert TransINR().num_latents == 4 * 64 + 3


def test_light_field_shapes_and_fewer_views(tiny, family):
    try:
        model = tiny(family, **LIGHT_FIELD)
    except ValueError as err:  # a family that models images only says so when built for rays
        pytest.skip(f"{family}: {err}")
    views = torch.rand(2, 3, 9, 16, 16)
    rays = torch.randn(2, 50, 6)
    assert model(views, rays).shape == (2, 50, 3)
    # 16 px views with 4 px patches: 16 tokens per view, one positional slot per view
    assert model.encoder.tokenizer.pos_embed.shape[0] == 3 * 16
    for v in (1, 2):
        assert model(views[:, :v], rays).shape == (2, 50, 3)
    with pytest.raises(ValueError, match="at most 3 views"):
        model.encode(torch.rand(2, 4, 9, 16, 16))


def test_paper_light_field_tokens():
    model = LocalityAwareINR.from_preset("shapenet-nvs", encoder_depth=1)
    assert model.num_patches == 256 and model.d_in == 6 and model.in_channels == 9
    assert model.encode(torch.rand(1, 2, 9, 128, 128)).shape == (1, 256, 256)


@pytest.mark.parametrize("shared", [True, False])
def test_chunked_decoding_equals_unchunked(tiny, family, shared):
    _needs_images(tiny, family)  # the volume-rendering families: tests/core/test_nerf.py
    model = tiny(family).eval()
    latents = model.encode(_images())
    coords = image_coords(13, 11).view(1, -1, 2) if shared else torch.rand(2, 143, 2) * 2 - 1
    with torch.no_grad():
        full = model.decode(latents, coords)
        for chunk in (1, 7, 64, 142, 143, 1000):
            assert torch.allclose(model.decode(latents, coords, chunk_size=chunk), full, atol=1e-6), chunk


def test_shared_coordinates_equal_per_instance_coordinates(tiny, family):
    _needs_images(tiny, family)
    model = tiny(family).eval()
    latents = model.encode(_images(batch=3))
    coords = torch.rand(1, 50, 2) * 2 - 1
    with torch.no_grad():
        shared = model.decode(latents, coords)
        expanded = model.decode(latents, coords.expand(3, -1, -1).contiguous())
        flat = model.decode(latents, coords[0])
    assert shared.shape == (3, 50, 3)
    assert torch.allclose(shared, expanded, atol=1e-6) and torch.equal(shared, flat)


def test_locinr_is_invariant_to_token_order_and_ipc_is_not(tiny):
    coords = torch.rand(1, 200, 2) * 2 - 1
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    for family, invariant in (("locinr", True), ("ipc", False)):
        model = tiny(family).eval()
        with torch.no_grad():
            latents = model.encode(_images())
            out = model.decode(latents, coords)
            out_perm = model.decode(latents[:, perm], coords)
        diff = (out - out_perm).abs().max().item()
        if invariant:
            assert diff < 1e-5, family
        else:
            assert diff > 1e-3, family


def test_locinr_without_sta_is_order_dependent(tiny):
    model = tiny("locinr", selective_token_aggregation=False).eval()
    coords = torch.rand(1, 100, 2) * 2 - 1
    with torch.no_grad():
        latents = model.encode(_images())
        diff = (model.decode(latents, coords) - model.decode(latents.flip(1), coords)).abs().max()
    assert diff > 1e-3


ABLATIONS = [
    {"selective_token_aggregation": sta, "multi_band_modulation": mfm}
    for sta, mfm in itertools.product([True, False], repeat=2)
]
VARIANTS = [
    ("locinr", kwargs)
    for kwargs in [*ABLATIONS, {"sigmas": (8.0,)}, {"sigmas": (2.0, 4.0, 8.0)}, {"attention_heads": 1}]
] + [("ipc", {}), ("ipc", {"modulated_layer": 0}), ("transinr", {})]


@pytest.mark.parametrize(("family", "kwargs"), VARIANTS, ids=[f"{f}-{k}" for f, k in VARIANTS])
def test_every_trainable_parameter_receives_a_gradient(tiny, family, kwargs):
    model = tiny(family, **kwargs)
    model(_images(), torch.rand(2, 64, 2) * 2 - 1).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, f"{name} has a zero gradient"


def test_ablations_build_the_documented_decoders(tiny):
    both_off = tiny("locinr", selective_token_aggregation=False, multi_band_modulation=False)
    assert len(both_off.band_features) == len(both_off.band_modulation) == 0  # no band of Eq. 6-7
    assert type(both_off.token_aggregation).__name__ == "InstancePatternComposer"
    assert not any(name.startswith("band_") for name, _ in both_off.named_parameters())
    # with both modules replaced the decoder has IPC's layout: query layer, composer, L hidden layers, output
    assert len(both_off.hidden_layers) == 2 and len(both_off.output_layers) == 1
    full = tiny("locinr", sigmas=(8.0, 6.0, 4.0))
    assert full.num_levels == 3 and len(full.band_features) == 3 and len(full.hidden_layers) == 2
    assert [f.fourier.sigma for f in full.band_features] == [8.0, 6.0, 4.0]


@pytest.mark.parametrize("sigmas", [(4.0, 8.0), (8.0, 8.0), (8.0, 4.0, 2.0, 1.5)])
def test_any_bandwidth_order_and_number_of_levels_is_accepted(tiny, sigmas):
    model = tiny("locinr", sigmas=sigmas)
    assert model(_images(), torch.rand(2, 5, 2)).shape == (2, 5, 3)
    assert model.config["sigmas"] == list(sigmas) and model.sigmas == sigmas


@pytest.mark.parametrize(
    ("family", "kwargs", "match"),
    [
        ("locinr", {"sigmas": (8.0, 0.0)}, "sigmas\\[1\\] must be a positive number"),
        ("locinr", {"sigmas": (-2.0,)}, "sigmas\\[0\\] must be a positive number"),
        ("locinr", {"sigma_q": 0}, "sigma_q must be a positive number"),
        ("locinr", {"sigmas": ()}, "L >= 1"),
        ("locinr", {"sigmas": 8.0}, "L >= 1"),
        ("locinr", {"attention_heads": 3}, "divisible by attention_heads=3"),
        ("ipc", {"sigma": -64.0}, "sigma must be a positive number"),
        ("locinr", {"image_size": 18, "patch_size": 4, "padding": 0}, "not divisible by patch_size=4"),
        ("locinr", {"image_size": 17, "patch_size": 4}, "cannot be split evenly"),
        ("ipc", {"image_size": 16, "patch_size": 5, "padding": 1}, "18x18, which is not divisible"),
        ("locinr", {"num_latents": 0}, "num_latents must be a positive integer"),
        ("locinr", {"encoder_heads": 3}, "divisible by encoder_heads=3"),
        ("locinr", {"fourier_dim": 7}, "even number >= 2 \\* d_in = 4"),
        ("transinr", {"num_latents": 100}, "R = 19"),
        ("ipc", {"modulated_layer": 5}, "modulated_layer"),
        ("locinr", {"dropout": 1.5}, "dropout"),
    ],
)
def test_bad_arguments_raise_clear_errors(tiny, family, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(family, **kwargs)


def test_bad_inputs_raise_clear_errors(tiny, family):
    _needs_images(tiny, family)
    model = tiny(family)
    with pytest.raises(ValueError, match="expects 3 input channels, got 4"):
        model.encode(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="built for 16x16 inputs"):
        model.encode(torch.rand(1, 3, 20, 20))
    with pytest.raises(ValueError, match="\\(B, C, H, W\\)"):
        model.encode(torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match="floating-point"):
        model.encode(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    latents = model.encode(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="coordinates of shape \\(2, N, 2\\)"):
        model.decode(latents, torch.rand(2, 10, 3))
    with pytest.raises(ValueError, match="coordinates of shape"):
        model.decode(latents, torch.rand(3, 10, 2))
    with pytest.raises(ValueError, match="latents of shape"):
        model.decode(latents[:, :-1], torch.rand(2, 10, 2))
    with pytest.raises(ValueError, match="chunk_size"):
        model.decode(latents, torch.rand(2, 10, 2), chunk_size=0)


def test_render_image_decodes_any_resolution(tiny):
    model = tiny("locinr").eval()
    with torch.no_grad():
        latents = model.encode(_images())
        img = render_image(model, latents, 16)
        big = render_image(model, latents, 32, 24, chunk_size=100)
        direct = model.decode(latents, image_coords(16, 16).view(1, -1, 2))
    assert img.shape == (2, 3, 16, 16) and big.shape == (2, 3, 32, 24)
    assert torch.allclose(img.permute(0, 2, 3, 1).reshape(2, -1, 3), direct, atol=1e-6)


def test_paper_size_models_match_the_reference_parameter_counts():
    # Official IPC: 43.75 M parameters with a 42.5 M transformer; it also stores an unused base
    # weight (256 x 256) for the modulated layer, which ours does not create.
    ipc = IPC()
    blocks = sum(p.numel() for p in ipc.encoder.blocks.parameters())
    assert blocks == 42_527_232
    assert sum(p.numel() for p in ipc.parameters()) + 256 * 256 == pytest.approx(43.75e6, rel=1e-3)
    assert ipc.num_patches == 400 and ipc.padding == 1
    locinr = LocalityAwareINR()
    assert locinr.num_patches == 400 and locinr.num_latents == 256 and locinr.sigmas == (128.0, 32.0)
    assert locinr.token_aggregation.heads == 2 and locinr.encoder.blocks[0].heads == 12


def test_models_are_found_by_family():
    assert get_model_class("locinr") is LocalityAwareINR and get_model_class("transinr") is TransINR
    with pytest.raises(ValueError, match="unknown model family 'siren'"):
        get_model_class("siren")


def test_dropout_only_in_training_mode(tiny):
    model = tiny("locinr", dropout=0.5)
    x, coords = _images(), torch.rand(2, 20, 2)
    model.train()
    assert not torch.allclose(model(x, coords), model(x, coords))
    model.eval()
    assert torch.equal(model(x, coords), model(x, coords))


def test_bf16_autocast_runs_and_keeps_fourier_features_in_float32(tiny):
    model = tiny("locinr").eval()
    seen = {}
    fourier = [m for m in model.modules() if type(m).__name__ == "FourierFeatures"]
    for i, module in enumerate(fourier):
        module.register_forward_hook(lambda _m, _i, out, i=i: seen.__setitem__(i, out.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_images(batch=1), torch.rand(1, 8, 2))
        hidden = model.query_features.linear(torch.rand(1, 8, 16))
    assert hidden.dtype == torch.bfloat16  # autocast is on: the linear layers run in bf16
    assert len(fourier) == 3 and seen == dict.fromkeys(range(3), torch.float32)  # every gamma_sigma in float32
    assert out.shape == (1, 8, 3) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_a_bf16_model_predicts_in_float32_close_to_its_float32_self(tiny, inputs, family):
    model = tiny(family).eval()
    data, coords = inputs(model)
    with torch.no_grad():
        want = model(data, coords)
        got = model.to(torch.bfloat16)(data.bfloat16(), coords)
    assert got.dtype == torch.float32 and got.shape == want.shape  # the output layers run in float32
    assert (got - want).abs().max() < 0.05 * want.abs().max() + 0.02


@pytest.mark.parametrize("preset", ["celeba-178", "ffhq-256", "ffhq-512", "ffhq-1024", "imagenet-256", "shapenet-nvs"])
def test_every_preset_builds_every_family(preset):
    from ginr_core import list_presets

    assert preset in list_presets()
    tokens = {"ffhq-256": 256, "ffhq-512": 256, "imagenet-256": 256, "shapenet-nvs": 256, "celeba-178": 400}
    for family in ("locinr", "ipc", "transinr"):
        with torch.device("meta"):
            model = get_model_class(family).from_preset(preset)
        if preset in tokens:
            assert model.num_patches == tokens[preset], (preset, family)
    with torch.device("meta"):
        heads = LocalityAwareINR.from_preset(preset).token_aggregation.heads
    assert heads == {"ffhq-512": 4, "ffhq-1024": 4, "imagenet-256": 8}.get(preset, 2)


def test_both_readings_of_the_wo_multifm_ablation():
    settings = {"image_size": 16, "patch_size": 4, "encoder_width": 32, "encoder_depth": 1, "encoder_heads": 2,
                "hidden_dim": 16, "fourier_dim": 16, "num_latents": 8, "multi_band_modulation": False}  # fmt: skip
    images, coords = torch.rand(2, 3, 16, 16), torch.rand(1, 30, 2) * 2 - 1

    def output(**extra):
        torch.manual_seed(0)
        model = LocalityAwareINR(**settings, **extra).eval()
        with torch.no_grad():
            return model(images, coords)

    # the default reading never sees the bands; the other one sees the highest band (sigma_1) only
    assert torch.equal(output(sigmas=(8.0, 4.0)), output(sigmas=(2.0, 1.0)))
    assert not torch.allclose(
        output(sigmas=(8.0, 4.0), highest_band=True), output(sigmas=(2.0, 4.0), highest_band=True)
    )
    assert torch.equal(output(sigmas=(8.0, 4.0), highest_band=True), output(sigmas=(8.0, 1.0), highest_band=True))
    with pytest.raises(ValueError, match="highest_band is a reading of the w/o multiFM ablation"):
        LocalityAwareINR(**{**settings, "multi_band_modulation": True}, highest_band=True)


def test_under_autocast_the_prediction_stays_float32(tiny, inputs, family):
    model = tiny(family).eval()
    x, coords = inputs(model, batch=1, num=8)
    with torch.no_grad():
        reference = model(x, coords)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            latents = model.encode(x)
            out = model.decode(latents, coords)
    assert out.dtype == torch.float32 and reference.dtype == torch.float32
    assert (out - reference).abs().max() < 0.1  # bf16 inside, the final layer and the sum in float32


def test_chunked_decoding_equals_one_go_in_values_and_gradients(tiny, family):
    _needs_images(tiny, family)
    model = tiny(family).train()
    images, coords = _images(), image_coords(13, 11).view(1, -1, 2)
    sizes = []
    decode = model._decode
    model._decode = lambda state, chunk: sizes.append(chunk.shape[1]) or decode(state, chunk)
    torch.manual_seed(0)
    chunked = model(images, coords, chunk_size=32)
    chunked.square().mean().backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    assert sizes == [32, 32, 32, 32, 15]
    model.zero_grad()
    torch.manual_seed(0)
    whole = model(images, coords)
    whole.square().mean().backward()
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=0)
    for got, want in zip(grads, (p.grad for p in model.parameters() if p.grad is not None)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 'fast'"):
        model.decode(model.encode(images), coords, chunk_size="fast")


@pytest.mark.parametrize("points_batch, weights_batch", [(1, 3), (3, 3), (3, 1)])
def test_instance_linear_is_a_broadcast_matmul_plus_bias(points_batch, weights_batch):
    from ginr_core.models.base import instance_linear

    g = torch.Generator().manual_seed(0)
    h = torch.randn(points_batch, 7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(weights_batch, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    for bias in (
        torch.randn(4, generator=g, dtype=torch.float64),
        torch.randn(1, 7, 4, generator=g, dtype=torch.float64),
    ):
        bias.requires_grad_(True)
        out = instance_linear(h, weight, bias)
        want = torch.matmul(h, weight) + bias
        assert out.shape == (3, 7, 4)
        torch.testing.assert_close(out, want)
        grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
        got = torch.autograd.grad(out, (h, weight, bias), grad)
        torch.testing.assert_close(got, torch.autograd.grad(want, (h, weight, bias), grad))
    # points in another dtype follow the weight's; under autocast the product is in the autocast dtype
    assert instance_linear(h.float(), weight, bias).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = instance_linear(h.float(), weight.float(), bias.float())
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.double(), want, atol=0.1, rtol=0.05)


def test_the_tokenizer_setting_picks_what_turns_data_into_tokens():
    from ginr_core import Tokenizer, get_tokenizer, list_tokenizers
    from ginr_core.models import tokenizers

    with pytest.raises(ValueError, match=r"unknown tokenizer 'rows'; choose one of \['patches'\].*ginr.tokenizers"):
        LocalityAwareINR(tokenizer="rows", image_size=16, patch_size=4)

    class Rows(Tokenizer):  # each row of a (B, C, H, W) image is a token
        name = "rows"

        def __init__(self, *, image_size, patch_size, padding, in_channels, num_views, width):
            super().__init__()
            self.num_tokens = image_size[0]
            self.proj = torch.nn.Linear(in_channels * image_size[1], width)

        @classmethod
        def check(cls, x, model):
            if x.shape[1:] != (model.in_channels, *model.image_size):
                raise ValueError(f"rows: expected (B, {model.in_channels}, 16, 16), got {tuple(x.shape)}")
            return x

        def forward(self, x):
            return self.proj(x.permute(0, 2, 1, 3).flatten(2))

    try:
        assert get_tokenizer("rows") is Rows and "patches" in list_tokenizers()
        model = LocalityAwareINR(tokenizer="rows", image_size=16, patch_size=5, encoder_width=32, encoder_depth=1,
                                 encoder_heads=2, hidden_dim=32, fourier_dim=32, num_latents=4)  # fmt: skip
        assert model.padding == 0 and model.config["tokenizer"] == "rows" and model.num_patches == 16
        assert model(torch.rand(2, 3, 16, 16), torch.rand(2, 7, 2)).shape == (2, 7, 3)
        with pytest.raises(ValueError, match="rows: expected"):
            model.encode(torch.rand(2, 3, 8, 8))
    finally:
        tokenizers._TOKENIZERS.pop("rows", None)
