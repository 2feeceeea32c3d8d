"""``SpikformerSupernet``: one set of weights from which every subnet of a space is a slice."""

from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet import elastic
from autosnn.supernet.layers import (ELASTIC, EncoderBlock, PatchStem, SwitchableAttention, classify, stem_widths,
                                     to_sequence)
from autosnn.supernet.spikformer import Spikformer, init_weights

__all__ = ["SpikformerSupernet", "PER_MIXER_BN"]

#: Whether Q-K mixers get their own output-projection BatchNorm by default. Measured by
#: bench/mixer_batchnorm.py (two digits-mixer supernets per seed, identical but for this):
#: no gain from per-mixer BatchNorm within the seed-to-seed noise (mean accuracy of mixed
#: subnets over 2 seeds: shared 0.930, per-mixer 0.904), so the simpler layout is the
#: default: one BatchNorm, no extra weights, supernet = largest subnet in parameters.
PER_MIXER_BN = False


class SpikformerSupernet(nn.Module):
    """The weight-entangled Spikformer supernet of a :class:`SearchSpace`.

    Every layer owns its largest weight; :meth:`set_config` picks the subnet (depth,
    embedding width, per-block heads / MLP ratio / tau / threshold / token mixer, T) and
    :meth:`forward` computes with the leading slices. ``forward(x)``: ``x`` is
    ``[N, C, H, W]`` (repeated T times) or ``[T, N, C, H, W]``; returns ``[N, classes]``.

    Every block's token mixer is a :class:`~autosnn.supernet.layers.SwitchableAttention`:
    Q-K attention reuses SSA's q and k projection rows and its output projection conv.
    ``per_mixer_bn`` (default :data:`PER_MIXER_BN`, off) gives every Q-K mixer of the space
    its own output-projection BatchNorm; spaces without the ``attention`` dimension have
    none either way, so their weights are unchanged.
    """

    def __init__(self, space: SearchSpace, per_mixer_bn: bool | None = None) -> None:
        super().__init__()
        self.space = space
        self.per_mixer_bn = PER_MIXER_BN if per_mixer_bn is None else bool(per_mixer_bn)
        E, H, heads = space.max_embed_dim, space.max_hidden_dim, max(space.choices["num_heads"])
        self.patch_embed = PatchStem(ELASTIC, space.in_channels, E, space.patch_size)
        self.blocks = nn.ModuleList(
            EncoderBlock(ELASTIC, E, heads, H, attn=SwitchableAttention(ELASTIC, E, heads, space.mixers, self.per_mixer_bn))
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
            block.attn.set_mixer(config.attention[b])
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
            source = mine[self._source_name(name, config)]
            if source.dim() == 0:
                target.copy_(source)
            elif ".attn.qkv_" in name or ".attn.qk_" in name:
                parts = 3 if ".attn.qkv_" in name else 2
                rows = elastic.qkv_rows(config.embed_dim, E, parts).to(source.device)
                picked = source.index_select(0, rows)
                target.copy_(picked[tuple(slice(0, s) for s in target.shape)])
            else:
                target.copy_(source[tuple(slice(0, s) for s in target.shape)])
        model.train(self.training)
        return model.to(next(self.parameters()).device)

    def _source_name(self, name: str, config: SubnetConfig) -> str:
        """The supernet tensor a standalone tensor ``name`` is sliced from: a Q-K block's
        ``qk_conv`` / ``qk_bn`` come from the fused ``qkv_conv`` / ``qkv_bn``, its
        ``proj_bn`` from the mixer's own BatchNorm when there is one."""
        if not name.startswith("blocks."):
            return name
        b = int(name.split(".")[1])
        mixer = config.attention[b]
        if mixer == "ssa":
            return name
        name = name.replace(".attn.qk_conv.", ".attn.qkv_conv.").replace(".attn.qk_bn.", ".attn.qkv_bn.")
        if ".attn.proj_bn." in name and mixer in self.blocks[b].attn.mixer_proj_bn:
            name = name.replace(".attn.proj_bn.", f".attn.mixer_proj_bn.{mixer}.")
        return name


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
        parts = 3 if config.attention[b] == "ssa" else 2  # q|k|v, or q|k for Q-K attention
        n += e * parts * e + 2 * parts * e  # fused projection + BN
        n += e * e + 2 * e      # proj + BN
        n += e * h + 2 * h + h * e + 2 * e  # MLP
    return n + e * config.num_classes + config.num_classes
