"""Real datasets read from local folders; a missing folder is a one-line error that
says where the files were expected and how to get them. Nothing downloads.

* ``cifar10`` / ``cifar100``: torchvision's ``CIFAR10`` / ``CIFAR100`` (the python
  version, ``cifar-10-batches-py`` / ``cifar-100-python`` inside ``root``); the official
  test set is ``test``, 10 % of the training set (stratified, fixed seed) is ``val``.
* ``cifar10-dvs`` / ``dvs128-gesture``: spikingjelly's ``CIFAR10DVS`` / ``DVS128Gesture``
  integrated into T frames (``split_by='number'``) for every T of the space (spikingjelly
  caches each in ``root/frames_number_<T>_split_by_number``; the first run integrates,
  later runs read); ``val`` and ``test`` are two stratified halves of the official test
  set (CIFAR10-DVS: a 90 / 5 / 5 split of all). ``root`` holds spikingjelly's
  ``download/`` (the original archives) or, once extracted, its ``events_np/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from autosnn.data.frames import MultiStepFrames
from autosnn.data.splits import DataSplits, holdout_indices, subset
from autosnn.errors import DatasetNotFoundError

__all__ = ["load_cifar", "load_neuromorphic"]

_CIFAR = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", 10, "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("CIFAR100", "cifar-100-python", 100, "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}
_CIFAR_MEAN_STD = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
                   "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


def _need_root(name: str, root: str | None, expected: str, how: str, *, or_: str | None = None) -> Path:
    """``root`` as a path, once it holds ``expected`` (or ``or_``, when given)."""
    if not root:
        raise DatasetNotFoundError(f"data '{name}' needs data.root: a local folder holding {expected} ({how})")
    path = Path(root).expanduser()
    if not (path / expected).exists() and not (or_ is not None and (path / or_).exists()):
        raise DatasetNotFoundError(f"dataset '{name}' not found: expected {path / expected} ({how})")
    return path


def load_cifar(name: str, root: str | None, image_size: int = 32) -> DataSplits:
    import torchvision
    import torchvision.transforms as T

    cls_name, folder, classes, url = _CIFAR[name]
    path = _need_root(name, root, folder, f"download and extract {url} there")
    mean, std = _CIFAR_MEAN_STD[name]
    norm = [T.ToTensor(), T.Normalize(mean, std)]
    if image_size != 32:
        norm.insert(0, T.Resize(image_size))
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] + norm)
    cls = getattr(torchvision.datasets, cls_name)
    train_aug = cls(str(path), train=True, transform=train_tf, download=False)
    train_plain = cls(str(path), train=True, transform=T.Compose(norm), download=False)
    test = cls(str(path), train=False, transform=T.Compose(norm), download=False)
    keep, val = holdout_indices(np.asarray(train_aug.targets), 0.1)
    return DataSplits(name, subset(train_aug, keep), subset(train_plain, val), test, classes)


def load_neuromorphic(name: str, root: str | None, time_steps: int | Sequence[int]) -> DataSplits:
    """Event frames for every T in ``time_steps``: with one T, splits of ``[T, C, H, W]``
    frames; with several, splits of :class:`~autosnn.data.frames.MultiStepFrames` and
    ``by_time_steps`` (the splits of each T: same samples, same order)."""
    from spikingjelly import datasets as sjd

    steps = sorted({int(time_steps)} if isinstance(time_steps, int) else {int(t) for t in time_steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"time_steps must be positive integers, got {time_steps!r}")
    per_t: dict[int, DataSplits] = {}
    if name == "cifar10-dvs":
        path = _need_root(name, root, "download", "put the CIFAR10-DVS archives from figshare "
                          "(doi 10.6084/m9.figshare.4724671) in root/download", or_="events_np")
        full = {t: sjd.CIFAR10DVS(str(path), data_type="frame", frames_number=t, split_by="number") for t in steps}
        labels = np.asarray([t for _, t in full[steps[0]].samples])
        rest, held = holdout_indices(labels, 0.1)
        val, test = holdout_indices(labels[held], 0.5)
        parts = {"train": rest, "val": held[val], "test": held[test]}
        for t, ds in full.items():
            per_t[t] = DataSplits(name, *(subset(ds, i) for i in parts.values()), 10)
        multi = MultiStepFrames(full)
        splits = [subset(multi, i) for i in parts.values()]
        classes = 10
    else:
        path = _need_root(name, root, "download", "put DvsGesture.tar.gz from IBM's DVS128 Gesture page in "
                          "root/download", or_="events_np")
        train = {t: sjd.DVS128Gesture(str(path), train=True, data_type="frame", frames_number=t, split_by="number")
                 for t in steps}
        test_full = {t: sjd.DVS128Gesture(str(path), train=False, data_type="frame", frames_number=t,
                                          split_by="number") for t in steps}
        labels = np.asarray([t for _, t in test_full[steps[0]].samples])
        val, test = holdout_indices(labels, 0.5)
        for t in steps:
            per_t[t] = DataSplits(name, train[t], subset(test_full[t], val), subset(test_full[t], test), 11)
        multi_test = MultiStepFrames(test_full)
        splits = [MultiStepFrames(train), subset(multi_test, val), subset(multi_test, test)]
        classes = 11
    if len(steps) == 1:
        return per_t[steps[0]]
    return DataSplits(name, *splits, classes, by_time_steps=per_t)
