"""``DataSplits``: train / validation / test datasets of one task, and their loaders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from autosnn.data.order import shard, shuffled_order
from autosnn.data.tensor_images import TensorBatches, TensorImages

__all__ = ["DataSplits", "SPLIT_SEED", "holdout_indices", "collate", "to_device"]

#: The seed of every train / validation / test split. Fixed, independent of the
#: campaign seed, so the test split is the same images for every campaign.
SPLIT_SEED = 20240917


def _time_major(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1) if x.dim() == 5 else x


def collate(samples: list) -> list[Any]:
    """Batch samples; event-frame samples ``[T, C, H, W]`` become time-major
    ``[T, N, C, H, W]`` (the models' layout), images stay ``[N, C, H, W]``; samples of
    frames at several T (``{T: [T, C, H, W]}``, :class:`~autosnn.data.frames.MultiStepFrames`)
    become ``{T: [T, N, C, H, W]}``."""
    x, y = default_collate(samples)
    if isinstance(x, Mapping):
        return [{t: _time_major(v) for t, v in x.items()}, y]
    return [_time_major(x), y]


def to_device(x: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """A batch's inputs on ``device``: a tensor, or a dict ``{T: tensor}`` of frames."""
    if isinstance(x, Mapping):
        return {t: v.to(device, non_blocking=non_blocking) for t, v in x.items()}
    return x.to(device, non_blocking=non_blocking)


@dataclass
class DataSplits:
    """Datasets yielding ``(x, label)``; ``x`` is ``[C, H, W]`` (images) or ``[T, C, H, W]``
    (event frames). Search only ever sees ``train`` and ``val``; ``test`` is for
    ``autosnn evaluate --split test`` and retraining reports.

    Loaders yield ``(x, labels)`` with ``x`` ``[N, C, H, W]`` or, for event frames,
    ``[T, N, C, H, W]`` (see :func:`collate`).

    Event data integrated at several T (one per ``time_steps`` choice of the space) has
    splits of :class:`~autosnn.data.frames.MultiStepFrames` (``x`` is ``{T: [T, N, C, H, W]}``,
    each model takes its own T) and ``by_time_steps``: the splits of each single T, for
    whoever needs only one (an evaluation of a subnet): :meth:`for_time_steps`.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    by_time_steps: Optional[dict[int, "DataSplits"]] = None

    def for_time_steps(self, time_steps: int) -> "DataSplits":
        """The splits whose frames are integrated at ``time_steps`` (static images and
        event data loaded at one T: these splits themselves)."""
        if self.by_time_steps is None:
            return self
        if time_steps not in self.by_time_steps:
            raise ValueError(f"data '{self.name}' has event frames for T in {sorted(self.by_time_steps)}, "
                             f"not for T={time_steps}")
        return self.by_time_steps[time_steps]

    def split(self, name: str) -> Dataset:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {name!r}")
        return getattr(self, name)

    def loader(self, split: str, batch_size: int, *, shuffle: bool = False, seed: int = 0,
               num_workers: int = 0, drop_last: bool = False,
               device: torch.device | str | None = None) -> DataLoader | TensorBatches:
        """A loader over ``split``; shuffling is seeded (same seed, same order).

        Images held as tensors (CIFAR: :class:`~autosnn.data.tensor_images.TensorImages`)
        come in whole batches already on ``device`` (default: the CPU), augmented (the
        training split) by the per-sample keys of ``(seed, 0)``; ``num_workers`` is then
        unused. Labels are always on the host."""
        ds = self.split(split)
        if isinstance(ds, TensorImages):
            order = shuffled_order(len(ds), seed) if shuffle else None
            return ds.batches(batch_size, order=order, key=(seed, 0), device=device or "cpu", drop_last=drop_last)
        g = torch.Generator().manual_seed(seed)
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g,
                          num_workers=num_workers, drop_last=drop_last, collate_fn=collate)

    def epoch_loader(self, batch_size: int, seed: int, epoch: int, *, rank: int = 0, world_size: int = 1,
                     num_workers: int = 0, device: torch.device | str | None = None) -> DataLoader | TensorBatches:
        """The training batches of ``epoch`` on rank ``rank`` of ``world_size``.

        One global order per epoch, :func:`~autosnn.data.order.shuffled_order` of
        ``seed * 1000 + epoch`` (the order training always had), sharded among the
        ranks (:func:`~autosnn.data.order.shard`; ``batch_size`` is per rank, incomplete
        batches dropped): the ranks' batches are disjoint, and their union is the 1-rank
        batch of ``batch_size * world_size`` whatever the number of ranks. Images held as
        tensors are cropped and flipped by the keys of ``(seed, epoch, sample index)``:
        the same sample looks the same on every rank, batch and resume point."""
        ds, order_seed = self.train, seed * 1000 + epoch
        positions = shard(shuffled_order(len(ds), order_seed, base_draws=2), rank, world_size)
        if isinstance(ds, TensorImages):
            return ds.batches(batch_size, order=positions, key=(seed, epoch), device=device or "cpu", drop_last=True)
        # the generator gives the workers the base seed they had; torch's global one is not drawn from
        return DataLoader(ds, batch_size=batch_size, sampler=positions.tolist(),
                          generator=torch.Generator().manual_seed(order_seed),
                          num_workers=num_workers, drop_last=True, collate_fn=collate)


def holdout_indices(labels: np.ndarray, fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``range(len(labels))`` into (keep, held_out) with ``fraction`` held out."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
    return np.sort(keep), np.sort(held)


def subset(ds: Dataset, idx: np.ndarray) -> Subset:
    return Subset(ds, idx.tolist())
