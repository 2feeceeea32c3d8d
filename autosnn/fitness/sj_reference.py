"""spikingjelly 2.0's own operation counters, as the reference our energy model must match.

``SynOpCounter`` counts ACs (spike-driven weight accumulations of mm / addmm / bmm /
baddbmm / convolution); ``MACCounter`` counts MACs, and we drop its BatchNorm rule since
BatchNorm folds into the preceding weights at inference. Both run under
``DispatchCounterMode``, which intercepts every aten operation: far slower than
:class:`~autosnn.fitness.energy.EnergyMeter`, used by the tests and the benchmark only.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["spikingjelly_counts", "excite"]


@torch.no_grad()
def spikingjelly_counts(model: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """``(macs, acs)`` per sample of ``model`` on the batch ``inputs`` (``[N, C, H, W]`` or
    ``[T, N, C, H, W]``) as counted by spikingjelly's ``MACCounter`` (no BatchNorm rule)
    and ``SynOpCounter``."""
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter

    syn, mac = SynOpCounter(), MACCounter()
    mac.rules.pop(torch.ops.aten.native_batch_norm.default, None)
    with DispatchCounterMode([syn, mac]):
        model(inputs)
    n = inputs.shape[1] if inputs.dim() == 5 else inputs.shape[0]
    return mac.get_total() / n, syn.get_total() / n


@torch.no_grad()
def excite(model: nn.Module, inputs: torch.Tensor, seed: int = 0) -> None:
    """Give every BatchNorm statistics and affine parameters under which the neurons fire
    (at initialisation, in eval mode, almost nothing spikes, which proves nothing).

    Running statistics become those of one forward of ``inputs`` (batch statistics,
    layer by layer); weights are drawn from U(0.5, 2) and biases from N(0.2, 0.5), seeded.
    The model is left in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0
    model.train()
    model(inputs)
    model.eval()
    g = torch.Generator().manual_seed(seed)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
        n = m.num_features
        m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
        m.bias.copy_(torch.randn(n, generator=g) * 0.5 + 0.2)
