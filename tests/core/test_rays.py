import math

import pytest
import torch

from ginr_core import camera_rays, focal_from_fov, look_at, orbit_poses, plucker_rays, ray_embedding


def _random_poses(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    eye = torch.randn(n, 3, generator=g, dtype=torch.float64)
    eye = 4.0 * eye / eye.norm(dim=-1, keepdim=True)
    return look_at(eye, torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.2)


def test_plucker_rays_shape_unit_directions_and_orthogonal_moment():
    poses = _random_poses(5)
    rays = plucker_rays(poses, focal=40.0, height=12, width=16)
    assert rays.shape == (5, 12, 16, 6)
    d, m = rays[..., :3], rays[..., 3:]
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(5, 12, 16, dtype=torch.float64))
    torch.testing.assert_close((d * m).sum(-1), torch.zeros(5, 12, 16, dtype=torch.float64), atol=1e-12, rtol=0)


def test_plucker_embedding_does_not_depend_on_the_point_of_the_ray():
    origins, directions = camera_rays(_random_poses(3), focal=20.0, height=8, width=8)
    shift = torch.linspace(-3, 5, 8 * 8, dtype=torch.float64).view(1, 8, 8, 1)
    moved = ray_embedding(origins + shift * directions, directions)
    torch.testing.assert_close(moved, ray_embedding(origins, directions))
    # the direction's length does not matter either, its sign does
    torch.testing.assert_close(ray_embedding(origins, 7.5 * directions), ray_embedding(origins, directions))
    assert not torch.allclose(ray_embedding(origins, -directions), ray_embedding(origins, directions))


def test_rays_hit_known_points_where_an_independent_pinhole_projection_puts_them():
    height, width, fov = 30, 40, 0.7
    focal = focal_from_fov(fov, width)
    pose = _random_poses(1, seed=3)[0]
    world_to_cam = torch.linalg.inv(pose)
    g = torch.Generator().manual_seed(1)
    points = torch.randn(50, 3, generator=g, dtype=torch.float64) * 0.5
    cam = (world_to_cam[:3, :3] @ points.T).T + world_to_cam[:3, 3]
    assert (cam[:, 2] < 0).all()  # in front of the camera (it looks along -z)
    # textbook projection: u = W/2 + f x / (-z), v = H/2 - f y / (-z), pixel = floor of (u, v)
    u = width / 2 + focal * cam[:, 0] / -cam[:, 2]
    v = height / 2 - focal * cam[:, 1] / -cam[:, 2]
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    assert inside.sum() > 40
    origins, directions = camera_rays(pose, focal, height, width)
    rays = ray_embedding(origins, directions)
    for p, uu, vv in zip(points[inside], u[inside], v[inside]):
        col, row = int(uu), int(vv)
        # the point lies on a ray through its pixel: its distance to that ray is below half a pixel
        d_hat, m = rays[row, col, :3], rays[row, col, 3:]
        distance_to_line = (torch.linalg.cross(p, d_hat) - m).norm()
        depth = (p - pose[:3, 3]).norm()
        assert distance_to_line < depth * 0.75 / focal
        # and the exact sub-pixel ray (same formula, fractional pixel) passes through it
        d_cam = torch.tensor([(uu - width / 2) / focal, -(vv - height / 2) / focal, -1.0], dtype=torch.float64)
        d = pose[:3, :3] @ d_cam
        t = (p - pose[:3, 3]) @ d / (d @ d)
        torch.testing.assert_close(pose[:3, 3] + t * d, p)


def test_the_central_ray_looks_at_the_target_and_up_is_up():
    pose = look_at(torch.tensor([3.0, 0.0, 1.0]))
    _origins, directions = camera_rays(pose, focal=100.0, height=2, width=2)
    centre = directions.mean(dim=(0, 1))
    torch.testing.assert_close(centre / centre.norm(), -pose[:3, 3] / pose[:3, 3].norm())
    assert directions[0, 0, 2] > directions[1, 0, 2]  # the top row looks higher (world z up)
    torch.testing.assert_close(pose[:3, :3] @ pose[:3, :3].T, torch.eye(3), atol=1e-6, rtol=0)
    assert torch.det(pose[:3, :3]) > 0


def test_per_camera_focal_lengths_and_orbits():
    poses = orbit_poses(6, radius=2.0, elevation_deg=30.0)
    assert poses.shape == (6, 4, 4)
    torch.testing.assert_close(poses[:, :3, 3].norm(dim=-1), torch.full((6,), 2.0))
    torch.testing.assert_close(poses[:, 2, 3], torch.full((6,), 2.0 * math.sin(math.radians(30))))
    rays = plucker_rays(poses, torch.tensor([10.0, 20, 30, 40, 50, 60]), 4, 4)
    one = plucker_rays(poses[2], 30.0, 4, 4)
    torch.testing.assert_close(rays[2], one)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plucker_rays(torch.eye(3), 10.0, 4, 4), r"\(\.\.\., 4, 4\)"),
        (lambda: plucker_rays(torch.eye(4).expand(2, 4, 4), torch.ones(3), 4, 4), "one value per camera"),
        (lambda: plucker_rays(torch.eye(4), -1.0, 4, 4), "positive"),
        (lambda: focal_from_fov(4.0, 10), "camera_angle_x"),
        (lambda: look_at(torch.tensor([0.0, 0.0, 2.0])), "parallel"),
    ],
)
def test_bad_camera_arguments_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()
