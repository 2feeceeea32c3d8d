"""Real datasets read from local folders; a missing folder is a one-line error that
says where the files were expected and how to get them. Nothing downloads.

* ``cifar10`` / ``cifar100``: the python version (``cifar-10-batches-py`` /
  ``cifar-100-python`` inside ``root``), read once and checked
  (:mod:`autosnn.data.cifar_files`), held as uint8 tensors and augmented in whole batches
  (:mod:`autosnn.data.tensor_images`); the official test set is ``test``, 10 % of the
  training set (stratified, fixed seed) is ``val``.
* ``cifar10-dvs`` / ``dvs128-gesture``: spikingjelly's ``CIFAR10DVS`` / ``DVS128Gesture``
  integrated into T frames (``split_by='number'``) for every T of the space (spikingjelly
  caches each in ``root/frames_number_<T>_split_by_number``; the first run integrates,
  later runs read); ``val`` and ``test`` are two stratified halves of the official test
  set (CIFAR10-DVS: a 90 / 5 / 5 split of all). ``root`` holds spikingjelly's
  ``download/`` (the original archives) or, once extracted, its ``events_np/``. Frames
  stay on disk in spikingjelly's per-sample files, read per batch; a file that cannot be
  read is a one-line error naming it (:class:`~autosnn.data.frames.NamedFrames`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from autosnn.data.cifar_files import CIFAR, read_cifar
from autosnn.data.frames import MultiStepFrames, NamedFrames
from autosnn.data.splits import DataSplits, holdout_indices, subset
from autosnn.data.tensor_images import ImageTensors, TensorImages
from autosnn.errors import DatasetNotFoundError

__all__ = ["load_cifar", "load_neuromorphic"]

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


def load_cifar(name: str, root: str | None, image_size: int = 32, *,
               memory_budget_bytes: int | None = None) -> DataSplits:
    """CIFAR-10 / CIFAR-100 read once (checked, :func:`~autosnn.data.cifar_files.read_cifar`)
    into uint8 tensors (:class:`~autosnn.data.tensor_images.ImageTensors`, placed on the
    device that asks for batches within ``memory_budget_bytes``; ``None``: the automatic
    rule). ``train``: random crop (4-pixel zero padding) and horizontal flip; ``val`` (10 %
    of the training files, stratified) and ``test``: plain. All normalised with the data
    set's mean / std and resized to ``image_size`` when it is not 32."""
    spec = CIFAR[name]
    path = _need_root(name, root, spec.folder, f"download and extract {spec.url} there")
    images, labels, train_count = read_cifar(name, path / spec.folder)
    mean, std = _CIFAR_MEAN_STD[name]
    tensors = ImageTensors(name, torch.from_numpy(images), torch.from_numpy(labels), mean, std, image_size,
                           memory_budget_bytes=memory_budget_bytes)
    keep, val = holdout_indices(labels[:train_count], 0.1)
    test = np.arange(train_count, len(labels))
    return DataSplits(name, TensorImages(tensors, keep, augment=True), TensorImages(tensors, val),
                      TensorImages(tensors, test), spec.classes)


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
        full = {t: NamedFrames(sjd.CIFAR10DVS(str(path), data_type="frame", frames_number=t, split_by="number"))
                for t in steps}
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
        train = {t: NamedFrames(sjd.DVS128Gesture(str(path), train=True, data_type="frame", frames_number=t,
                                                  split_by="number")) for t in steps}
        test_full = {t: NamedFrames(sjd.DVS128Gesture(str(path), train=False, data_type="frame", frames_number=t,
                                                      split_by="number")) for t in steps}
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
