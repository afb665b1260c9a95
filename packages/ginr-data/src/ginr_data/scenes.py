"""The embedded default light-field data: procedurally built, textured 3D objects that ginr renders.

Each object belongs to one of four categories, as ShapeNet's objects do (chairs, tables, cars,
lamps): the objects of a category share their parts (a chair's seat, back and legs; a car's body,
cabin and four wheels) with varied proportions, colours and textures (solid, two halves, stripes,
checkers). Parts are ellipsoids, boxes and capped cylinders; every object stands upright in a
canonical frame (+x forward, z up) and is normalised in size. Lambertian shading under a fixed
light makes the colour seen along a ray depend only on the point it hits: a true light field.
Views are rendered by exact ray casting (analytic ray-primitive intersections, 2 x 2
supersampling for anti-aliased edges) from cameras at random positions on a sphere band around
the object, looking at its centre, which fills most of the view, on a transparent background,
and written in the learnit ShapeNet
layout so that ``LightFieldDataset`` reads them exactly like the real data::

    <root>/shapes/<object id>/transforms.json      camera_angle_x, frames[{file_path, transform_matrix}]
    <root>/shapes/<object id>/r_000.png ...        RGBA, composited on white when read
    <root>/shape_splits.json                       {"train": [ids], "test": [ids]}

Everything is a function of the seed; ``default_scenes()`` renders once into a cache directory
(``$GINR_CACHE``, else ``~/.cache/ginr``) and reuses it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ginr_core import camera_rays, focal_from_fov, look_at

from .cache import cache_dir

__all__ = ["CATEGORIES", "SCENES_VERSION", "default_scenes", "random_object", "render_object", "render_scenes"]

SCENES_VERSION = 4  # bump when the generator changes: cached renderings of other versions are not reused
CATEGORY = "shapes"
CAMERA_RADIUS = 3.0  # the object fills most of the view, as in the ShapeNet renderings
CAMERA_ANGLE_X = 0.6  # radians
OBJECT_RADIUS = 0.95  # the furthest surface point from the centre, in world units
ELEVATION_RANGE = (-15.0, 65.0)  # degrees; world z is up
LIGHT = np.array([0.45, 0.3, 0.84]) / np.linalg.norm([0.45, 0.3, 0.84])
PATTERNS = ("solid", "halves", "stripes", "checker")


@dataclass
class Primitive:
    kind: str  # ellipsoid | box | cylinder (unit shapes in their local frame, then scaled)
    center: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3) local -> world
    scale: np.ndarray  # (3,) half-extents
    colors: np.ndarray  # (2, 3) in [0, 1]
    pattern: str
    axis: int  # the local axis that halves and stripes follow
    frequency: float  # stripes / checkers per unit of local coordinate


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_WHEEL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # a cylinder's axis along world y


def _colour(rng: np.random.Generator) -> np.ndarray:
    return 0.1 + 0.8 * rng.uniform(size=3)


def _part(rng, kind, center, scale, colour, *, rotation=None, textured=False) -> Primitive:
    """One part: ``colour`` ``(3,)``, and on a ``textured`` part sometimes a pattern in a second colour."""
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))] if textured and rng.uniform() < 0.6 else "solid"
    return Primitive(
        kind=kind,
        center=np.asarray(center, dtype=float),
        rotation=np.eye(3) if rotation is None else rotation,
        scale=np.asarray(scale, dtype=float),
        colors=np.stack([colour, _colour(rng)]),
        pattern=pattern,
        axis=int(rng.integers(3)),
        frequency=float(rng.choice([1.0, 1.5, 2.0])),
    )


def _legs(rng, half_x, half_y, height, colour) -> list[Primitive]:
    """Four legs from the ground (z = 0) to ``height``, at the corners of a ``half_x`` x ``half_y`` top."""
    kind = "box" if rng.uniform() < 0.5 else "cylinder"
    r = rng.uniform(0.03, 0.06)
    inset = rng.uniform(0.0, 0.08)
    return [
        _part(rng, kind, [sx * (half_x - r - inset), sy * (half_y - r - inset), height / 2], [r, r, height / 2], colour)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def _chair(rng: np.random.Generator) -> list[Primitive]:
    w, d = rng.uniform(0.3, 0.5, size=2)
    seat_z, thick = rng.uniform(0.35, 0.55), rng.uniform(0.04, 0.08)
    back_h, back_t = rng.uniform(0.25, 0.55), rng.uniform(0.03, 0.07)
    frame = _colour(rng)
    seat = _colour(rng) if rng.uniform() < 0.6 else frame  # a cushion of another colour, or all one
    parts = _legs(rng, w, d, seat_z - thick, frame)
    parts.append(_part(rng, "box", [0, 0, seat_z], [w, d, thick], seat, textured=True))
    parts.append(_part(rng, "box", [-w + back_t, 0, seat_z + back_h], [back_t, d, back_h], seat, textured=True))
    if rng.uniform() < 0.35:  # arms
        arm_z = seat_z + rng.uniform(0.15, 0.25)
        parts += [_part(rng, "box", [0, s * (d - 0.03), arm_z], [w, 0.03, 0.03], frame) for s in (-1, 1)]
    return parts


def _table(rng: np.random.Generator) -> list[Primitive]:
    w, d = rng.uniform(0.45, 0.7), rng.uniform(0.3, 0.55)
    top_z, thick = rng.uniform(0.35, 0.6), rng.uniform(0.03, 0.07)
    wood = _colour(rng)
    legs = _colour(rng) if rng.uniform() < 0.5 else wood
    round_top = rng.uniform() < 0.3
    top = _part(
        rng, "cylinder" if round_top else "box", [0, 0, top_z], [w, w if round_top else d, thick], wood, textured=True
    )
    if round_top or rng.uniform() < 0.25:  # a pedestal on a foot
        foot = rng.uniform(0.2, 0.35)
        return [
            top,
            _part(rng, "cylinder", [0, 0, top_z / 2], [0.06, 0.06, top_z / 2], legs),
            _part(rng, "cylinder", [0, 0, 0.03], [foot, foot, 0.03], legs),
        ]
    return [top, *_legs(rng, w, d, top_z - thick, legs)]


def _car(rng: np.random.Generator) -> list[Primitive]:
    length, width = rng.uniform(0.7, 0.95), rng.uniform(0.32, 0.45)
    wheel_r, wheel_w = rng.uniform(0.12, 0.18), rng.uniform(0.05, 0.08)
    body_h = rng.uniform(0.12, 0.2)
    body_z = wheel_r + body_h * rng.uniform(0.2, 0.8)
    paint, rubber = _colour(rng), np.full(3, rng.uniform(0.08, 0.25))
    cabin_l, cabin_h = length * rng.uniform(0.35, 0.6), rng.uniform(0.1, 0.18)
    cabin_x = rng.uniform(-0.4, 0.2) * (length - cabin_l)
    glass = _colour(rng) * 0.5 if rng.uniform() < 0.5 else paint
    wheel_x = length - wheel_r - rng.uniform(0.02, 0.12)
    parts = [
        _part(rng, "box", [0, 0, body_z], [length, width, body_h], paint, textured=True),
        _part(rng, "box", [cabin_x, 0, body_z + body_h + cabin_h], [cabin_l, width * 0.9, cabin_h], glass),
    ]
    parts += [
        _part(
            rng,
            "cylinder",
            [sx * wheel_x, sy * (width - wheel_w * 0.5), wheel_r],
            [wheel_r, wheel_r, wheel_w],
            rubber,
            rotation=_WHEEL,
        )
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    return parts


def _lamp(rng: np.random.Generator) -> list[Primitive]:
    base_r, base_h = rng.uniform(0.18, 0.35), rng.uniform(0.03, 0.07)
    pole_h, pole_r = rng.uniform(0.25, 0.55), rng.uniform(0.025, 0.05)
    shade_r, shade_h = rng.uniform(0.2, 0.4), rng.uniform(0.12, 0.25)
    metal, shade = _colour(rng), _colour(rng)
    base_kind = "cylinder" if rng.uniform() < 0.7 else "box"
    parts = [
        _part(rng, base_kind, [0, 0, base_h], [base_r, base_r, base_h], metal),
        _part(rng, "cylinder", [0, 0, 2 * base_h + pole_h], [pole_r, pole_r, pole_h], metal),
    ]
    shade_kind = "cylinder" if rng.uniform() < 0.6 else "ellipsoid"
    shade_z = 2 * base_h + 2 * pole_h + shade_h * rng.uniform(0.3, 0.9)
    parts.append(_part(rng, shade_kind, [0, 0, shade_z], [shade_r, shade_r, shade_h], shade, textured=True))
    return parts


CATEGORIES = {"chair": _chair, "table": _table, "car": _car, "lamp": _lamp}


def random_object(rng: np.random.Generator, category: str | None = None) -> list[Primitive]:
    """An object of one of the ``CATEGORIES`` (drawn at random unless named), standing in a canonical frame.

    As in ShapeNet, objects of a category share their parts (a chair's seat, legs and back; a car's
    body, cabin and wheels) with varied proportions, colours and textures, and all stand upright
    facing the same way (+x forward, z up, a small random turn), which gives the data a frame and
    shapes a network can learn. Each object is normalised as ShapeNet's models are: centred on the
    origin and scaled so that its furthest surface point lies at ``OBJECT_RADIUS``.
    """
    category = category or list(CATEGORIES)[int(rng.integers(len(CATEGORIES)))]
    parts = CATEGORIES[category](rng)
    points = np.concatenate([_surface_points(p) for p in parts])
    centre = (points.min(0) + points.max(0)) / 2
    scale = OBJECT_RADIUS / np.linalg.norm(points - centre, axis=1).max()
    turn = _yaw(rng.uniform(-0.15, 0.15))
    for p in parts:
        p.center = scale * turn @ (p.center - centre)
        p.rotation = turn @ p.rotation
        p.scale = scale * p.scale
    return parts


def _surface_points(part: Primitive, n: int = 64) -> np.ndarray:
    """``(K, 3)`` world points on a part's surface: a box's corners, a cylinder's rims, a net of an ellipsoid."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if part.kind == "box":
        local = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    elif part.kind == "cylinder":  # the two rims
        rim = np.stack([np.cos(angle), np.sin(angle)], -1)
        local = np.concatenate([np.c_[rim, np.full(n, z)] for z in (-1.0, 1.0)])
    else:  # a latitude-longitude net of the unit sphere
        lat = np.linspace(-np.pi / 2, np.pi / 2, n // 2 + 1)[:, None]
        local = np.stack([np.cos(lat) * np.cos(angle), np.cos(lat) * np.sin(angle), np.sin(lat) + 0 * angle], -1)
        local = local.reshape(-1, 3)
    return part.center + (local * part.scale) @ part.rotation.T


def _intersect(kind: str, o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest positive hit of rays ``o + t d`` (local frame, ``(N, 3)``) with the unit shape.

    Returns ``t (N,)`` (``inf`` where missed) and the local normal ``(N, 3)`` (unnormalised).
    """
    inf = torch.full(o.shape[:1], math.inf, dtype=o.dtype)
    if kind == "ellipsoid":  # |p| = 1
        a, b, c = (d * d).sum(-1), 2 * (o * d).sum(-1), (o * o).sum(-1) - 1
        disc = b * b - 4 * a * c
        root = torch.sqrt(disc.clamp_min(0))
        t = torch.where((disc >= 0) & ((-b - root) > 0), (-b - root) / (2 * a), inf)
        return t, o + t.nan_to_num(posinf=0)[:, None] * d
    if kind == "box":  # max |p_i| = 1, slab method
        safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
        t1, t2 = (-1 - o) / safe, (1 - o) / safe
        near, far = torch.minimum(t1, t2).amax(-1), torch.maximum(t1, t2).amin(-1)
        t = torch.where((far >= near) & (near > 0), near, inf)
        p = o + t.nan_to_num(posinf=0)[:, None] * d
        axis = p.abs().argmax(-1)
        normal = torch.zeros_like(p).scatter_(1, axis[:, None], p.gather(1, axis[:, None]).sign())
        return t, normal
    # capped cylinder: x^2 + y^2 = 1, |z| <= 1
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2 * (o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1])
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - 1
    disc = b * b - 4 * a * c
    t_side = (-b - torch.sqrt(disc.clamp_min(0))) / (2 * a.clamp_min(1e-12))
    z = o[:, 2] + t_side * d[:, 2]
    t_side = torch.where((disc >= 0) & (a > 1e-12) & (t_side > 0) & (z.abs() <= 1), t_side, inf)
    dz = torch.where(d[:, 2].abs() < 1e-12, torch.full_like(d[:, 2], 1e-12), d[:, 2])
    t_cap = torch.minimum((-1 - o[:, 2]) / dz, (1 - o[:, 2]) / dz)
    p_cap = o + t_cap[:, None] * d
    t_cap = torch.where((t_cap > 0) & (p_cap[:, 0] ** 2 + p_cap[:, 1] ** 2 <= 1), t_cap, inf)
    t = torch.minimum(t_side, t_cap)
    p = o + t.nan_to_num(posinf=0)[:, None] * d
    side_normal = torch.stack([p[:, 0], p[:, 1], torch.zeros_like(p[:, 0])], -1)
    cap_normal = torch.stack([torch.zeros_like(p[:, 0]), torch.zeros_like(p[:, 0]), p[:, 2].sign()], -1)
    return t, torch.where((t_side <= t_cap)[:, None], side_normal, cap_normal)


def _texture(part: Primitive, p: torch.Tensor) -> torch.Tensor:
    """Colour ``(N, 3)`` at local points ``p (N, 3)``."""
    c1, c2 = (torch.as_tensor(c, dtype=p.dtype) for c in part.colors)
    if part.pattern == "solid":
        first = torch.ones_like(p[:, 0], dtype=torch.bool)
    elif part.pattern == "halves":
        first = p[:, part.axis] > 0
    elif part.pattern == "stripes":
        first = torch.sin(math.pi * part.frequency * p[:, part.axis]) > 0
    else:  # checker
        first = torch.sin(math.pi * part.frequency * p).prod(-1) > 0
    return torch.where(first[:, None], c1, c2)


def shade_rays(parts: list[Primitive], origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """RGBA ``(N, 4)`` of world rays ``(N, 3)``: the colour of the first surface hit, alpha 0 if none."""
    best = torch.full(origins.shape[:1], math.inf, dtype=origins.dtype)
    rgb = torch.zeros(origins.shape[0], 3, dtype=origins.dtype)
    light = torch.as_tensor(LIGHT, dtype=origins.dtype)
    for part in parts:
        rotation = torch.as_tensor(part.rotation, dtype=origins.dtype)
        center = torch.as_tensor(part.center, dtype=origins.dtype)
        scale = torch.as_tensor(part.scale, dtype=origins.dtype)
        o = ((origins - center) @ rotation) / scale  # world -> local unit shape
        d = (directions @ rotation) / scale
        t, normal = _intersect(part.kind, o, d)
        nearer = t < best
        if not nearer.any():
            continue
        p = o + t.nan_to_num(posinf=0)[:, None] * d
        world_normal = (normal / scale) @ rotation.T  # normals transform with the inverse transpose
        world_normal = world_normal / world_normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        shade = 0.45 + 0.55 * (world_normal @ light).clamp_min(0)
        colour = _texture(part, p) * shade[:, None]
        best = torch.where(nearer, t, best)
        rgb = torch.where(nearer[:, None], colour, rgb)
    alpha = torch.isfinite(best).to(origins.dtype)
    return torch.cat([rgb * alpha[:, None], alpha[:, None]], -1)


def render_object(parts: list[Primitive], poses: torch.Tensor, resolution: int, supersample: int = 2) -> np.ndarray:
    """``(V, H, W, 4)`` uint8 RGBA views (straight alpha) of an object from ``poses (V, 4, 4)``."""
    s = supersample
    focal = focal_from_fov(CAMERA_ANGLE_X, resolution * s)
    origins, directions = camera_rays(poses.float(), focal, resolution * s, resolution * s)
    rgba = shade_rays(parts, origins.reshape(-1, 3), directions.reshape(-1, 3))
    rgba = rgba.view(len(poses), resolution, s, resolution, s, 4).mean(dim=(2, 4))  # premultiplied box filter
    alpha = rgba[..., 3:]
    rgb = torch.where(alpha > 0, rgba[..., :3] / alpha.clamp_min(1e-12), torch.zeros_like(rgba[..., :3]))
    out = torch.cat([rgb, alpha], -1).clamp(0, 1)
    return (out * 255).round().to(torch.uint8).numpy()


def _camera_positions(rng: np.random.Generator, num: int) -> torch.Tensor:
    azimuth = rng.uniform(0, 2 * np.pi, size=num)
    low, high = np.sin(np.radians(ELEVATION_RANGE))
    elevation = np.arcsin(rng.uniform(low, high, size=num))  # uniform over the sphere's band
    eye = CAMERA_RADIUS * np.stack(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], -1
    )
    return torch.from_numpy(eye)


def render_scenes(
    root: str | os.PathLike,
    *,
    num_train: int = 300,
    num_test: int = 30,
    views: int = 50,
    resolution: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Render ``num_train + num_test`` objects with ``views`` views each into ``root`` (learnit layout)."""
    root = Path(root)
    folder = root / CATEGORY
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"obj{k:05d}" for k in range(num_train + num_test)]
    for k, object_id in enumerate(tqdm(ids, desc="rendering scenes", unit="object", disable=not progress)):
        rng = np.random.default_rng([seed, k])
        parts = random_object(rng)
        poses = look_at(_camera_positions(rng, views))
        images = render_object(parts, poses, resolution)
        target = folder / object_id
        target.mkdir(exist_ok=True)
        frames = []
        for v in range(views):
            Image.fromarray(images[v], mode="RGBA").save(target / f"r_{v:03d}.png")
            frames.append({"file_path": f"./r_{v:03d}", "transform_matrix": poses[v].tolist()})
        meta = {"camera_angle_x": CAMERA_ANGLE_X, "frames": frames}
        (target / "transforms.json").write_text(json.dumps(meta))
    splits = {"train": ids[:num_train], "test": ids[num_train:]}
    (root / "shape_splits.json").write_text(json.dumps(splits))
    return root


def default_scenes(
    resolution: int = 32, *, num_train: int = 300, num_test: int = 30, views: int = 50, seed: int = 0
) -> Path:
    """The embedded default scenes, rendered on first use into the cache and reused afterwards.

    Returns the dataset root (category ``"shapes"``). Rendering is atomic: a half-written cache is
    never used (it is written to a temporary folder and renamed into place).
    """
    name = f"scenes-v{SCENES_VERSION}-{resolution}px-{num_train}+{num_test}x{views}-seed{seed}"
    final = cache_dir() / name
    if (final / "shape_splits.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        print(f"rendering the default scenes once into {final} ...", flush=True)
        render_scenes(
            tmp, num_train=num_train, num_test=num_test, views=views, resolution=resolution, seed=seed, progress=True
        )
        try:
            tmp.rename(final)
        except OSError:  # another process finished first
            if not (final / "shape_splits.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
