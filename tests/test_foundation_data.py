import pytest
import torch

from autosnn.data import load_data
from autosnn.errors import ConfigError, DatasetNotFoundError


def _rows(ds):
    x, _ = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    return {tuple(r.flatten()[::7].tolist()) for r in x}


def test_digits_split_is_fixed_disjoint_and_resized():
    a, b = load_data("digits", image_size=16), load_data("digits", image_size=16)
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert a.train[0][0].shape == (1, 16, 16)
    assert torch.equal(a.test[5][0], b.test[5][0]) and a.test[5][1] == b.test[5][1]
    train, val, test = _rows(a.train), _rows(a.val), _rows(a.test)
    assert len(train & test) <= 2 and len(val & test) <= 2  # a few digits images are duplicates
    labels = torch.tensor([y for _, y in a.val])
    assert torch.bincount(labels).min() >= 30  # stratified
    assert load_data("digits", image_size=8).train[0][0].shape == (1, 8, 8)


def test_seeded_shuffling():
    d = load_data("digits")
    first = lambda seed: next(iter(d.loader("train", 16, shuffle=True, seed=seed)))[1]  # noqa: E731
    assert torch.equal(first(3), first(3)) and not torch.equal(first(3), first(4))


def test_mnist5k_is_embedded():
    d = load_data("mnist5k", image_size=28)
    assert (len(d.train), len(d.val), len(d.test)) == (3000, 1000, 1000)
    assert d.val[0][0].shape == (1, 28, 28)


@pytest.mark.parametrize("name, channels, expected", [
    ("cifar10", 3, "cifar-10-batches-py"), ("cifar100", 3, "cifar-100-python"),
    ("cifar10-dvs", 2, "download"), ("dvs128-gesture", 2, "download")])
def test_missing_folder_names_the_path_and_downloads_nothing(tmp_path, name, channels, expected):
    with pytest.raises(DatasetNotFoundError) as err:
        load_data(name, root=str(tmp_path), in_channels=channels, image_size=32)
    assert str(tmp_path / expected) in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DatasetNotFoundError, match="needs data.root"):
        load_data(name, root=None, in_channels=channels, image_size=32)


def test_channel_mismatch_and_unknown_dataset():
    with pytest.raises(ConfigError, match="3 input channel"):
        load_data("cifar10", root="/x", in_channels=1)
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_data("imagenet")
