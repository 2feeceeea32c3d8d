"""Datasets: the embedded default (digits), mnist5k, and real loaders from local folders."""

from __future__ import annotations

from typing import Sequence

from autosnn.data.splits import SPLIT_SEED, DataSplits

__all__ = ["DataSplits", "SPLIT_SEED", "load_data", "DATASETS"]

DATASETS = ("digits", "mnist5k", "cifar10", "cifar100", "cifar10-dvs", "dvs128-gesture")


def load_data(name: str, *, root: str | None = None, image_size: int = 16, in_channels: int = 1,
              time_steps: int | Sequence[int] = 4) -> DataSplits:
    """Load the dataset ``name`` for a space with the given input size and channels.

    ``time_steps``: the number(s) of event frames for the neuromorphic datasets; give
    every T of the space, and a subnet of each T sees its own frames
    (:meth:`DataSplits.for_time_steps`). Ignored for static images.
    """
    from autosnn.errors import ConfigError

    expected_channels = {"digits": 1, "mnist5k": 1, "cifar10": 3, "cifar100": 3, "cifar10-dvs": 2, "dvs128-gesture": 2}
    if name not in expected_channels:
        raise ConfigError(f"unknown dataset '{name}'; known: {list(DATASETS)}")
    if expected_channels[name] != in_channels:
        raise ConfigError(f"data '{name}' has {expected_channels[name]} input channel(s) but the space expects {in_channels}")
    if name == "digits":
        from autosnn.data.embedded import load_digits
        return load_digits(image_size)
    if name == "mnist5k":
        from autosnn.data.embedded import load_mnist5k
        return load_mnist5k(image_size)
    if name in ("cifar10", "cifar100"):
        from autosnn.data.folders import load_cifar
        return load_cifar(name, root, image_size)
    from autosnn.data.folders import load_neuromorphic
    return load_neuromorphic(name, root, time_steps)
