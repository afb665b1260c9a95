import sys

import pytest
import torch

from ginr_data import EmbeddedDigits, image_dataset


def test_embedded_digits_are_labeled_stratified_and_disjoint():
    train, test = image_dataset("digits", "train"), image_dataset("digits", "test")
    assert isinstance(train, EmbeddedDigits) and (len(train), len(test)) == (1442, 355)
    assert not set(train.ids.tolist()) & set(test.ids.tolist())
    counts = torch.bincount(torch.tensor([test.label(i) for i in range(len(test))]), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 36  # every class, in proportion
    item = train[3]
    assert item["image"].shape == (3, 32, 32) and item["image"].min() >= 0 and item["image"].max() <= 1
    assert torch.equal(item["image"][0], item["image"][2])  # grey
    assert item["image"][:, 0, 0].mean() > 0.9  # light ground, dark ink
    assert train.render(3, 64).shape == (3, 64, 64) and image_dataset("digits", "test", size=5).__len__() == 5
    with pytest.raises(ValueError, match="choose train or test"):
        EmbeddedDigits("val")
    with pytest.raises(ValueError, match="own split"):
        image_dataset("digits", "train", protocol="ffhq-256")


def test_without_the_embedded_extra_the_error_says_what_to_install(monkeypatch):
    from ginr_data import digits, photos

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    monkeypatch.setitem(sys.modules, "skimage", None)
    digits._digits.cache_clear()
    photos.photo.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'ginr-data\[embedded\]'"):
            digits._digits()
        with pytest.raises(ImportError, match=r"pip install 'ginr-data\[embedded\]'"):
            photos.photo("astronaut")
    finally:
        digits._digits.cache_clear()
        photos.photo.cache_clear()
