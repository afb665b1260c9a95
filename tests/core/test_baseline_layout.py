"""Our IPC and TransINR compute what the official ginr-ipc layout computes.

The official hyponet stores each layer as one ``(fan_in + 1, fan_out)`` matrix whose last row is the
bias, appends a column of ones to the hidden features and multiplies batch-wise; modulation
multiplies the weight rows element-wise (IPC: replaces the modulated layer's weight by ``U V``;
TransINR: tiles a ``(fan_in, g)`` matrix over the fan-out with ``repeat``), and every weight is
L2-normalised over the fan-in (``F.normalize(w, dim=1)``). Below, that formulation is re-derived
from those facts, fed with our parameters, and compared with our decoders, which store weights
``(fan_out, fan_in)`` and tile by reshaping.
"""

import torch
import torch.nn.functional as F


def _official_mlp(features, layers, output_bias):
    """``layers``: list of (B or 1, fan_in + 1, fan_out) matrices, bias in the last row."""
    hidden = features
    for i, wb in enumerate(layers):
        ones = torch.ones(*hidden.shape[:-1], 1)
        hidden = torch.matmul(torch.cat([hidden, ones], dim=-1), wb)
        if i < len(layers) - 1:
            hidden = F.relu(hidden)
    return hidden + output_bias


def _with_bias_row(weight_in_out, bias):
    batch = weight_in_out.shape[0] if weight_in_out.ndim == 3 else 1
    weight = weight_in_out if weight_in_out.ndim == 3 else weight_in_out[None]
    return torch.cat([weight, bias.expand(batch, 1, -1)], dim=1)


def test_ipc_matches_the_official_layout(tiny):
    model = tiny("ipc").eval()
    latents = torch.randn(3, model.num_latents, model.latent_dim)
    coords = torch.rand(3, 50, 2) * 2 - 1
    layers = []
    for i, layer in enumerate(model.layers):
        if i == model.modulated_layer:
            # official: the base weight is ignored, the modulation U V is the weight, then normalised
            u = latents.transpose(1, 2)  # (B, fan_in, R): token r is column r
            weight = F.normalize(u @ layer.shared_factor, dim=1)
        else:
            weight = F.normalize(layer.weight.t(), dim=0)  # (fan_in, fan_out), normalised over the fan-in
        layers.append(_with_bias_row(weight, layer.bias.view(1, 1, -1)))
    expected = _official_mlp(model.fourier_features(coords), layers, 0.5)
    with torch.no_grad():
        assert torch.allclose(model.decode(latents, coords), expected, atol=1e-5)


def test_transinr_matches_the_official_layout(tiny):
    model = tiny("transinr").eval()
    latents = torch.randn(2, model.num_latents, model.latent_dim)
    coords = torch.rand(2, 40, 2) * 2 - 1
    layers, start = [], 0
    for layer in model.layers:
        fan_out = layer.weight.shape[0]
        tokens = latents[:, start : start + layer.groups]
        start += layer.groups
        modulation = layer.token_proj(tokens).transpose(-1, -2)  # (B, fan_in, g)
        modulation = modulation.repeat(1, 1, fan_out // layer.groups)  # the official tiling over the fan-out
        weight = F.normalize(layer.weight.t()[None] * modulation, dim=1)
        layers.append(_with_bias_row(weight, layer.bias.view(1, 1, -1)))
    expected = _official_mlp(model.fourier_features(coords), layers, 0.5)
    with torch.no_grad():
        assert torch.allclose(model.decode(latents, coords), expected, atol=1e-5)
