"""Ray geometry of posed pinhole cameras, and the Plücker embedding of rays (Sec. 4.2).

Conventions (Blender/NeRF, as the learnit ShapeNet renderings use them):

* ``cam2world`` is a ``(4, 4)`` camera-to-world matrix ``[[R, t], [0, 1]]``; the camera sits at
  ``t``, looks along its ``-z`` axis, with ``+y`` up and ``+x`` to the right of the image;
* pixel ``(row y, column x)`` is seen through its centre ``(x + 0.5, y + 0.5)``; with focal length
  ``f`` in pixels and the principal point at ``(W / 2, H / 2)`` the camera-frame direction is
  ``((x + 0.5 - W / 2) / f, -(y + 0.5 - H / 2) / f, -1)``, turned into the world by ``R``;
* a ray ``o + s d`` is embedded as the Plücker coordinates ``(d_hat, o x d_hat)``, ``d_hat = d / |d|``:
  six numbers that do not depend on which point ``o`` of the ray is used (the moment ``o x d_hat``
  is the same for every ``o + s d``). These are the ``d_in = 6`` coordinates of a light field.
* a model that renders volumes (the NeRF-style baselines) needs the camera centre and the
  unnormalised direction instead, ``(o, d)``: points along the ray are ``o + z d`` at depths ``z``
  measured along the camera axis. A family whose decoder reads rays as ``(o, d)`` says so in its
  ``ray_format`` class attribute (``RAY_FORMATS``); ``ray_format_of(model)`` reads it (Plücker when
  unsaid), and ``posed_rays`` and ``ray_coordinates`` give either.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "LIGHT_FIELD_CHANNELS",
    "RAY_DIM",
    "RAY_FORMATS",
    "camera_rays",
    "focal_from_fov",
    "look_at",
    "orbit_around",
    "orbit_poses",
    "plucker_rays",
    "posed_rays",
    "ray_coordinates",
    "ray_embedding",
    "ray_format_of",
]

RAY_DIM = 6  # Plücker coordinates of a ray: the d_in of a light field
LIGHT_FIELD_CHANNELS = 3 + RAY_DIM  # a support view: RGB plus the ray of each pixel
# how six numbers describe a ray: Plücker coordinates (light fields) or the camera centre and the
# unnormalised direction (volume rendering: the NeRF-style baselines' encoder input and queries)
RAY_FORMATS = ("plucker", "origin_direction")


def ray_format_of(model) -> str:
    """How a model (or model class) reads the six numbers of a ray: its family's ``ray_format``, or
    ``"plucker"`` (light fields) when the family does not say (volume rendering: ``"origin_direction"``)."""
    ray_format = getattr(model, "ray_format", "plucker")
    if ray_format not in RAY_FORMATS:
        raise ValueError(f"{getattr(model, '__name__', type(model).__name__)}.ray_format must be one of {RAY_FORMATS}")
    return ray_format


def focal_from_fov(camera_angle_x: float, width: int) -> float:
    """Focal length in pixels of a camera whose horizontal field of view is ``camera_angle_x`` radians."""
    if not 0 < camera_angle_x < math.pi:
        raise ValueError(f"camera_angle_x must be in (0, pi) radians, got {camera_angle_x!r}")
    return 0.5 * width / math.tan(0.5 * camera_angle_x)


def _focal(focal, cam2world: torch.Tensor) -> torch.Tensor:
    """A focal length per camera, shaped ``(..., 1, 1)`` to broadcast over the pixel grid."""
    focal = torch.as_tensor(focal, dtype=cam2world.dtype, device=cam2world.device)
    batch = cam2world.shape[:-2]
    if focal.dim() and focal.shape != batch:
        try:
            focal = focal.expand(batch)
        except RuntimeError:
            shape = tuple(focal.shape)
            raise ValueError(f"focal must be a scalar or one value per camera {tuple(batch)}, got {shape}") from None
    if (focal <= 0).any():
        raise ValueError("focal lengths must be positive (in pixels)")
    return focal.expand(batch)[..., None, None]


def camera_rays(cam2world: torch.Tensor, focal, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and directions of the rays through every pixel centre.

    Args:
        cam2world: ``(..., 4, 4)`` (or ``(..., 3, 4)``) camera-to-world matrices.
        focal: focal length in pixels, a scalar or one per camera ``(...)``.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        ``origins (..., H, W, 3)`` (the camera centre) and ``directions (..., H, W, 3)``, not
        normalised: the camera-frame direction has ``z = -1``, as the baselines use it.
    """
    if cam2world.dim() < 2 or cam2world.shape[-2:] not in ((4, 4), (3, 4)):
        raise ValueError(f"cam2world must be (..., 4, 4) camera-to-world matrices, got {tuple(cam2world.shape)}")
    if not cam2world.is_floating_point():
        cam2world = cam2world.float()
    f = _focal(focal, cam2world)
    rows = torch.arange(height, dtype=cam2world.dtype, device=cam2world.device) + 0.5
    cols = torch.arange(width, dtype=cam2world.dtype, device=cam2world.device) + 0.5
    y, x = torch.meshgrid(rows, cols, indexing="ij")  # (H, W)
    dx, dy = torch.broadcast_tensors((x - 0.5 * width) / f, -(y - 0.5 * height) / f)  # (..., H, W)
    d_cam = torch.stack([dx, dy, -torch.ones_like(dx)], -1)  # (..., H, W, 3)
    rotation, origin = cam2world[..., :3, :3], cam2world[..., :3, 3]
    directions = (d_cam.flatten(-3, -2) @ rotation.transpose(-1, -2)).view_as(d_cam)  # R d per pixel
    origins = origin[..., None, None, :].expand_as(directions)
    return origins, directions


