import numpy as np
import pytest
import torch
from PIL import Image

from ginr_data import (
    DatasetUnavailableError,
    ImageFolder,
    ImageLoadError,
    find_images,
    image_dataset,
    load_rgb,
    random_crop_flip,
    resize_center_crop,
)


def _save(path, mode="RGB", size=(40, 30), color=(200, 100, 50)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def test_greyscale_rgba_palette_cmyk_and_16bit_become_rgb(tmp_path):
    grey = load_rgb(_save(tmp_path / "grey.png", "L", color=77))
    assert grey.mode == "RGB" and grey.getpixel((0, 0)) == (77, 77, 77)
    # fully transparent pixels are composited on white, opaque ones keep their colour
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    rgba.putpixel((1, 1), (10, 20, 30, 255))
    rgba.save(tmp_path / "alpha.png")
    loaded = load_rgb(tmp_path / "alpha.png")
    assert loaded.getpixel((0, 0)) == (255, 255, 255) and loaded.getpixel((1, 1)) == (10, 20, 30)
    palette = Image.new("P", (4, 4), 3)
    palette.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 90, 180, 45] + [0] * (256 * 3 - 12))
    palette.save(tmp_path / "palette.png")
    assert load_rgb(tmp_path / "palette.png").getpixel((2, 2)) == (90, 180, 45)
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    red = load_rgb(tmp_path / "cmyk.jpg").getpixel((1, 1))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    sixteen = Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16))  # 32896 / 65535 * 255 = 128
    sixteen.save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    assert load_rgb(tmp_path / "sixteen.png").getpixel((0, 0)) == (128, 128, 128)  # scaled, not clipped to 255


def test_truncated_and_fake_images_raise_naming_the_file(tmp_path):
    good = _save(tmp_path / "good.jpg", size=(64, 64))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ImageLoadError, match="truncated.jpg: cannot read image"):
        load_rgb(truncated)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.png"):
        load_rgb(fake)


def test_find_images_is_recursive_and_case_insensitive(tmp_path):
    for name in ("a.JPG", "sub/b.png", "sub/deeper/c.webp", "d.jpeg"):
        _save(tmp_path / name)
    (tmp_path / "readme.txt").write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)] == [
        "a.JPG",
        "d.jpeg",
        "sub/b.png",
        "sub/deeper/c.webp",
    ]


