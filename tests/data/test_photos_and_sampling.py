import pytest
import torch
import torch.nn.functional as F

from ginr_core import image_coords, psnr
from ginr_data import (
    PHOTO_SPLITS,
    EmbeddedPhotos,
    PhotoCrops,
    augment_images,
    image_dataset,
    jitter_coords,
    sample_pixels,
)


def test_photos_are_real_split_by_photograph_and_deterministic():
    assert not set(PHOTO_SPLITS["train"]) & set(PHOTO_SPLITS["test"])
    train, test = image_dataset("photos", "train"), image_dataset("photos", "test")
    assert isinstance(train, EmbeddedPhotos) and len(train) == 50_000 and len(test) == 256
    assert {test.region(i)[0] for i in range(len(test))} == set(PHOTO_SPLITS["test"])
    item = test[5]
    assert item["image"].shape == (3, 32, 32) and item["image"].min() >= 0 and item["image"].max() <= 1
    assert torch.equal(item["image"], EmbeddedPhotos("test")[5]["image"])
    assert not torch.equal(item["image"], EmbeddedPhotos("test", seed=1)[5]["image"])
    # photographs, not flat colour: crops vary within themselves
    assert torch.stack([test[i]["image"] for i in range(32)]).std(dim=(2, 3)).mean() > 0.03
    assert not test.flip and train.flip


def test_photos_render_the_same_region_at_any_resolution():
    test = EmbeddedPhotos("test", resolution=32)
    small = torch.stack([test.render(i) for i in range(16)])
    big = torch.stack([test.render(i, 128) for i in range(16)])
    assert big.shape == (16, 3, 128, 128)
    assert psnr(F.avg_pool2d(big, 4), small).mean() > 30  # the same content, 4x finer
    assert EmbeddedPhotos("test", resolution=64)[3]["image"].shape == (3, 64, 64)


def test_full_grid_is_shared_and_matches_pixels():
    images = torch.rand(2, 3, 6, 5)
    coords, targets = sample_pixels(images, None)
    assert coords.shape == (1, 30, 2) and targets.shape == (2, 30, 3)
    assert torch.equal(coords[0], image_coords(6, 5).view(-1, 2))
    assert torch.equal(targets[1, 5 * 2 + 3], images[1, :, 2, 3])  # row 2, column 3