def ray_embedding(origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates ``(d_hat, o x d_hat)`` of rays ``o + s d``: ``(..., 3), (..., 3) -> (..., 6)``."""
    d_hat = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.cat([d_hat, torch.linalg.cross(origins, d_hat, dim=-1)], dim=-1)


def plucker_rays(cam2world: torch.Tensor, focal, height: int, width: int) -> torch.Tensor:
    """The light-field coordinates of every pixel of posed views.

    Args:
        cam2world: ``(..., 4, 4)`` camera-to-world matrices (Blender/NeRF convention).
        focal: focal length in pixels, a scalar or one per camera ``(...)``.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        ``(..., H, W, 6)``: ``(d_hat, o x d_hat)`` of the ray through each pixel centre.
    """
    return ray_embedding(*camera_rays(cam2world, focal, height, width))


def ray_coordinates(origins: torch.Tensor, directions: torch.Tensor, ray_format: str = "plucker") -> torch.Tensor:
    """Rays ``o + s d`` as a model's six coordinates: ``(..., 3), (..., 3) -> (..., 6)``.

    ``ray_format`` is ``"plucker"`` (``ray_embedding``: light-field models) or
    ``"origin_direction"`` (``(o, d)`` as given: volume-rendering models).
    """
    if ray_format == "plucker":
        return ray_embedding(origins, directions)
    if ray_format == "origin_direction":
        return torch.cat(torch.broadcast_tensors(origins, directions), dim=-1)
    raise ValueError(f"ray_format must be one of {RAY_FORMATS}, got {ray_format!r}")


def posed_rays(cam2world: torch.Tensor, focal, height: int, width: int, ray_format: str = "plucker") -> torch.Tensor:
    """``(..., H, W, 6)``: the ray through every pixel centre of posed views, in ``ray_format``
    (see ``ray_coordinates``); ``posed_rays(..., "plucker")`` is ``plucker_rays``."""
    if ray_format not in RAY_FORMATS:
        raise ValueError(f"ray_format must be one of {RAY_FORMATS}, got {ray_format!r}")
    return ray_coordinates(*camera_rays(cam2world, focal, height, width), ray_format)


def look_at(eye: torch.Tensor, target: torch.Tensor | None = None, up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """Camera-to-world matrices ``(..., 4, 4)`` of cameras at ``eye (..., 3)`` looking at ``target``.

    The camera's ``-z`` axis points at the target and its ``+y`` axis is as close to ``up`` as
    possible (Blender/NeRF convention). ``target`` defaults to the origin.
    """
    eye = torch.as_tensor(eye, dtype=torch.float32) if not torch.is_tensor(eye) else eye
    target = torch.zeros_like(eye) if target is None else torch.as_tensor(target, dtype=eye.dtype).expand_as(eye)
    up = torch.as_tensor(up, dtype=eye.dtype, device=eye.device).expand_as(eye)
    back = eye - target  # +z of the camera points away from what it looks at
    if (back.norm(dim=-1) < 1e-9).any():
        raise ValueError("look_at: the eye coincides with the target")
    z = back / back.norm(dim=-1, keepdim=True)
    x = torch.linalg.cross(up, z, dim=-1)
    if (x.norm(dim=-1) < 1e-6).any():
        raise ValueError("look_at: the viewing direction is parallel to `up`; pass another up vector")
    x = x / x.norm(dim=-1, keepdim=True)
    y = torch.linalg.cross(z, x, dim=-1)
    pose = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    pose[..., :3, 0], pose[..., :3, 1], pose[..., :3, 2], pose[..., :3, 3] = x, y, z, eye
    pose[..., 3, 3] = 1.0
    return pose


def orbit_poses(
    num: int,
    radius: float,
    elevation_deg: float = 20.0,
    start_deg: float = 0.0,
    *,
    up=(0.0, 0.0, 1.0),
    start_direction=(1.0, 0.0, 0.0),
) -> torch.Tensor:
    """``(num, 4, 4)`` cameras evenly spaced on a circle around the origin, looking at it.

    The circle lies at ``elevation_deg`` above the plane orthogonal to ``up`` (default: z up); the
    first camera sits ``start_deg`` from ``start_direction`` (projected onto that plane), and the
    others follow counter-clockwise seen from ``up``.
    """
    up = torch.as_tensor(up, dtype=torch.float64)
    up = up / up.norm()
    start = torch.as_tensor(start_direction, dtype=torch.float64)
    start = start - (start @ up) * up
    if start.norm() < 1e-6:  # the start direction is along up: any direction in the plane
        start = torch.linalg.cross(up, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
        if start.norm() < 1e-6:
            start = torch.linalg.cross(up, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    a = start / start.norm()
    b = torch.linalg.cross(up, a)
    azimuth = torch.deg2rad(start_deg + torch.arange(num, dtype=torch.float64) * 360.0 / num)
    elevation = math.radians(elevation_deg)
    ring = torch.cos(azimuth)[:, None] * a + torch.sin(azimuth)[:, None] * b
    eye = radius * (math.cos(elevation) * ring + math.sin(elevation) * up)
    return look_at(eye.float(), up=up.float())


def orbit_around(poses: torch.Tensor, num: int, elevation_deg: float | None = None) -> torch.Tensor:
    """``(num, 4, 4)`` cameras circling the origin as the cameras ``poses (V, 4, 4)`` do.

    Around their mean up vector, at their mean distance and (unless given) mean elevation, starting
    at the first camera's azimuth: the orbit of a novel-view render from those support views.
    """
    poses = poses.double()
    up = poses[:, :3, 1].mean(0)
    up = up / up.norm()
    centres = poses[:, :3, 3]
    radius = float(centres.norm(dim=-1).mean())
    if elevation_deg is None:
        sines = (centres / centres.norm(dim=-1, keepdim=True) @ up).clamp(-1, 1)
        elevation_deg = math.degrees(float(torch.asin(sines).mean()))
    return orbit_poses(num, radius, elevation_deg, up=up, start_direction=centres[0])
