"""LocalityAwareINR's decoder against the paper's equations written out literally (Eq. 3-9, W_o applied).

The model folds the attention's output projection W_o into Eq. 7's products once per decode; the
oracle below applies every matrix as the paper writes it, one head at a time, for the three decoder
layouts (full, w/o STA, w/o multiFM and its highest-band reading). Outputs and every parameter's
gradient must agree.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from ginr_core import LocalityAwareINR

LAYOUTS = {
    "full": {},
    "without-sta": {"selective_token_aggregation": False},
    "without-multifm": {"multi_band_modulation": False},
    "without-multifm-highest-band": {"multi_band_modulation": False, "highest_band": True},
    "ipc-layout": {"selective_token_aggregation": False, "multi_band_modulation": False},
}
SMALL = {
    "image_size": 16,
    "patch_size": 4,
    "encoder_width": 32,
    "encoder_depth": 1,
    "encoder_heads": 2,
    "num_latents": 8,
    "hidden_dim": 16,
    "fourier_dim": 16,
    "sigmas": (8.0, 4.0, 2.0),
    "sigma_q": 2.0,
    "attention_heads": 2,
    "dropout": 0.0,
}


def _linear(layer, x):
    return x @ layer.weight.T + layer.bias


def _frequency_features(module, v):
    """h_F(v; sigma, W, b) = ReLU(W gamma_sigma(v) + b)  (Eq. 3)."""
    return F.relu(_linear(module.linear, module.fourier(v).to(module.linear.weight.dtype)))


def literal_decoder(model: LocalityAwareINR, latents: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Eq. 3-9 as written: ``(B, R, d)`` latents, ``(b, n, d_in)`` coordinates -> ``(B, n, d_out)``."""
    batch, d = latents.shape[0], latents.shape[-1]
    v = coords.expand(batch, -1, -1)
    q = _frequency_features(model.query_features, v)  # q_v  (Eq. 4)
    if model.selective_token_aggregation:  # m_v = MultiHeadAttention(q_v, Z, Z)  (Eq. 5)
        attention = model.token_aggregation
        queries = _linear(attention.q_proj, q)
        keys, values = _linear(attention.kv_proj, latents).split(d, dim=-1)
        size = d // attention.heads
        heads = []
        for i in range(attention.heads):
            part = slice(i * size, (i + 1) * size)
            scores = queries[..., part] @ keys[..., part].transpose(1, 2) / math.sqrt(size)
            heads.append(torch.softmax(scores, dim=-1) @ values[..., part])
        m = _linear(attention.out_proj, torch.cat(heads, dim=-1))  # W_o applied
    else:  # IPC's m_v = ReLU(normalize(Z^T V) q_v + b)
        composer = model.token_aggregation
        weight = F.normalize(latents.transpose(1, 2) @ composer.shared_factor, dim=1)
        m = F.relu(q @ weight + composer.bias)
    if not model.multi_band_modulation:
        h = m
        if model.highest_band:  # ReLU(h_F(v; sigma_1) + W_m m_v + b_m)
            h = F.relu(_frequency_features(model.band_features[0], v) + _linear(model.band_modulation[0], m))
        for layer in model.hidden_layers:
            h = F.relu(_linear(layer, h))
        return _linear(model.output_layers[0], h) + model.output_bias
    out, h = 0.0, None
    for level in range(model.num_levels):
        h_f = _frequency_features(model.band_features[level], v)  # (h_F)^(l)  (Eq. 6)
        m_l = F.relu(h_f + _linear(model.band_modulation[level], m))  # m^(l)  (Eq. 7)
        h = m_l if level == 0 else F.relu(_linear(model.hidden_layers[level - 1], m_l + h))  # h^(l)  (Eq. 8)
        out = out + _linear(model.output_layers[level], h)  # sum_l f_out^(l)(h^(l))  (Eq. 9)
    return out + model.output_bias


def _model(layout: str, dtype: torch.dtype) -> LocalityAwareINR:
    torch.manual_seed(0)
    model = LocalityAwareINR(**SMALL, **LAYOUTS[layout]).to(dtype).train()
    with torch.no_grad():  # biases away from 0, so that every term of the equations counts
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.3, 0.3)
    return model


def _step(model, decoder, images, coords):
    """Output and every parameter's gradient of a squared-output loss through ``decoder``."""
    model.zero_grad()
    out = decoder(model, model.encode(images), coords)
    out.square().mean().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)], ids=["fp32", "fp64"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-coords", "per-instance-coords"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_decoder_equals_the_literal_equations_in_values_and_gradients(layout, shared, dtype, tolerance):
    model = _model(layout, dtype)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 16, 16, generator=g, dtype=dtype)
    coords = torch.rand(1 if shared else 3, 50, 2, generator=g, dtype=dtype) * 2 - 1
    out, grads = _step(model, lambda m, z, c: m.decode(z, c), images, coords)
    want, want_grads = _step(model, literal_decoder, images, coords)
    assert out.shape == (3, 50, 3) and out.dtype == dtype
    torch.testing.assert_close(out, want, atol=tolerance, rtol=0)
    assert grads.keys() == want_grads.keys() == {n for n, p in model.named_parameters()}
    for name, grad in want_grads.items():
        scale = max(1.0, grad.abs().max().item())
        torch.testing.assert_close(grads[name], grad, atol=tolerance * scale, rtol=0, msg=name)


@pytest.mark.parametrize("layout", ["full", "without-multifm-highest-band"])
def test_under_bf16_autocast_the_decoder_stays_within_1e_2_of_the_equations(layout):
    model = _model(layout, torch.float32).eval()
    g = torch.Generator().manual_seed(2)
    images, coords = torch.rand(2, 3, 16, 16, generator=g), torch.rand(1, 64, 2, generator=g) * 2 - 1
    with torch.no_grad():
        want = literal_decoder(model, model.encode(images), coords)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(images, coords)
    assert out.dtype == torch.float32
    assert (out - want).abs().max().item() < 1e-2


def test_torch_func_grad_and_double_backward_run_through_the_model():
    model = _model("full", torch.float32)
    g = torch.Generator().manual_seed(3)
    images, coords = torch.rand(2, 3, 16, 16, generator=g), torch.rand(1, 20, 2, generator=g) * 2 - 1
    params = dict(model.named_parameters())

    def loss(p):
        return torch.func.functional_call(model, p, (images, coords)).square().mean()

    grads = torch.func.grad(loss)(params)
    loss(params).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, atol=1e-6, rtol=1e-5)
    # double backward: a penalty on the output's gradient with respect to the coordinates
    model.zero_grad()
    points = coords.clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(model(images, points).sum(), points, create_graph=True)
    slope.square().sum().backward()
    weight = model.band_features[0].linear.weight.grad
    assert weight is not None and torch.isfinite(weight).all() and weight.abs().sum() > 0
