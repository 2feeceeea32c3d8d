"""``SpikingJellyModel``: a spikingjelly network as a correct NeuroBench model.

NeuroBench 2.3's ``TorchModel`` runs a plain ``nn.Module`` but, for a spikingjelly
network such as an autosnn export, it would

* keep the neurons' membrane state from one batch to the next (it never resets);
* see no activation layer (it registers only ``nn.ReLU`` and ``nn.Sigmoid``), so
  activation sparsity would be computed over nothing;
* name activation layers by their attribute name alone (``fc1_lif`` of every block is one
  "layer" in ``ActivationSparsityByLayer``);
* divide per-sample metrics by dimension 0 of the input, which for autosnn's time-major
  event frames ``[T, N, C, H, W]`` is T, not the batch.

This wrapper resets every neuron before each batch (spikingjelly's
``functional.reset_net``), registers spikingjelly's neurons (``BaseNode``) as activation
modules under their full module names, and takes batch-first inputs: images
``[N, C, H, W]`` or event frames ``[N, T, C, H, W]``, which it hands to the network
time-major. Importing this module needs ``neurobench``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from neurobench.models import TorchModel
from spikingjelly.activation_based import functional, neuron

__all__ = ["SpikingJellyModel"]


class SpikingJellyModel(TorchModel):
    """``net`` (a spikingjelly network taking ``[N, C, H, W]`` or ``[T, N, C, H, W]``,
    returning ``[N, classes]``) as a NeuroBench model fed batch-first data."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__(net)
        self.add_activation_module(neuron.BaseNode)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self.net)
        if batch.dim() == 5:  # event frames [N, T, C, H, W] -> the network's [T, N, C, H, W]
            batch = batch.transpose(0, 1)
        return self.net(batch)

    def activation_layers(self) -> list[dict]:
        """Every activation module (spikingjelly neurons included) under its full module
        name, outermost first; nothing inside an activation module is searched."""
        found: list[dict] = []

        def walk(module: nn.Module, prefix: str) -> None:
            for name, child in module.named_children():
                full = f"{prefix}.{name}" if prefix else name
                if isinstance(child, tuple(self.activation_modules)):
                    found.append({"layer_name": full, "layer": child})
                else:
                    walk(child, full)

        walk(self.net, "")
        return found
