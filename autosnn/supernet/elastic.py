"""Elastic layers for the weight-entangled supernet (after AutoFormer's ``Super*`` layers).

Each layer owns the weight of its largest size and computes with its leading slice:
input width is read from the input itself, output width from ``active_out`` (``None``:
same as the input width). Layouts follow spikingjelly's ``SeqToANNContainer``: time
and batch are flattened, so convolutions see ``[T*N, C, H, W]`` or ``[T*N, C, L]``.

The fused q|k|v projection is special: its 3E output rows are three blocks
``[q | k | v]`` of E rows each, so width ``e`` uses rows ``0:e``, ``E:E+e`` and
``2E:2E+e`` (:func:`qkv_rows`), of the weight and of its BatchNorm alike. Q-K
attention uses only the first two blocks (``active_parts = 2``: rows ``0:e``, ``E:E+e``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ElasticConv2d", "ElasticConv1d", "ElasticQKVConv1d", "ElasticBatchNorm",
    "ElasticQKVBatchNorm1d", "ElasticLinear", "qkv_rows",
]


def qkv_rows(width: int, max_width: int, parts: int = 3) -> torch.Tensor:
    """Row indices of the fused q|k|v weight used at ``width`` (out of ``max_width``);
    ``parts=2``: the q and k rows only."""
    return torch.cat([torch.arange(o, o + width) for o in (0, max_width, 2 * max_width)[:parts]])


class _ElasticOut:
    """Mixin: an output width set by the supernet (``None`` = equal to the input width)."""

    active_out: int | None = None

    def _out(self, in_width: int) -> int:
        return in_width if self.active_out is None else self.active_out


class ElasticConv2d(nn.Conv2d, _ElasticOut):
    """``Conv2d`` (no bias) computing with ``weight[:out, :in]``. Input ``[B, in, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight[: self._out(x.shape[1]), : x.shape[1]]
        return F.conv2d(x, w, None, self.stride, self.padding)


class ElasticConv1d(nn.Conv1d, _ElasticOut):
    """Pointwise ``Conv1d`` (no bias) computing with ``weight[:out, :in]``. Input ``[B, in, L]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight[: self._out(x.shape[1]), : x.shape[1]]
        return F.conv1d(x, w)


class ElasticQKVConv1d(nn.Conv1d):
    """Fused q|k|v pointwise conv: ``[B, e, L] -> [B, P*e, L]`` using rows :func:`qkv_rows`
    of the first ``P = active_parts`` blocks (3: q|k|v, 2: q|k)."""

    def __init__(self, max_dim: int) -> None:
        super().__init__(max_dim, 3 * max_dim, kernel_size=1, bias=False)
        self.max_dim = max_dim
        self.active_parts = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, P = x.shape[1], self.active_parts
        if e == self.max_dim:
            return F.conv1d(x, self.weight[: P * e])
        w = self.weight.view(3, self.max_dim, self.max_dim, 1)[:P, :e, :e].reshape(P * e, e, 1)
        return F.conv1d(x, w)


def _momentum(bn: nn.modules.batchnorm._BatchNorm) -> float:
    """The running-statistics update factor of this forward (``momentum=None``: the
    cumulative average, as ``nn.BatchNorm`` does, used by BN recalibration)."""
    if not (bn.training and bn.track_running_stats):
        return 0.0
    bn.num_batches_tracked.add_(1)
    return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum


def _bn(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, lo: int, hi: int, momentum: float) -> torch.Tensor:
    """BatchNorm over channels ``lo:hi`` of ``bn``; running stats update in place (views)."""
    return F.batch_norm(
        x, bn.running_mean[lo:hi], bn.running_var[lo:hi], bn.weight[lo:hi], bn.bias[lo:hi],
        bn.training or not bn.track_running_stats, momentum, bn.eps,
    )


class ElasticBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d or 2d input) over the first ``x.shape[1]`` channels."""

    def _check_input_dim(self, x: torch.Tensor) -> None:  # accepts [B, C, L] and [B, C, H, W]
        if x.dim() not in (3, 4):
            raise ValueError(f"expected [B, C, L] or [B, C, H, W], got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _bn(self, x, 0, x.shape[1], _momentum(self))


class ElasticQKVBatchNorm1d(ElasticBatchNorm):
    """BatchNorm of the fused q|k|v output: width ``P*e`` uses the first ``P = active_parts``
    blocks of ``e`` channels."""

    def __init__(self, max_dim: int) -> None:
        super().__init__(3 * max_dim)
        self.max_dim = max_dim
        self.active_parts = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        P = self.active_parts
        e, momentum = x.shape[1] // P, _momentum(self)
        if e == self.max_dim:
            return _bn(self, x, 0, P * e, momentum)
        E = self.max_dim
        parts = x.split(e, dim=1)
        return torch.cat([_bn(self, p, o, o + e, momentum) for p, o in zip(parts, (0, E, 2 * E))], dim=1)


class ElasticLinear(nn.Linear):
    """``Linear`` with elastic input width (the classifier head: all outputs always used)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[-1]], self.bias)
