"""BatchNorm recalibration: re-estimate the running statistics of the active subnet.

Weight-entangled subnets share BatchNorm statistics accumulated over many sampled
subnets during training; re-estimating them for one subnet on a few training batches
(as in OFA / AutoFormer) usually restores its accuracy. The statistics are the
cumulative average over the batches (``momentum=None``); neuron state is reset after
every batch.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Iterable, Iterator

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from autosnn.data.splits import DataSplits, to_device

__all__ = ["recalibrate_bn", "bn_recalibrated", "recalibration_batches", "RECALIBRATION_SEED"]

#: Seed of the training batches used for recalibration (shuffle and augmentation), so
#: the evaluator and an export of the same subnet see the same images.
RECALIBRATION_SEED = 0


def recalibration_batches(data: DataSplits, batch_size: int, batches: int, seed: int = RECALIBRATION_SEED,
                          device: torch.device | str | None = None) -> list[torch.Tensor]:
    """The first ``batches`` shuffled training batches (inputs only), drawn under a fixed
    torch seed so that random augmentations are the same on every call. Images held as
    tensors arrive on ``device``, augmented by the per-sample keys of ``(seed, 0)``."""
    if batches <= 0:
        return []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loader = data.loader("train", batch_size, shuffle=True, seed=seed, device=device)
        return [x for x, _ in itertools.islice(loader, batches)]


@contextlib.contextmanager
def bn_recalibrated(model: nn.Module, loader: Iterable, batches: int, device: torch.device) -> Iterator[None]:
    """Within the block, ``model`` runs with recalibrated BatchNorm statistics; on exit
    the original statistics (of every slice, for a supernet) are restored."""
    if batches <= 0:
        yield
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()) for bn in bns]
    try:
        recalibrate_bn(model, loader, batches, device)
        yield
    finally:
        with torch.no_grad():
            for bn, (mean, var, n) in zip(bns, saved):
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.copy_(n)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: Iterable, batches: int, device: torch.device) -> None:
    """Reset and re-estimate the BatchNorm running statistics of ``model`` (at its active
    config, for a supernet) on ``batches`` batches of ``loader``. On a supernet the
    statistics of unused slices are reset too: use :func:`bn_recalibrated` to keep them."""
    if batches <= 0:
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(bn.momentum, bn.training) for bn in bns]
    was_training = model.training
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    try:
        for batch in itertools.islice(loader, batches):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(to_device(x, device))
            functional.reset_net(model)
    finally:
        for bn, (momentum, training) in zip(bns, saved):
            bn.momentum = momentum
            bn.train(training)
        model.train(was_training)
