"""Images held once as uint8 tensors and served in whole batches.

:class:`ImageTensors` holds a data set's images (``uint8 [N, C, H, W]``, host memory) and
labels; :meth:`ImageTensors.on` places them on a device once, within a memory budget.
:class:`TensorImages` is a split (a set of indices into them, augmented or not): a
``Dataset`` like any other, whose :meth:`~TensorImages.batches` gather, augment
(:mod:`autosnn.data.augment`) and normalise whole batches on the device the model runs on.

Placement (``memory_budget_bytes``; ``None``: the automatic rule):

* CPU: the host tensors themselves, no copy;
* CUDA: copied to the device once when they fit the budget (automatic: a quarter of
  the device's free memory when first placed); otherwise kept in pinned host memory,
  each batch gathered there and sent as uint8 (a quarter of the float bytes), then
  augmented on the device. Either way the batches are the same numbers.
"""

from __future__ import annotations

import math
import sys
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from autosnn.data.augment import crop_flip, crop_flip_params, sample_keys, to_normalised

__all__ = ["ImageTensors", "TensorImages", "TensorBatches", "AUTO_BUDGET_FRACTION"]

#: The automatic budget on CUDA: this fraction of the device's free memory.
AUTO_BUDGET_FRACTION = 0.25


class ImageTensors:
    """``images`` uint8 ``[N, C, H, W]`` and ``labels`` int64 ``[N]`` of a data set, normalised
    with ``mean`` / ``std`` per channel and served at ``size`` x ``size`` pixels."""

    def __init__(self, name: str, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                 std: Sequence[float], size: int, *, padding: int = 4, memory_budget_bytes: int | None = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
            raise ValueError(f"images must be uint8 [N, C, H, W] with one label each, got {images.dtype} "
                             f"{tuple(images.shape)} and {len(labels)} labels")
        self.name, self.images, self.labels = name, images.contiguous(), labels.to(torch.int64)
        self.mean, self.std, self.size, self.padding = tuple(mean), tuple(std), int(size), int(padding)
        self.memory_budget_bytes = memory_budget_bytes
        self._placed: dict[str, tuple[torch.Tensor, bool]] = {}

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size() + self.labels.numel() * 8

    def __getstate__(self) -> dict:  # a copy sent elsewhere (a Ray worker) places its own tensors
        return {**self.__dict__, "_placed": {}}

    def budget(self, device: torch.device) -> float:
        """The bytes these tensors may take on ``device`` (``inf`` on the CPU: they are already there)."""
        if self.memory_budget_bytes is not None:
            return float(self.memory_budget_bytes)
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            return AUTO_BUDGET_FRACTION * free
        return math.inf

    def on(self, device: torch.device | str) -> tuple[torch.Tensor, bool]:
        """``(images, on_device)``: the images on ``device`` when they fit its budget, else
        on the host (pinned when ``device`` is CUDA) and ``on_device`` False."""
        device = torch.device(device)
        key = str(device)
        if key not in self._placed:
            fits = self.nbytes <= self.budget(device)
            if device.type == "cpu":
                self._placed[key] = (self.images, fits)
            elif fits:
                self._placed[key] = (self.images.to(device), True)
            else:
                print(f"autosnn: {self.name}: {self.nbytes / 1e6:.0f} MB of images exceed the memory budget on "
                      f"{device} ({self.budget(device) / 1e6:.0f} MB): kept in pinned host memory, sent per batch",
                      file=sys.stderr)
                self._placed[key] = (self.images.pin_memory(), False)
        return self._placed[key]

    def batch(self, indices: torch.Tensor, device: torch.device | str, key: tuple[int, int] | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``indices`` (into the whole set) as normalised float32 on ``device``, cropped
        and flipped by the keys of ``key = (seed, epoch)`` (``None``: not augmented); and
        their labels (int64, on the host)."""
        device = torch.device(device)
        images, on_device = self.on(device)
        if on_device:
            x = images[indices.to(images.device)]
        else:
            x = images[indices]
            if device.type == "cuda":
                x = x.pin_memory()
            x = x.to(device, non_blocking=True)
        if key is not None:
            dx, dy, flip = crop_flip_params(sample_keys(key[0], key[1], indices), self.padding)
            x = crop_flip(x, dx, dy, flip, self.padding)
        return to_normalised(x, self.mean, self.std, self.size), self.labels[indices]


class TensorImages(Dataset):
    """A split of an :class:`ImageTensors`: the images ``indices`` (into the whole set),
    cropped and flipped when ``augment``. Item ``i`` is ``(image [C, size, size], label)``
    (augmented from torch's global generator, as torchvision's transforms are); whole
    batches, keyed per sample, come from :meth:`batches`."""

    def __init__(self, tensors: ImageTensors, indices: Sequence[int] | np.ndarray | torch.Tensor,
                 augment: bool = False) -> None:
        self.tensors = tensors
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def targets(self) -> list[int]:
        return self.tensors.labels[self.indices].tolist()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        index = self.indices[i:i + 1] if i >= 0 else self.indices[i:][:1]
        if len(index) == 0:
            raise IndexError(f"index {i} out of range for {len(self)} images")
        key = (int(torch.randint(0, 2**62, ())), 0) if self.augment else None
        x, y = self.tensors.batch(index, "cpu", key)
        return x[0], int(y[0])

    def subset(self, positions: Sequence[int] | np.ndarray | torch.Tensor) -> "TensorImages":
        """The images at ``positions`` of this split (same augmentation)."""
        return TensorImages(self.tensors, self.indices[torch.as_tensor(np.asarray(positions), dtype=torch.int64)],
                            self.augment)

    def batches(self, batch_size: int, *, order: torch.Tensor | None = None, key: tuple[int, int] = (0, 0),
                device: torch.device | str = "cpu", drop_last: bool = False) -> "TensorBatches":
        """The batches of the positions ``order`` (default: all, in order), augmented (when
        this split is) by the per-sample keys of ``key = (seed, epoch)``."""
        positions = torch.arange(len(self)) if order is None else order
        return TensorBatches(self, positions, batch_size, key if self.augment else None, torch.device(device), drop_last)


class TensorBatches:
    """An iterable of ``(x [B, C, H, W] float32 on the device, labels [B] on the host)``,
    with ``len()`` like a ``DataLoader``."""

    def __init__(self, split: TensorImages, positions: torch.Tensor, batch_size: int, key: tuple[int, int] | None,
                 device: torch.device, drop_last: bool) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.split, self.positions, self.batch_size = split, positions, int(batch_size)
        self.key, self.device, self.drop_last = key, device, drop_last

    def __len__(self) -> int:
        n = len(self.positions)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        indices = self.split.indices[self.positions]
        for k in range(len(self)):
            yield self.split.tensors.batch(indices[k * self.batch_size:(k + 1) * self.batch_size], self.device, self.key)