def test_subsampling_draws_a_fresh_fraction_per_image():
    images = torch.rand(3, 3, 20, 20)
    generators = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    coords, targets = sample_pixels(images, 0.1, generators)
    assert coords.shape == (3, 40, 2) and targets.shape == (3, 40, 3)
    assert not torch.equal(coords[0], coords[1])
    # every target is the colour of the pixel whose centre was drawn
    rows = ((coords[..., 0] + 1) * 10 - 0.5).round().long()
    cols = ((coords[..., 1] + 1) * 10 - 0.5).round().long()
    for b in range(3):
        assert torch.equal(targets[b], images[b][:, rows[b], cols[b]].T)
        assert len(set((rows[b] * 20 + cols[b]).tolist())) == 40  # without replacement
    again, _ = sample_pixels(images, 0.1, [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    assert torch.equal(again, coords)


def test_jitter_stays_within_the_pixel():
    grid = image_coords(8, 8).view(1, -1, 2)
    jittered = jitter_coords(grid, 8, 8, [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)])
    offset = (jittered - grid).abs()
    assert jittered.shape == (2, 64, 2) and offset.max() <= 1 / 8 and offset.mean() > 1 / 64
    coords, _ = sample_pixels(torch.rand(2, 3, 8, 8), None, [torch.Generator().manual_seed(s) for s in (0, 1)], True)
    assert torch.allclose(coords, jittered)


def test_one_jitter_for_the_batch_keeps_the_grid_shared():
    images = torch.rand(3, 3, 8, 8)
    coords, targets = sample_pixels(images, None, None, jitter=True, batch_generator=torch.Generator().manual_seed(4))
    grid = image_coords(8, 8).view(1, -1, 2)
    assert coords.shape == (1, 64, 2) and targets.shape == (3, 64, 3)
    assert 0 < (coords - grid).abs().max() <= 1 / 8
    # subsampling still draws per image, with the per-image generators
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    sub, _ = sample_pixels(images, 0.5, gens, jitter=True, batch_generator=torch.Generator().manual_seed(4))
    assert sub.shape == (3, 32, 2)


def test_the_smooth_split_holds_smooth_non_constant_crops_of_the_test_photographs():
    from ginr_data.photos import SMOOTH_GRADIENT, SMOOTH_MIN_STD

    smooth = EmbeddedPhotos("smooth")
    assert len(smooth) == 64 and set(PHOTO_SPLITS["smooth"]) <= set(PHOTO_SPLITS["test"])

    def gradient(images):
        rows = (images[:, :, 1:] - images[:, :, :-1]).abs().mean((1, 2, 3))
        return rows + (images[..., 1:] - images[..., :-1]).abs().mean((1, 2, 3))

    images = torch.stack([smooth[i]["image"] for i in range(16)])
    assert (gradient(images) < SMOOTH_GRADIENT).all() and (images.std((1, 2, 3)) > SMOOTH_MIN_STD).all()
    random_test = torch.stack([EmbeddedPhotos("test")[i]["image"] for i in range(16)])
    assert gradient(random_test).median() > 2 * SMOOTH_GRADIENT  # random crops are mostly textured
    # deterministic, the same regions at any resolution
    assert torch.equal(EmbeddedPhotos("smooth")[5]["image"], smooth[5]["image"])
    assert smooth.render(5, 64).shape == (3, 64, 64)  # the same region at any resolution
    assert image_dataset("photos", "smooth", train=False)[0]["image"].shape == (3, 32, 32)


def test_a_share_of_training_crops_can_come_from_smooth_regions():
    from ginr_data.photos import _is_smooth

    plain, mixed = EmbeddedPhotos("train"), EmbeddedPhotos("train", smooth_fraction=0.5)
    changed = [i for i in range(100) if mixed.region(i) != plain.region(i)]
    assert 30 < len(changed) < 70  # about half the crops, each decided by its own seeded draw
    pixels = [(mixed.render(i) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for i in changed[:10]]
    assert all(map(_is_smooth, pixels))
    assert not all(_is_smooth((plain.render(i) * 255).round().byte().permute(1, 2, 0).numpy()) for i in changed[:10])
    assert {mixed.region(i)[0] for i in changed} <= set(PHOTO_SPLITS["train"])  # never a test photograph
    with pytest.raises(ValueError, match="smooth_fraction must be in"):
        EmbeddedPhotos("train", smooth_fraction=1.5)
    with pytest.raises(ValueError, match="embedded photos"):
        image_dataset("/nonexistent", "train", resolution=8, smooth_fraction=0.2)


def test_photo_crops_of_any_photographs_reach_the_whole_photograph_when_unbounded():
    from PIL import Image

    from ginr_data.photos import photo

    wide = Image.new("RGB", (300, 200), (10, 200, 30))
    crops = PhotoCrops({"wide": wide, "coffee": photo("coffee")}, resolution=16, size=200, max_zoom_out=None)
    sides = [box[2] - box[0] for _, box, _ in map(crops.region, range(200))]
    assert min(sides) >= 16 and max(sides) > 180 and crops[0]["image"].shape == (3, 16, 16)
    bounded = PhotoCrops({"coffee": photo("coffee")}, resolution=16, size=200, max_zoom_out=2)
    assert max(box[2] - box[0] for _, box, _ in map(bounded.region, range(200))) <= 32
    assert PhotoCrops({"coffee": photo("coffee")}, stream=1).region(3) != PhotoCrops(
        {"coffee": photo("coffee")}
    ).region(3)
    # the embedded test split is PhotoCrops of its photographs in its own stream
    same = PhotoCrops({n: photo(n) for n in PHOTO_SPLITS["test"]}, resolution=32, size=256, stream=1)
    assert torch.equal(same[7]["image"], EmbeddedPhotos("test")[7]["image"])
    with pytest.raises(ValueError, match="at least one photograph"):
        PhotoCrops({})


def test_a_crop_of_a_whole_photograph_is_the_direct_bicubic_resampling_within_quantisation():
    import numpy as np
    from PIL import Image

    from ginr_data.photos import photo

    crops = PhotoCrops({"coffee": photo("coffee")}, resolution=32, size=64, max_zoom_out=None)
    worst = float("inf")
    for index in range(64):
        name, box, flipped = crops.region(index)
        direct = photo(name).resize((32, 32), Image.Resampling.BICUBIC, box=box)
        direct = direct.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flipped else direct
        reference = torch.from_numpy(np.asarray(direct).transpose(2, 0, 1).astype(np.float32) / 255)
        worst = min(worst, psnr(crops[index]["image"][None], reference[None]).item())
    assert worst > 45  # the whole-factor reduction first (reducing_gap) moves pixels by a few grey levels at most


def test_augmentation_is_per_image_reproducible_and_keeps_pixels_in_range():
    images = torch.rand(6, 3, 8, 8)

    def generators(seed):
        return [torch.Generator().manual_seed(seed * 100 + k) for k in range(6)]

    assert torch.equal(augment_images(images, generators(0)), images)
    turned = augment_images(images, generators(0), dihedral=True)
    transforms = [torch.rot90(images, k, dims=(-2, -1)) for k in range(4)]
    transforms += [t.flip(-1) for t in transforms]
    for k in range(6):  # each image gets one of the 8 symmetries of the square
        assert any(torch.equal(turned[k], t[k]) for t in transforms)
    assert not torch.equal(turned, images)
    coloured = augment_images(images, generators(1), colour=0.3, channel_permutation=True)
    assert coloured.min() >= 0 and coloured.max() <= 1 and not torch.allclose(coloured, images, atol=0.02)
    assert torch.equal(coloured, augment_images(images, generators(1), colour=0.3, channel_permutation=True))
    # an image's draw is its own: the same image and generator in another batch gets the same result
    alone = augment_images(images[2:3], generators(1)[2:3], colour=0.3, channel_permutation=True)
    assert torch.equal(alone[0], coloured[2])
    # exposure and white balance change the mean colour by up to the strength's factor, not more
    ratio = coloured.mean(dim=(2, 3)).sum(1) / images.mean(dim=(2, 3)).sum(1)
    assert ((ratio > 0.3) & (ratio < 3)).all()
    with pytest.raises(ValueError, match="one generator per image"):
        augment_images(images, generators(0)[:2])
    with pytest.raises(ValueError, match="square"):
        augment_images(torch.rand(1, 3, 4, 6), generators(0)[:1], dihedral=True)
