"""``SpikformerSupernet``: one set of weights from which every subnet of a space is a slice."""

from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet import elastic
from autosnn.supernet.layers import ELASTIC, EncoderBlock, PatchStem, classify, stem_widths, to_sequence
from autosnn.supernet.spikformer import Spikformer, init_weights

__all__ = ["SpikformerSupernet"]


class SpikformerSupernet(nn.Module):
    """The weight-entangled Spikformer supernet of a :class:`SearchSpace`.

    Every layer owns its largest weight; :meth:`set_config` picks the subnet (depth,
    embedding width, per-block heads / MLP ratio / tau / threshold, T) and
    :meth:`forward` computes with the leading slices. ``forward(x)``: ``x`` is
    ``[N, C, H, W]`` (repeated T times) or ``[T, N, C, H, W]``; returns ``[N, classes]``.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        E, H = space.max_embed_dim, space.max_hidden_dim
        self.patch_embed = PatchStem(ELASTIC, space.in_channels, E, space.patch_size)
        self.blocks = nn.ModuleList(EncoderBlock(ELASTIC, E, max(space.choices["num_heads"]), H)
                                    for _ in range(space.max_depth))
        self.head = elastic.ElasticLinear(E, space.num_classes)
        init_weights(self)
        self.config: SubnetConfig = space.largest()
        self.set_config(self.config)

    def set_config(self, config: SubnetConfig) -> None:
        """Select the active subnet (validated against the space)."""
        config = self.space.validate(config)
        e = config.embed_dim
        for stage, width in zip(self.patch_embed.stages, stem_widths(e)):
            stage.conv.active_out = width
        self.patch_embed.pos.conv.active_out = e
        for b in range(config.depth):
            block = self.blocks[b]
            block.attn.num_heads = config.num_heads[b]
            block.mlp.fc1_conv.active_out = config.hidden_dim(b)
            block.mlp.fc2_conv.active_out = e
            block.set_neurons(config.tau[b], config.v_threshold[b])
        self.config = config

    def active_blocks(self) -> nn.ModuleList:
        return self.blocks[: self.config.depth]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self)
        x = self.patch_embed(to_sequence(x, self.config.time_steps))
        for block in self.active_blocks():
            x = block(x)
        return classify(self.head, x)

    def num_parameters(self, config: SubnetConfig | None = None) -> int:
        """Parameters of the subnet at ``config`` (default: the active one)."""
        return subnet_num_parameters(config or self.config)

    @torch.no_grad()
    def extract(self, config: SubnetConfig | None = None) -> Spikformer:
        """A standalone :class:`Spikformer` holding copies of the sliced weights and
        BatchNorm statistics of ``config`` (default: the active config)."""
        config = self.space.validate(config or self.config)
        model = Spikformer(config)
        mine = dict(self.named_parameters()) | dict(self.named_buffers())
        E = self.space.max_embed_dim
        for name, target in list(model.named_parameters()) + list(model.named_buffers()):
            source = mine[name]
            if source.dim() == 0:
                target.copy_(source)
            elif ".attn.qkv_" in name:
                rows = elastic.qkv_rows(config.embed_dim, E).to(source.device)
                picked = source.index_select(0, rows)
                target.copy_(picked[tuple(slice(0, s) for s in target.shape)])
            else:
                target.copy_(source[tuple(slice(0, s) for s in target.shape)])
        model.train(self.training)
        return model.to(next(self.parameters()).device)


def subnet_num_parameters(config: SubnetConfig) -> int:
    """Parameter count of the subnet, computed from the architecture alone."""
    e, c = config.embed_dim, config.in_channels
    widths = stem_widths(e)
    n = 0
    for w in widths:  # 3x3 conv + BN (weight, bias)
        n += c * w * 9 + 2 * w
        c = w
    n += e * e * 9 + 2 * e  # relative position conv
    for b in range(config.depth):
        h = config.hidden_dim(b)
        n += e * 3 * e + 6 * e  # qkv + BN
        n += e * e + 2 * e      # proj + BN
        n += e * h + 2 * h + h * e + 2 * e  # MLP
    return n + e * config.num_classes + config.num_classes
