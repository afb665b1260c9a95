"""Learned Init: the inner loop fits an unseen image, and training goes through it (second order)."""

import pytest
import torch

from ginr_core import LearnedInit, image_coords, psnr, render_image


def _model(**overrides) -> LearnedInit:
    torch.manual_seed(0)
    settings = {"image_size": 8, "patch_size": 4, "hidden_dim": 16, "fourier_dim": 16, "sigma": 4.0, "num_layers": 3}
    return LearnedInit(**{**settings, **overrides})


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=g)
    line = torch.linspace(0, 1, 8)
    ramp = (line.view(1, 1, 8, 1) + line.view(1, 1, 1, 8)) / 2  # a smooth (1, 1, 8, 8) pattern
    return (0.6 * base + 0.4 * ramp * torch.rand(n, 3, 1, 1, generator=g)).clamp(0, 1)


def _initial_latents(model: LearnedInit, batch: int) -> torch.Tensor:
    return torch.cat([w.detach().flatten().expand(batch, -1) for w in model.init_weights], dim=1).unsqueeze(1)


def test_the_inner_loop_improves_the_fit_of_an_unseen_image_and_more_after_meta_training():
    model = _model(inner_lr=0.05)
    unseen = _images(4, seed=99)

    def gain() -> float:
        model.eval()
        adapted = psnr(render_image(model, model.encode(unseen), 8), unseen).mean()
        initial = psnr(render_image(model, _initial_latents(model, 4), 8), unseen).mean()
        return float(adapted - initial)

    before = gain()
    assert before > 0  # two SGD steps from the initialisation fit each image better
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    grid = image_coords(8).view(1, -1, 2)
    model.train()
    for step in range(60):
        images = _images(8, seed=step)
        loss = (model(images, grid) - images.flatten(2).transpose(1, 2)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert gain() > before + 0.5  # meta-training made the initialisation easier to adapt


def test_training_differentiates_through_the_inner_steps_second_order():
    model = _model(inner_lr=0.5).double()
    images = _images(2, seed=3).double()
    grid = image_coords(8).view(1, -1, 2).double()
    target = images.flatten(2).transpose(1, 2)

    def outer_loss() -> torch.Tensor:
        return (model(images, grid) - target).pow(2).mean()

    model.train()
    loss = outer_loss()
    (exact,) = torch.autograd.grad(loss, [model.init_weights[1]])
    # first-order approximation: the gradient at the adapted weights, as if the inner steps were constant
    latents = model.encode(images).detach().requires_grad_(True)
    (at_adapted,) = torch.autograd.grad((model.decode(latents, grid) - target).pow(2).mean(), [latents])
    weights = model._prepare(at_adapted)
    first_order = weights[1].sum(dim=0)
    # a finite difference along the exact gradient agrees with it, not with the first-order one
    direction = exact / exact.norm()
    eps = 1e-5
    with torch.no_grad():
        model.init_weights[1] += eps * direction
    plus = outer_loss().item()
    with torch.no_grad():
        model.init_weights[1] -= 2 * eps * direction
    minus = outer_loss().item()
    numeric = (plus - minus) / (2 * eps)
    assert numeric == pytest.approx(float((exact * direction).sum()), rel=1e-4)
    assert abs(float((first_order * direction).sum()) - numeric) > 1e-3 * abs(numeric)


def test_encoding_is_first_order_and_detached_in_evaluation():
    model = _model().eval()
    latents = model.encode(_images(2, seed=1))
    assert latents.shape == (2, 1, model.latent_dim) and not latents.requires_grad
    with pytest.raises(ValueError, match="images"):
        _model(d_in=6)