def test_empty_and_missing_folders_raise(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images .* found under .*empty"):
        ImageFolder(tmp_path / "empty", resolution=8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_dataset(tmp_path / "missing", resolution=8)


def test_corrupt_files_are_skipped_and_counted_or_raise(tmp_path):
    _save(tmp_path / "0.png", color=(255, 0, 0))
    (tmp_path / "1.png").write_bytes(b"\x89PNG broken")
    _save(tmp_path / "2.png", color=(0, 0, 255))
    dataset = ImageFolder(tmp_path, resolution=8)
    with pytest.warns(UserWarning, match="skipping unreadable image .*1.png"):
        item = dataset[1]
    assert item["skipped"] == 1 and item["index"] == 1
    assert torch.allclose(item["image"][:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))  # the next readable image
    assert dataset[0]["skipped"] == 0
    strict = ImageFolder(tmp_path, resolution=8, on_error="raise")
    with pytest.raises(ImageLoadError, match="1.png"):
        strict[1]


def test_transforms_and_small_images():
    wide = Image.new("RGB", (60, 30), (0, 0, 0))
    wide.paste((255, 255, 255), (20, 0, 40, 30))  # a white band in the middle third
    crop = resize_center_crop(wide, 16)
    assert crop.size == (16, 16) and np.asarray(crop)[8, 8].min() > 200
    small = Image.new("RGB", (10, 6), (9, 9, 9))
    assert resize_center_crop(small, 32).size == (32, 32)
    rng = np.random.default_rng(0)
    assert random_crop_flip(small, 16, rng).size == (16, 16)  # smaller than the crop: resized first
    a = random_crop_flip(wide, 16, np.random.default_rng(3))
    b = random_crop_flip(wide, 16, np.random.default_rng(3))
    assert a.tobytes() == b.tobytes()


def test_outputs_are_float_tensors_in_unit_range(tmp_path):
    _save(tmp_path / "x.png", size=(50, 40), color=(255, 128, 0))
    item = image_dataset(tmp_path, resolution=24)[0]
    image = item["image"]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32
    assert torch.allclose(image[:, 5, 5], torch.tensor([1.0, 128 / 255, 0.0]))


def test_protocol_splits_by_file_number_and_subfolder(tmp_path):
    for i in (1, 162770, 162771, 182638, 202599):
        _save(tmp_path / "celeba" / f"{i:06d}.jpg", size=(20, 24))
    train = image_dataset(tmp_path / "celeba", "train", protocol="celeba-178")
    test = image_dataset(tmp_path / "celeba", "test", protocol="celeba-178")
    assert [f.name for f in train.files] == ["000001.jpg", "162770.jpg"]
    assert [f.name for f in test.files] == ["182638.jpg", "202599.jpg"]
    assert test[0]["image"].shape == (3, 178, 178)
    for split in ("train", "val"):
        _save(tmp_path / "imagenette" / split / "n01440764" / f"{split}.JPEG", size=(320, 240))
    nette_train = image_dataset(tmp_path / "imagenette", "train", protocol="imagenette-178")
    nette_test = image_dataset(tmp_path / "imagenette", "test", protocol="imagenette-178")
    assert nette_train.random_crop and not nette_test.random_crop
    assert nette_test.files[0].parent.parent.name == "val"
    with pytest.raises(ValueError, match="has no split 'val'"):
        image_dataset(tmp_path / "celeba", "val", protocol="ffhq-256")
    with pytest.raises(FileNotFoundError, match="ids listed in ginr_data/assets/ffhq_validation_ids.txt"):
        image_dataset(tmp_path / "celeba", "test", protocol="ffhq-256")


def test_ffhq_protocols_use_the_official_random_split(tmp_path):
    from ginr_data.protocols import shipped_ids

    validation = shipped_ids("ffhq_validation_ids.txt")
    assert len(validation) == 10_000 and min(validation) >= 0 and max(validation) <= 69_999
    assert sum(i >= 60_000 for i in validation) == 1_397  # the old file-number split held only these
    test_ids = sorted(validation)[:2] + sorted(i for i in validation if i >= 60_000)[:1]
    train_ids = [i for i in (1, 2, 3, 60_000, 60_001, 69_999) if i not in validation][:3]
    for i in test_ids + train_ids:
        _save(tmp_path / "ffhq" / f"{i:05d}.png", size=(16, 16))
    for resolution in (178, 256, 512, 1024):
        train = image_dataset(tmp_path / "ffhq", "train", protocol=f"ffhq-{resolution}", resolution=8)
        test = image_dataset(tmp_path / "ffhq", "test", protocol=f"ffhq-{resolution}", resolution=8)
        assert [int(f.stem) for f in train.files] == sorted(train_ids)
        assert [int(f.stem) for f in test.files] == sorted(test_ids)


def test_folder_with_split_subfolders_and_random_crops_are_seeded_per_epoch(tmp_path):
    for split in ("train", "test"):
        for k in range(3):
            _save(tmp_path / split / f"{k}.png", size=(64, 48), color=(k * 80, 10, 10))
    train = image_dataset(tmp_path, "train", resolution=16, train=True)
    assert len(train) == 3 and all(f.parent.name == "train" for f in train.files)
    folder = ImageFolder(tmp_path / "train", resolution=16, random_crop=True)
    Image.effect_noise((64, 48), 50).convert("RGB").save(folder.files[0])
    first = folder[0]["image"]
    assert torch.equal(first, folder[0]["image"])  # same epoch, same crop
    folder.set_epoch(1)
    assert not torch.equal(first, folder[0]["image"])  # a new epoch draws new crops


def test_saved_datasets_dir_and_offline_hub_id(tmp_path):
    datasets = pytest.importorskip("datasets")
    images = [Image.new("RGB", (20, 20), (i * 40, 0, 0)) for i in range(4)]
    ds = datasets.Dataset.from_dict({"picture": images, "label": [0, 1, 0, 1]})
    ds = ds.cast_column("picture", datasets.Image())
    datasets.DatasetDict({"train": ds, "test": ds.select([0, 1])}).save_to_disk(tmp_path / "saved")
    test = image_dataset(tmp_path / "saved", "test", resolution=8)
    assert len(test) == 2 and test[1]["image"].shape == (3, 8, 8)
    assert test[1]["image"][0, 0, 0].item() == pytest.approx(40 / 255)
    with pytest.raises(DatasetUnavailableError, match="offline.*HF_HUB_OFFLINE"):
        image_dataset("someone/some-images", "train", resolution=8)


def test_unknown_protocol_and_resolution_required(tmp_path):
    with pytest.raises(ValueError, match="unknown image protocol"):
        image_dataset(tmp_path, protocol="celeba-64")
    with pytest.raises(ValueError, match="pass resolution"):
        image_dataset(tmp_path)


def test_a_folder_of_only_unreadable_images_says_so_and_skips_are_attributed_to_files(tmp_path):
    for k in range(3):
        (tmp_path / f"{k}.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning), pytest.raises(ImageLoadError, match="all 3 images are unreadable") as caught:
        ImageFolder(tmp_path, resolution=8)[0]
    assert "consecutive" not in str(caught.value)
    _save(tmp_path / "3.png")
    dataset = ImageFolder(tmp_path, resolution=8)
    with pytest.warns(UserWarning):
        item = dataset[1]
    assert item["skipped"] == 2 and dataset.skipped_sources(item["index"], item["skipped"]) == [1, 2]


def test_a_corrupt_saved_dataset_folder_is_named(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"image": [Image.new("RGB", (8, 8))] * 2}).cast_column("image", datasets.Image())
    ds.save_to_disk(tmp_path / "saved")
    for arrow in (tmp_path / "saved").glob("*.arrow"):
        arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(DatasetUnavailableError, match="cannot read this saved `datasets` folder") as caught:
        image_dataset(tmp_path / "saved", "train", resolution=8)
    assert str(tmp_path / "saved") in str(caught.value)


def test_class_folders_give_labels_with_names_and_numbered_chunks_do_not(tmp_path):
    for name, count in (("tench", 2), ("goldfish", 3), ("shark", 1)):
        for i in range(count):
            _save(tmp_path / "pets" / name / f"{i}.png", size=(12, 12), color=(i * 30, 0, 0))
    pets = image_dataset(tmp_path / "pets", "train", resolution=8)
    assert pets.class_names == ["goldfish", "shark", "tench"]  # sorted, as torchvision's ImageFolder
    held_out = image_dataset(tmp_path / "pets", "test", resolution=8)  # a flat folder: a tenth held out, by file
    assert held_out.class_names == pets.class_names  # ids of the whole folder, also for a class held out whole
    items = [pets[i] for i in range(len(pets))] + [held_out[i] for i in range(len(held_out))]
    assert sorted(it["label"] for it in items) == [0, 0, 0, 1, 2, 2]
    # FFHQ's 00000/, 01000/ ... are chunks of one set, not classes; a flat folder has no classes either
    for chunk in ("00000", "01000"):
        _save(tmp_path / "ffhq" / chunk / f"{chunk}.png", size=(12, 12))
    assert image_dataset(tmp_path / "ffhq", "train", resolution=8).class_names is None
    assert "label" not in image_dataset(tmp_path / "ffhq", "train", resolution=8)[0]
    with pytest.raises(ValueError, match="not in one of the 2 class folders"):
        ImageFolder(tmp_path / "pets", 8, classes=["goldfish", "tench"])


def test_imagenet_protocols_number_classes_by_the_training_folders_and_read_synset_names(tmp_path):
    root = tmp_path / "imagenet"
    for synset in ("n01440764", "n01443537", "n01484850"):
        _save(root / "train" / synset / "a.JPEG", size=(300, 280))
    for synset in ("n01443537", "n01484850"):  # a validation split missing a class keeps the training ids
        _save(root / "val" / synset / "b.JPEG", size=(300, 280))
    val = image_dataset(root, "test", protocol="imagenet-256")
    assert [val[i]["label"] for i in range(len(val))] == [1, 2] and val.class_names[0] == "n01440764"
    (root / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01484850 great white shark\n"
    )
    named = image_dataset(root, "train", protocol="imagenet-256")
    assert named.class_names == ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark"]
    (root / "train" / "n01440764" / "a.JPEG").unlink()
    (root / "train" / "n01440764").rmdir()
    (root / "train" / "n01443537" / "a.JPEG").unlink()
    (root / "train" / "n01443537").rmdir()
    (root / "train" / "n01484850" / "a.JPEG").unlink()
    (root / "train" / "n01484850").rmdir()
    with pytest.raises(FileNotFoundError, match="has no class sub-folders"):
        image_dataset(root, "test", protocol="imagenet-256")


def test_a_classlabel_column_gives_labels_and_names(tmp_path):
    datasets = pytest.importorskip("datasets")
    images = [Image.new("RGB", (20, 20), (i * 40, 0, 0)) for i in range(4)]
    features = datasets.Features({"picture": datasets.Image(), "kind": datasets.ClassLabel(names=["cat", "dog"])})
    ds = datasets.Dataset.from_dict({"picture": images, "kind": [1, 0, 1, -1]}, features=features)
    ds.save_to_disk(tmp_path / "saved")
    loaded = image_dataset(tmp_path / "saved", "train", resolution=8)
    assert loaded.class_names == ["cat", "dog"] and [loaded[i]["label"] for i in range(3)] == [1, 0, 1]
    with pytest.raises(ValueError, match="row 3: label -1 in column 'kind' is not one of its 2 classes"):
        loaded[3]
    plain = datasets.Dataset.from_dict({"picture": images}, features=datasets.Features({"picture": datasets.Image()}))
    plain.save_to_disk(tmp_path / "plain")
    assert image_dataset(tmp_path / "plain", "train", resolution=8).class_names is None


def _write_photos(folder, count, size=12):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i:03d}.png")


def test_a_flat_folder_holds_out_a_seeded_test_split_disjoint_by_file(tmp_path):
    _write_photos(tmp_path / "flat", 25)
    train = image_dataset(tmp_path / "flat", "train", resolution=8, seed=3)
    test = image_dataset(tmp_path / "flat", "test", resolution=8, seed=7)
    assert len(train) == 22 and len(test) == 3  # a tenth of 25, rounded up
    plain = image_dataset(tmp_path / "flat", "train", resolution=8, train=False)  # e.g. a prior's encoding
    assert plain.files == train.files  # the training part, without augmentation
    assert not set(train.files) & set(test.files) and len(set(train.files) | set(test.files)) == 25
    again = image_dataset(tmp_path / "flat", "val", resolution=8, seed=99, test_fraction=0.1)
    assert again.files == test.files  # the same held-out files whatever the seed or the split's name
    assert test.held_out["files"] == [f.name for f in test.files] and test.held_out["of"] == 25
    assert "held-out part of a flat folder" in repr(test)
    half = image_dataset(tmp_path / "flat", "test", resolution=8, test_fraction=0.5)
    assert len(half) == 13
    _write_photos(tmp_path / "two", 2)
    assert len(image_dataset(tmp_path / "two", "test", resolution=8)) == 1  # at least one, and one to train on
    _write_photos(tmp_path / "one", 1)
    with pytest.raises(ValueError, match="needs at least 2 images"):
        image_dataset(tmp_path / "one", "test", resolution=8)


def test_a_missing_split_of_a_folder_with_split_folders_is_refused_by_name(tmp_path):
    _write_photos(tmp_path / "data" / "train", 3)
    _write_photos(tmp_path / "data" / "validation", 2)
    assert len(image_dataset(tmp_path / "data", "validation", resolution=8)) == 2
    with pytest.raises(ValueError, match=r"split folders \['train', 'validation'\] but no 'test'"):
        image_dataset(tmp_path / "data", "test", resolution=8)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".bmp", ".gif", ".webp", ".jpg", ".png", ".ppm", ".tga"])
