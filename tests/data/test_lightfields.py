"""Light-field data: the rendered default scenes and the learnit-layout loader, bad input included."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ginr_core import camera_rays, look_at, plucker_rays
from ginr_data import ImageLoadError, LightFieldDataset, LightFieldError, light_field_dataset, posed_views
from ginr_data.scenes import CAMERA_ANGLE_X, Primitive, default_scenes, render_object, shade_rays


def _sphere(radius: float, pattern: str = "solid") -> list[Primitive]:
    return [
        Primitive(
            kind="ellipsoid",
            center=np.zeros(3),
            rotation=np.eye(3),
            scale=np.full(3, radius),
            colors=np.array([[0.8, 0.2, 0.1], [0.1, 0.3, 0.9]]),
            pattern=pattern,
            axis=2,
            frequency=1.0,
        )
    ]


def test_a_rendered_sphere_covers_exactly_the_rays_that_pass_within_its_radius():
    poses = look_at(torch.tensor([[4.0, 0.0, 1.0], [0.0, -3.0, 2.0]], dtype=torch.float64))
    rgba = render_object(_sphere(0.7), poses, resolution=24, supersample=1)
    from ginr_core import focal_from_fov

    rays = plucker_rays(poses, focal_from_fov(CAMERA_ANGLE_X, 24), 24, 24)
    inside = rays[..., 3:].norm(dim=-1) < 0.7  # |o x d_hat| is the ray's distance from the centre
    hit = torch.from_numpy(rgba[..., 3] > 127)
    assert inside.sum() > 40
    margin = (rays[..., 3:].norm(dim=-1) - 0.7).abs() < 0.01  # rays grazing the silhouette may go either way
    assert ((hit == inside) | margin).all()


def test_the_colour_of_a_ray_does_not_depend_on_where_the_ray_starts():
    g = torch.Generator().manual_seed(0)
    origins, directions = camera_rays(look_at(torch.tensor([3.0, 1.0, 1.5], dtype=torch.float64)), 30.0, 16, 16)
    origins, directions = origins.reshape(-1, 3), directions.reshape(-1, 3)
    rng = np.random.default_rng(3)
    from ginr_data.scenes import random_object

    parts = random_object(rng)
    back = torch.rand(origins.shape[0], 1, generator=g, dtype=torch.float64)
    a = shade_rays(parts, origins, directions)
    b = shade_rays(parts, origins - back * directions, 2.0 * directions)  # further back, longer direction
    torch.testing.assert_close(a, b)
    assert a[:, 3].sum() > 10  # the object is in view


@pytest.mark.parametrize("category", ["chair", "table", "car", "lamp"])
def test_objects_of_a_category_share_their_parts_stand_upright_and_fit_the_view(category):
    from ginr_data.scenes import CATEGORIES, OBJECT_RADIUS, _surface_points, random_object

    assert set(CATEGORIES) == {"chair", "table", "car", "lamp"}
    counts = set()
    for k in range(20):
        parts = random_object(np.random.default_rng([7, k]), category)
        counts.add(len(parts))
        points = np.concatenate([_surface_points(p) for p in parts])
        assert np.linalg.norm(points, axis=1).max() == pytest.approx(OBJECT_RADIUS)  # normalised, as ShapeNet's
        assert points[:, 2].min() == pytest.approx(-points[:, 2].max(), abs=1e-9)  # centred in height
        for p in parts:  # upright: each part only turned about the vertical (wheels lie on their side)
            assert np.allclose(p.rotation.T @ p.rotation, np.eye(3))
            assert np.isclose(abs(p.rotation[2]).max(), 1.0)
    assert len(counts) <= 2  # a category's objects have the same parts (a chair's arms are optional)


def test_rendered_scenes_are_in_the_learnit_layout_and_deterministic(tiny_scenes, tmp_path):
    splits = json.loads((tiny_scenes / "shape_splits.json").read_text())
    assert len(splits["train"]) == 6 and len(splits["test"]) == 2 and not set(splits["train"]) & set(splits["test"])
    meta = json.loads((tiny_scenes / "shapes" / splits["test"][0] / "transforms.json").read_text())
    assert meta["camera_angle_x"] == CAMERA_ANGLE_X and len(meta["frames"]) == 8
    pose = np.array(meta["frames"][0]["transform_matrix"])
    np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-6)
    png = Image.open(tiny_scenes / "shapes" / splits["test"][0] / (meta["frames"][0]["file_path"] + ".png"))
    assert png.mode == "RGBA" and png.size == (16, 16)
    alpha = np.asarray(png)[..., 3]
    assert 0 < (alpha > 0).mean() < 0.9  # an object on a transparent background
    from ginr_data.scenes import render_scenes

    again = render_scenes(tmp_path / "again", num_train=6, num_test=2, views=8, resolution=16)
    first = tiny_scenes / "shapes" / splits["train"][3] / "r_005.png"
    assert first.read_bytes() == (again / "shapes" / splits["train"][3] / "r_005.png").read_bytes()


def test_default_scenes_render_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GINR_CACHE", str(tmp_path))
    root = default_scenes(8, num_train=2, num_test=1, views=3)
    assert root.parent == tmp_path and (root / "shape_splits.json").is_file()
    stamp = (root / "shape_splits.json").stat().st_mtime_ns
    assert default_scenes(8, num_train=2, num_test=1, views=3) == root
    assert (root / "shape_splits.json").stat().st_mtime_ns == stamp  # reused, not rendered again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_items_hold_support_views_with_their_rays_and_the_query_view(tiny_scenes):
    data = LightFieldDataset(tiny_scenes, "shapes", "test", num_support=3, repeats=4)
    assert len(data) == 2 * 4 and data.resolution == 16
    item = data[5]
    assert item["support"].shape == (3, 9, 16, 16) and item["query_rays"].shape == (256, 6)
    assert item["query_rgb"].shape == (256, 3) and len(set(item["views"].tolist())) == 4
    # channels 3..8 are the Plücker rays of each support camera, the query rays those of the query camera
    rays = plucker_rays(item["support_poses"], item["focal"], 16, 16).permute(0, 3, 1, 2)
    torch.testing.assert_close(item["support"][:, 3:], rays)
    torch.testing.assert_close(item["query_rays"], plucker_rays(item["query_pose"], item["focal"], 16, 16).view(-1, 6))
    # the query colours are the query view's pixels, row-major, composited on white
    obj = data.objects[5 // 4]
    view = data.load_view(obj, int(item["views"][-1]))
    torch.testing.assert_close(item["query_rgb"], view.permute(1, 2, 0).reshape(-1, 3))
    rgba = np.asarray(Image.open(obj["frames"][int(item["views"][-1])]), dtype=np.float32) / 255
    composited = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    np.testing.assert_allclose(view.permute(1, 2, 0).numpy(), composited, atol=1 / 255 + 1e-6)
    # evaluation draws are fixed; each repeat of an object draws other views
    torch.testing.assert_close(data[5]["support"], item["support"])
    assert not torch.equal(data[4]["views"], item["views"])


def test_training_draws_from_the_first_views_afresh_each_epoch(tiny_scenes):
    data = LightFieldDataset(tiny_scenes, "shapes", "train", num_support=2, query_rays=50, train_views=4, seed=1)
    assert data.train and len(data) == 6
    seen = set()
    for epoch in range(6):
        data.set_epoch(epoch)
        for i in range(len(data)):
            views = data[i]["views"]
            assert views.max() < 4 and len(set(views.tolist())) == 3
            seen.add((epoch, tuple(views.tolist())))
    item = data[0]
    assert item["query_rays"].shape == (50, 6) and item["query_rgb"].shape == (50, 3)
    data.set_epoch(2)
    first = data[3]
    data.set_epoch(3)
    later = data[3]
    assert not torch.equal(first["views"], later["views"]) or not torch.equal(first["query_rays"], later["query_rays"])
    data.set_epoch(2)
    torch.testing.assert_close(data[3]["query_rays"], first["query_rays"])  # reproducible: resumable


def test_resolution_rescales_views_and_focal(tiny_scenes):
    data = LightFieldDataset(tiny_scenes, "shapes", "test", num_support=1, repeats=1, resolution=8)
    item = data[0]
    assert item["support"].shape == (1, 9, 8, 8)
    full = LightFieldDataset(tiny_scenes, "shapes", "test", num_support=1, repeats=1)[0]
    # the centre ray direction is the same at any resolution
    assert item["focal"] == pytest.approx(full["focal"] / 2)


def test_views_come_from_memory_once_read_within_the_cache_budget(tiny_scenes, tmp_path):
    root = tmp_path / "scenes"
    shutil.copytree(tiny_scenes, root)
    kwargs = {"num_support": 2, "repeats": 3, "resolution": 8}
    plain = LightFieldDataset(root, "shapes", "test", cache_bytes=0, **kwargs)
    cached = LightFieldDataset(root, "shapes", "test", **kwargs)
    budget = LightFieldDataset(root, "shapes", "test", cache_bytes=3 * 8 * 8 * 3, **kwargs)  # three 8 px views
    expected = [plain[i] for i in range(len(plain))]
    first = [cached[i] for i in range(len(cached))]
    [budget[i] for i in range(len(budget))]
    assert len(budget._cached) == 3 and budget._cached_bytes == 3 * 8 * 8 * 3 and not plain._cached
    for path in root.glob("shapes/*/*.png"):  # the files change: views already read still come from memory
        Image.new("RGB", Image.open(path).size, "black").save(path)
    for before, item, again in zip(expected, first, (cached[i] for i in range(len(cached))), strict=True):
        for key in ("support", "query_rays", "query_rgb"):
            assert torch.equal(item[key], before[key]) and torch.equal(again[key], before[key])
    assert plain[0]["query_rgb"].max() == 0  # uncached: read afresh
    with pytest.raises(ValueError, match="cache_bytes must be >= 0, got -1"):
        LightFieldDataset(root, "shapes", "test", cache_bytes=-1)


def test_posed_views_from_a_users_transforms(tiny_scenes):
    obj_dir = next((tiny_scenes / "shapes").iterdir())
    given = posed_views(obj_dir / "transforms.json", [0, 2])
    assert given["support"].shape == (2, 9, 16, 16) and given["poses"].shape == (2, 4, 4)
    with pytest.raises(LightFieldError, match="frame 9 does not exist"):
        posed_views(obj_dir / "transforms.json", [9])
    with pytest.raises(LightFieldError, match="not found"):
        posed_views(obj_dir / "nothing.json")


# ---------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def copy(tiny_scenes, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_scenes, root)
    splits = json.loads((root / "shape_splits.json").read_text())
    return root, splits


def test_empty_object_folders_are_skipped_with_a_warning(copy):
    root, splits = copy
    (root / "shapes" / "empty").mkdir()
    splits["train"].append("empty")
    splits["train"].append("absent")
    (root / "shape_splits.json").write_text(json.dumps(splits))
    with pytest.warns(UserWarning, match="skipped 2 empty or missing"):
        data = LightFieldDataset(root, "shapes", "train")
    assert len(data.objects) == 6


def test_a_folder_without_transforms_json_is_named(copy):
    root, splits = copy
    (root / "shapes" / splits["train"][1] / "transforms.json").unlink()
    with pytest.raises(LightFieldError, match=rf"{splits['train'][1]}/transforms.json is missing"):
        LightFieldDataset(root, "shapes", "train")


def test_a_non_rigid_camera_matrix_is_named(copy):
    root, splits = copy
    path = root / "shapes" / splits["test"][0] / "transforms.json"
    meta = json.loads(path.read_text())
    meta["frames"][3]["transform_matrix"][0][0] *= 2.0
    path.write_text(json.dumps(meta))
    with pytest.raises(LightFieldError, match=r"frame 3 transform_matrix .* not orthonormal"):
        LightFieldDataset(root, "shapes", "test")


def test_missing_fields_and_splits_are_named(copy, tmp_path):
    root, splits = copy
    with pytest.raises(LightFieldError, match="car_splits.json not found"):
        LightFieldDataset(root, "cars", "train")
    with pytest.raises(LightFieldError, match="no split 'val'"):
        LightFieldDataset(root, "shapes", "val")
    path = root / "shapes" / splits["test"][1] / "transforms.json"
    meta = json.loads(path.read_text())
    del meta["camera_angle_x"]
    path.write_text(json.dumps(meta))
    with pytest.raises(LightFieldError, match="missing field 'camera_angle_x'"):
        LightFieldDataset(root, "shapes", "test")


def test_more_views_than_an_object_has(tiny_scenes):
    with pytest.raises(LightFieldError, match=r"6 views are needed \(5 support \+ 1 query\) but the first 4"):
        LightFieldDataset(tiny_scenes, "shapes", "train", num_support=5, train_views=4)


def test_missing_or_wrongly_sized_views_are_named_or_skipped(copy):
    root, splits = copy
    victim = root / "shapes" / splits["train"][0]
    (victim / "r_001.png").unlink()
    Image.new("RGBA", (20, 20)).save(victim / "r_002.png")
    strict = LightFieldDataset(root, "shapes", "train", num_support=7, train_views=8, on_error="raise")
    with pytest.raises(ImageLoadError, match=r"r_00[12]\.png"):
        strict[0]  # every view of object 0 is read: the missing or the wrongly sized one fails first
    lenient = LightFieldDataset(root, "shapes", "train", num_support=7, train_views=8)
    with pytest.warns(UserWarning, match="skipping an object"):
        item = lenient[0]
    assert item["skipped"] == 1 and item["object"] == splits["train"][1]


def test_source_errors(tmp_path):
    from ginr_data import DatasetUnavailableError

    with pytest.raises(DatasetUnavailableError, match="learnit"):
        light_field_dataset(tmp_path / "nowhere", "train", category="cars")
    with pytest.raises(LightFieldError, match="one category"):
        light_field_dataset("scenes", "train", category="cars")


def _edit_transforms(root, object_id, edit):
    path = root / "shapes" / object_id / "transforms.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.update(frames={"a": 1}), "frames must be a list"),
        (lambda m: m["frames"].__setitem__(2, "r_002"), "frame 2 needs file_path and transform_matrix"),
        (
            lambda m: m["frames"][1].update(transform_matrix=[[1, 0, 0], [0, 1], [0, 0, 1, 0]]),
            "frame 1 transform_matrix",
        ),
        (lambda m: m["frames"][1].update(transform_matrix=[["a"] * 4] * 4), "frame 1 transform_matrix"),
        (lambda m: m.update(camera_angle_x="wide"), "camera_angle_x must be"),
        (lambda m: m.update(camera_angle_x=0), "camera_angle_x must be"),
        (lambda m: m.update(camera_angle_x=-0.5), "camera_angle_x must be"),
        (lambda m: m["frames"][0].update(file_path="../../elsewhere/r_000"), "leaves the object's folder"),
        (lambda m: m["frames"][0].update(file_path=7), "file_path must be a file name"),
    ],
)
def test_type_errors_in_transforms_json_name_the_file_when_the_dataset_opens(copy, edit, expected):
    root, splits = copy
    victim = splits["test"][-1]  # the last object: opening the dataset must check it, not the first draw of it
    path = _edit_transforms(root, victim, edit)
    with pytest.raises(LightFieldError, match=expected) as caught:
        LightFieldDataset(root, "shapes", "test")
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ("abc", "must be a list of object ids"),
        ([["nested"]], "must be a list of object ids"),
        (["../shapes/x"], "not folder names"),
        ([".."], "not folder names"),
        (None, "must be a list of object ids"),
    ],
)
def test_bad_ids_in_the_splits_file_are_named(copy, ids, expected):
    root, splits = copy
    (root / "shape_splits.json").write_text(json.dumps({**splits, "train": ids}))
    with pytest.raises(LightFieldError, match=expected) as caught:
        LightFieldDataset(root, "shapes", "train")
    assert "shape_splits.json" in str(caught.value)


def test_duplicate_object_ids_are_refused(copy):
    root, splits = copy
    (root / "shape_splits.json").write_text(json.dumps({**splits, "train": splits["train"] + splits["train"][:1]}))
    with pytest.raises(LightFieldError, match=rf"more than once: \['{splits['train'][0]}'\]"):
        LightFieldDataset(root, "shapes", "train")


def test_non_square_views_are_refused_not_stretched(copy):
    root, splits = copy
    for object_id in splits["train"]:
        for png in (root / "shapes" / object_id).glob("*.png"):
            with Image.open(png) as image:
                image.crop((0, 0, image.width, image.height // 2)).save(png)
    with pytest.raises(LightFieldError, match="square views are needed"):
        LightFieldDataset(root, "shapes", "train")


def test_the_official_training_protocol_two_items_per_object_and_adaptive_rays_in_epochs_0_and_1(tiny_scenes):
    # adaptive_epochs=2, the paper's configs' value (tests/apps/test_config.py): the official `epoch <= 1`
    data = LightFieldDataset(tiny_scenes, "shapes", "train", query_rays=16, repeats=2, adaptive_epochs=2)
    assert len(data) == 2 * len(data.objects)
    assert data[0]["object"] == data[1]["object"] and not torch.equal(data[0]["views"], data[1]["views"])
    full = LightFieldDataset(tiny_scenes, "shapes", "train", repeats=2)

    def foreground_share(epoch: int) -> float:
        data.set_epoch(epoch)
        full.set_epoch(epoch)
        shares = []
        for i in range(len(data)):
            picked = data[i]["query_rgb"]
            pixels = full[i]["query_rgb"]
            if (pixels < 1).any(-1).float().mean() < 0.4:  # objects that cover less than 40 % of the view
                shares.append((picked < 1).any(-1).float().mean().item())
        return sum(shares) / len(shares)

    assert foreground_share(0) >= 0.5 and foreground_share(1) >= 0.5  # half the rays on the object or more
    assert foreground_share(2) < 0.45 and foreground_share(3) < 0.45  # uniform from epoch 2


def test_a_small_foreground_is_topped_up_with_repeats_and_a_blank_view_drawn_uniformly(tiny_scenes):
    data = LightFieldDataset(tiny_scenes, "shapes", "train", query_rays=16, adaptive_epochs=2)
    rgb = torch.ones(64, 3)
    rgb[[5, 17, 40], 0] = 0.2  # an object of 3 pixels, fewer than half of the 16 rays
    picks = data._pick_rays(rgb, np.random.default_rng(0))
    assert len(picks) == 16 and set(picks[:8].tolist()) == {5, 17, 40}  # all of it, repeated up to 8 rays
    assert len(set(picks[8:].tolist())) == 8  # the other half uniform, without repeats
    blank = data._pick_rays(torch.ones(64, 3), np.random.default_rng(0))
    assert len(blank) == 16 and len(set(blank.tolist())) == 16
