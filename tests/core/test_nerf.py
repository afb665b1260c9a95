"""The NeRF-style IPC and TransINR (Fig. 4a's baselines) and the volume rendering they share."""

import math

import pytest
import torch

from ginr_core import NeRFIPC, NeRFTransINR, camera_rays, look_at, posed_rays, ray_embedding, ray_format_of
from ginr_core.models.nerf import VolumeRendering
from ginr_core.volume import composite, ray_depths, ray_points

NERF = ["ipc_nerf", "transinr_nerf"]


# ------------------------------------------------------------------ volume rendering on analytic scenes
class SphereField:
    """A constant-density sphere of one colour: raw outputs whose composite has a closed form."""

    def __init__(self, radius: float, density: float, colour: torch.Tensor):
        self.radius, self.density, self.colour = radius, density, colour

    def _decode(self, state, points: torch.Tensor) -> torch.Tensor:  # (b, N, 3) -> (1, N, 4)
        inside = (points.norm(dim=-1) < self.radius).float()
        logits = torch.logit(self.colour).expand(*points.shape[:-1], 3)
        # relu(raw) is the density: +density inside, a negative number (density 0) outside
        return torch.cat([logits, (self.density * (2 * inside - 1)).unsqueeze(-1)], -1)


class RenderedSphere(VolumeRendering, SphereField):
    def __init__(self, near, far, points, **sphere):
        SphereField.__init__(self, **sphere)
        self.near, self.far, self.points_per_ray, self.training = near, far, points, False


def _rays(count: int = 5):
    """Rays from a camera at distance 4 through an 8 x 8 grid (some miss a radius-1 sphere)."""
    pose = look_at(torch.tensor([0.0, -4.0, 0.0]))
    origins, directions = camera_rays(pose, 6.0, 8, 8)
    return origins.reshape(1, -1, 3)[:, ::count], directions.reshape(1, -1, 3)[:, ::count]


def test_the_composite_of_a_constant_density_sphere_is_exact():
    colour = torch.tensor([0.2, 0.6, 0.9])
    density, near, far, points = 3.0, 2.0, 6.0, 128
    sphere = RenderedSphere(near, far, points, radius=1.0, density=density, colour=colour)
    origins, directions = _rays(1)
    rendered = sphere._decode(None, torch.cat([origins, directions], -1))[0]  # (64, 3)

    # the discrete model exactly: transmittance through the inside points' intervals, the rest white
    depths = torch.linspace(near, far, points, dtype=torch.float64)
    intervals = torch.cat([depths.diff(), torch.tensor([1e-3], dtype=torch.float64)])
    pts = ray_points(origins[0].double(), directions[0].double(), depths.expand(64, -1))
    inside = pts.norm(dim=-1) < 1.0
    through = torch.exp(-density * (intervals * inside).sum(-1))  # the white background's share
    expected = (1 - through)[:, None] * colour.double() + through[:, None]
    torch.testing.assert_close(rendered.double(), expected, atol=1e-4, rtol=0)
    missed = ~inside.any(-1)
    assert missed.any() and (~missed).any()
    assert torch.equal(rendered[missed], torch.ones(int(missed.sum()), 3))  # empty space shows the background

    # and the discrete sum approaches the continuous integral: 1 - exp(-sigma * chord length)
    dense = RenderedSphere(near, far, 8192, radius=1.0, density=density, colour=colour)
    fine = dense._decode(None, torch.cat([origins, directions], -1))[0]
    o, d = origins[0].double(), directions[0].double()
    d_hat = d / d.norm(dim=-1, keepdim=True)
    closest = (o - (o * d_hat).sum(-1, keepdim=True) * d_hat).norm(dim=-1)
    chord = 2 * (1.0 - closest.square()).clamp_min(0).sqrt()
    alpha = 1 - torch.exp(-density * chord)
    continuous = alpha[:, None] * colour.double() + (1 - alpha)[:, None]
    torch.testing.assert_close(fine.double(), continuous, atol=3e-3, rtol=0)


def test_an_opaque_sphere_shows_its_colour_and_transmittance_multiplies_along_the_ray():
    colour = torch.tensor([0.3, 0.5, 0.7])
    raw = torch.zeros(1, 6, 4)
    raw[..., :3] = torch.logit(colour)
    raw[0, 2, 3] = 1e4  # one opaque point: everything behind it is hidden, nothing of the background
    depths = torch.linspace(2, 6, 6).expand(1, 6)
    torch.testing.assert_close(composite(raw, depths)[0], colour)
    raw[0, 2, 3], raw[0, 1, 3], raw[0, 4, 3] = -1.0, 0.5, 2.0  # two half-transparent points
    delta = 0.8
    a1, a4 = 1 - math.exp(-0.5 * delta), 1 - math.exp(-2.0 * delta)
    weights = torch.tensor([a1, (1 - a1) * a4])
    expected = weights.sum() * colour + (1 - weights.sum())
    torch.testing.assert_close(composite(raw, depths)[0], expected, atol=1e-6, rtol=0)