def test_every_format_pil_reads_is_found_and_loaded(tmp_path, suffix):
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)) for _ in range(2)]
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        path = tmp_path / "imgs" / f"x{i}{suffix.upper() if i else suffix}"
        if suffix == ".gif":  # an animation: its first frame is the image
            frames[0].save(path, save_all=True, append_images=frames[1:])
        else:
            frames[0].save(path)
    files = find_images(tmp_path / "imgs")
    assert len(files) == 2
    item = image_dataset(tmp_path / "imgs", "train", resolution=10)[0]["image"]
    assert item.shape == (3, 10, 10) and 0 <= float(item.min()) <= float(item.max()) <= 1


def test_a_hub_style_dataset_with_configs_and_data_files_loads_from_a_local_copy(tmp_path):
    root = tmp_path / "imagenette-like"
    for config, count in (("small", 3), ("large", 5)):
        _write_photos(root / config / "train", count, size=20)
        _write_photos(root / config / "validation", 2, size=20)
    (root / "README.md").write_text(
        "---\nconfigs:\n"
        + "".join(
            f"- config_name: {c}\n  data_files:\n  - split: train\n    path: {c}/train/*.png\n"
            f"  - split: validation\n    path: {c}/validation/*.png\n"
            for c in ("small", "large")
        )
        + "---\n# a dataset card with two configs, as frgfm/imagenette has\n"
    )
    small = image_dataset(root, "train", resolution=8, hub={"name": "small"})
    large = image_dataset(root, "validation", resolution=8, hub={"name": "large"})
    assert len(small) == 3 and len(large) == 2 and small[0]["image"].shape == (3, 8, 8)
    files = image_dataset(root, "train", resolution=8, hub={"data_files": {"train": "large/train/*.png"}})
    assert len(files) == 5
    with pytest.raises(DatasetUnavailableError, match="medium"):
        image_dataset(root, "train", resolution=8, hub={"name": "medium"})


