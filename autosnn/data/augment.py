"""Batched image augmentation keyed per sample: random crop with zero padding and
horizontal flip, as the fast CIFAR trainers do, on whole uint8 batches on any device.

Each sample's crop offsets and flip come from a counter-based hash of
``(seed, epoch, sample index)`` (:func:`sample_keys`, splitmix64 in numpy ``uint64``,
computed on the host for the batch's indices): the same sample gets the same crop and
flip whatever its batch, its torchrun rank, the device or the point a run resumed from.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["sample_keys", "crop_flip_params", "crop_flip", "to_normalised"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection of uint64)."""
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def sample_keys(seed: int, epoch: int, indices: np.ndarray | Sequence[int] | torch.Tensor) -> np.ndarray:
    """A 64-bit key per sample, a hash of ``(seed, epoch, index)``."""
    idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices).astype(np.uint64)
    base = _mix(_mix(np.asarray([seed & _MASK], dtype=np.uint64)) ^ np.uint64(epoch & _MASK))
    return _mix(base ^ idx)


def crop_flip_params(keys: np.ndarray, padding: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dx, dy, flip)`` per key: offsets in ``[0, 2 * padding]`` (the crop's top-left
    corner in the padded image) and a flip bit, from independent bits of the key."""
    span = np.uint64(2 * padding + 1)
    dx = (keys & np.uint64(0xFFFFFF)) % span
    dy = ((keys >> np.uint64(24)) & np.uint64(0xFFFFFF)) % span
    flip = (keys >> np.uint64(63)) & np.uint64(1)
    return (torch.from_numpy(dx.astype(np.int64)), torch.from_numpy(dy.astype(np.int64)),
            torch.from_numpy(flip.astype(np.bool_)))


def crop_flip(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, flip: torch.Tensor,
              padding: int = 4) -> torch.Tensor:
    """Crop ``images [B, C, H, W]`` (any dtype) at ``(dy, dx)`` in the image zero-padded by
    ``padding`` on every side, then mirror the rows of the samples with ``flip``: torchvision's
    ``RandomCrop(H, padding)`` then ``RandomHorizontalFlip()``, for a whole batch at once."""
    b, c, h, w = images.shape
    dev = images.device
    dx, dy, flip = dx.to(dev), dy.to(dev), flip.to(dev)
    padded = F.pad(images, (padding, padding, padding, padding))
    pw = w + 2 * padding
    cols = torch.arange(w, device=dev)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - cols, cols)            # [B, W]
    rows = dy[:, None] + torch.arange(h, device=dev)                                # [B, H]
    flat = (rows[:, :, None] * pw + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, flat).reshape(b, c, h, w)


def to_normalised(images: torch.Tensor, mean: Sequence[float], std: Sequence[float], size: int) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` to float32, scaled to [0, 1], resized (bilinear, antialiased)
    to ``size`` when it differs, and normalised per channel with ``mean`` / ``std``."""
    x = images.float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)