def test_ray_depths_are_stratified_in_training_and_fixed_in_evaluation():
    fixed = ray_depths((2, 3), 2.0, 6.0, 5)
    assert torch.equal(fixed[1, 2], torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0]))
    generator = torch.Generator().manual_seed(0)
    jittered = ray_depths((2, 3), 2.0, 6.0, 5, jitter=True, generator=generator)
    offset = jittered - fixed
    assert (offset >= 0).all() and (offset < 1.0).all() and offset.std() > 0.1  # within each interval
    again = ray_depths((2, 3), 2.0, 6.0, 5, jitter=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(jittered, again)
    with pytest.raises(ValueError, match="near < far"):
        ray_depths((1,), 3.0, 2.0, 4)


# ------------------------------------------------------------------ the families
def _views_and_rays(model, batch=2, rays=40):
    generator = torch.Generator().manual_seed(3)
    views = torch.rand(batch, model.num_views, 9, 16, 16, generator=generator)
    origins = torch.randn(batch, rays, 3, generator=generator) * 0.1 + torch.tensor([0.0, -3.0, 0.0])
    directions = torch.randn(batch, rays, 3, generator=generator) * 0.2 + torch.tensor([0.0, 1.0, 0.0])
    return views, torch.cat([origins, directions], -1)


@pytest.mark.parametrize("family", NERF)
def test_shapes_fewer_views_and_colours_in_range(tiny, family):
    model = tiny(family).eval()
    views, rays = _views_and_rays(model)
    latents = model.encode(views)
    assert latents.shape == (2, model.num_latents, model.latent_dim)
    out = model.decode(latents, rays)
    assert out.shape == (2, 40, 3) and ((out >= 0) & (out <= 1)).all()  # a composite of sigmoids over white
    assert model(views[:, :1], rays).shape == (2, 40, 3)
    assert ray_format_of(model) == "origin_direction" and model.evaluations_per_coordinate == 8


@pytest.mark.parametrize("family", NERF)
@pytest.mark.parametrize("shared", [True, False])
def test_chunked_rendering_equals_unchunked(tiny, family, shared):
    model = tiny(family).eval()
    views, rays = _views_and_rays(model)
    rays = rays[:1] if shared else rays
    latents = model.encode(views)
    with torch.no_grad():
        full = model.decode(latents, rays)
        for chunk in (1, 8, 9, 24, 320, 10_000):  # points per chunk: 8 points per ray
            torch.testing.assert_close(model.decode(latents, rays, chunk_size=chunk), full, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", NERF)
def test_every_parameter_gets_a_gradient_through_the_jittered_rendering(tiny, family):
    model = tiny(family).train()
    views, rays = _views_and_rays(model)
    torch.manual_seed(0)
    first = model(views, rays)
    first.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"{name} got no gradient"
    torch.manual_seed(0)
    assert torch.equal(model(views, rays), first)  # the jitter comes from the (seeded) global generator
    assert not torch.equal(model(views, rays), first)


def test_official_settings_and_decoder_layout():
    with torch.device("meta"):
        ipc, transinr = NeRFIPC(), NeRFTransINR()
    for model in (ipc, transinr):
        assert (model.near, model.far, model.points_per_ray, model.output_bias) == (2.0, 6.0, 128, 0.0)
        features = model.fourier_features
        assert (features.d_in, features.d_f, features.scale) == (3, 120, 1.0)
        assert torch.allclose(features.frequencies(), 2 ** torch.linspace(0, 8, 20), rtol=1e-5)
        assert model.num_patches == 256 and model.in_channels == 9 and model.d_in == 6
        assert len(model.layers) == 6 and model.layers[-1].bias.shape == (4,)
    assert ipc.num_latents == 256 and ipc.modulated_layer == 1
    assert transinr.num_latents == 5 * 32 + 4  # 32 tokens per 256-wide layer, 4 for the 4-wide output layer


def test_bad_settings_and_inputs_are_named(tiny):
    with pytest.raises(ValueError, match="near must be smaller than far"):
        tiny("ipc_nerf", near=3.0, far=2.0)
    with pytest.raises(ValueError, match="d_in=6 and d_out=3"):
        tiny("transinr_nerf", d_in=2)
    with pytest.raises(ValueError, match="points_per_ray"):
        tiny("ipc_nerf", points_per_ray=1)
    model = tiny("ipc_nerf")
    latents = model.encode(torch.rand(1, 2, 9, 16, 16))
    with pytest.raises(ValueError, match=r"coordinates of shape \(1, N, 6\)"):
        model.decode(latents, torch.rand(1, 10, 2))


def test_posed_rays_in_both_formats():
    pose = look_at(torch.tensor([1.0, -3.0, 1.0]))
    origins, directions = camera_rays(pose, 10.0, 4, 6)
    both = posed_rays(pose, 10.0, 4, 6, "origin_direction")
    assert both.shape == (4, 6, 6) and torch.equal(both[..., :3], origins) and torch.equal(both[..., 3:], directions)
    torch.testing.assert_close(posed_rays(pose, 10.0, 4, 6), ray_embedding(origins, directions))
    with pytest.raises(ValueError, match="ray_format must be one of"):
        posed_rays(pose, 10.0, 4, 6, "pluecker")