def test_a_split_folder_of_any_name_and_a_flat_folder_read_by_role(tmp_path):
    _write_photos(tmp_path / "d" / "train", 3)
    _write_photos(tmp_path / "d" / "eval", 2)  # not a usual split name, but the folder of the split asked for
    assert len(image_dataset(tmp_path / "d", "eval", resolution=8)) == 2
    _write_photos(tmp_path / "flat", 20)
    training = image_dataset(tmp_path / "flat", "all", resolution=8, train=True)  # data.train_split=all
    held = image_dataset(tmp_path / "flat", "all", resolution=8, train=False)
    assert len(training) == 18 and len(held) == 2 and not set(training.files) & set(held.files)


def test_a_stream_read_in_one_pass_gives_labels_of_class_folders_and_none_for_split_folders(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("classes/train/cat", "classes/train/dog", "splits/train", "splits/test"):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (9, 11, 3), dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    labeled = image_dataset(tmp_path / "classes", resolution=8, streaming=True, passes=1, buffer_size=1, train=False)
    items = list(labeled)
    assert labeled.class_names == ["cat", "dog"] and sorted(item["label"] for item in items) == [0, 0, 0, 1, 1, 1]
    assert [item["index"] for item in items] == list(range(6)) and items[0]["image"].shape == (3, 8, 8)
    unlabeled = image_dataset(tmp_path / "splits", resolution=8, streaming=True, passes=2, buffer_size=1, train=False)
    items = list(unlabeled)
    assert len(items) == 6 and not any("label" in item for item in items)  # two passes of the 3 training images
    with pytest.raises(ValueError, match="passes must be >= 1"):
        image_dataset(tmp_path / "splits", resolution=8, streaming=True, passes=0)


def test_a_photo_with_an_exif_orientation_is_read_upright(tmp_path):
    from ginr_core import LocalityAwareINR, preprocess
    from ginr_data import load_rgb

    pixels = np.zeros((10, 30, 3), dtype=np.uint8)
    pixels[:, :10] = 255  # white on the left of the stored (landscape) pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": a phone held upright
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = load_rgb(tmp_path / "phone.jpg")
    assert shown.size == (10, 30)  # portrait, as a viewer shows it
    array = np.asarray(shown, dtype=int)
    assert array[:10].mean() > 200 and array[-10:].mean() < 50  # the white part is now on top
    model = LocalityAwareINR(image_size=16, patch_size=4, encoder_width=32, encoder_depth=1, encoder_heads=2,
                             hidden_dim=16, fourier_dim=16, num_latents=8)  # fmt: skip
    with Image.open(tmp_path / "phone.jpg") as raw:
        torch.testing.assert_close(preprocess(raw, model), preprocess(shown, model), atol=0.02, rtol=0)


def test_split_folders_number_their_classes_from_one_list_and_an_empty_class_folder_is_named(tmp_path):
    for split, names in (("train", ("bird", "cat", "dog")), ("test", ("cat", "dog"))):
        for name in names:
            _save(tmp_path / "pets" / split / name / "0.png", size=(12, 12))
    train = image_dataset(tmp_path / "pets", "train", resolution=8)
    with pytest.warns(UserWarning, match="no folder for class\\(es\\) bird of the 3 classes"):
        test = image_dataset(tmp_path / "pets", "test", resolution=8)
    assert train.class_names == test.class_names == ["bird", "cat", "dog"]
    assert [test[i]["label"] for i in range(len(test))] == [1, 2]  # test/cat is cat's id, not train's "bird"
    (tmp_path / "pets" / "test" / "bird").mkdir()  # an empty class folder is an error, not a class dropped
    with pytest.raises(ValueError, match=r"test/bird: the class folder 'bird' holds no images; add its images"):
        image_dataset(tmp_path / "pets", "test", resolution=8)
    (tmp_path / "flat" / "ant").mkdir(parents=True)  # also in a flat folder
    for name in ("bee", "cat"):
        _save(tmp_path / "flat" / name / "0.png", size=(12, 12))
        _save(tmp_path / "flat" / name / "1.png", size=(12, 12))
    with pytest.raises(ValueError, match=r"flat/ant: the class folder 'ant' holds no images"):
        image_dataset(tmp_path / "flat", "train", resolution=8)
