"""``Spikformer``: a standalone (non-elastic) subnet, built from a ``SubnetConfig`` alone."""

from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.layers import PLAIN, EncoderBlock, PatchStem, classify, make_mixer, to_sequence

__all__ = ["Spikformer"]


class Spikformer(nn.Module):
    """A Spikformer of one fixed architecture, equal in function to spikingjelly 2.0's
    ``Spikformer`` for uniform configs, with per-block heads, MLP ratio, threshold, tau and
    token mixer (``attention``: SSA, or spikingjelly's Token/Channel Q-K attention).

    ``forward(x)``: ``x`` is ``[N, C, H, W]`` (repeated ``config.time_steps`` times) or
    ``[T, N, C, H, W]``; returns logits ``[N, classes]`` averaged over time. Neuron state
    is reset before every forward, so calls are independent.
    """

    def __init__(self, config: SubnetConfig) -> None:
        super().__init__()
        self.config = config
        e = config.embed_dim
        self.patch_embed = PatchStem(PLAIN, config.in_channels, e, config.patch_size)
        self.blocks = nn.ModuleList(
            EncoderBlock(PLAIN, e, config.num_heads[b], config.hidden_dim(b),
                         attn=make_mixer(PLAIN, e, config.num_heads[b], config.attention[b]))
            for b in range(config.depth)
        )
        for b, block in enumerate(self.blocks):
            block.set_neurons(config.tau[b], config.v_threshold[b])
        self.head = nn.Linear(e, config.num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self)
        x = self.patch_embed(to_sequence(x, self.config.time_steps))
        for block in self.blocks:
            x = block(x)
        return classify(self.head, x)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def init_weights(model: nn.Module) -> None:
    """Spikformer's initialisation: truncated normal (std 0.02) weights, zero biases,
    BatchNorm at identity."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
