"""spikingjelly 2.0's ``Spikformer`` as the reference: build it for a config and map its
weights onto ours (the two networks are the same function; only the names differ)."""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["reference_spikformer", "from_reference_state_dict", "reference_mixer", "mixer_from_reference_state_dict"]

_RENAMES = [
    (r"^patch_embed\.stages\.(\d+)\.conv_bn\.block\.0\.", r"patch_embed.stages.\1.conv."),
    (r"^patch_embed\.stages\.(\d+)\.conv_bn\.block\.1\.", r"patch_embed.stages.\1.bn."),
    (r"^patch_embed\.positional_encoding\.conv_bn\.block\.0\.", "patch_embed.pos.conv."),
    (r"^patch_embed\.positional_encoding\.conv_bn\.block\.1\.", "patch_embed.pos.bn."),
    (r"\.attn\.qkv_conv_bn\.0\.", ".attn.qkv_conv."),
    (r"\.attn\.qkv_conv_bn\.1\.", ".attn.qkv_bn."),
    (r"\.attn\.proj_conv_bn\.0\.", ".attn.proj_conv."),
    (r"\.attn\.proj_conv_bn\.1\.", ".attn.proj_bn."),
    (r"\.attn\.qk_conv_bn\.0\.", ".attn.qk_conv."),
    (r"\.attn\.qk_conv_bn\.1\.", ".attn.qk_bn."),
    (r"\.mlp\.fc(\d)\.0\.", r".mlp.fc\1_conv."),
    (r"\.mlp\.fc(\d)\.1\.", r".mlp.fc\1_bn."),
]


def is_uniform(config: SubnetConfig) -> bool:
    """True when every block has the same heads and ratio and the default neurons."""
    return (len(set(config.num_heads)) == 1 and len(set(config.mlp_ratio)) == 1
            and set(config.tau) == {2.0} and set(config.v_threshold) == {1.0} and config.all_ssa)


def reference_spikformer(config: SubnetConfig) -> nn.Module:
    """spikingjelly's ``Spikformer`` of a uniform config (patch 4 or 16 only).

    Its forward returns ``[T, N, classes]``: average over dim 0 to compare with ours.
    """
    from spikingjelly.activation_based.model.spikformer import Spikformer as SJSpikformer

    if not is_uniform(config):
        raise ValueError("the reference Spikformer exists only for uniform configs with tau 2 and threshold 1")
    return SJSpikformer(
        T=config.time_steps, in_channels=config.in_channels, img_size_h=config.image_size,
        img_size_w=config.image_size, patch_size=config.patch_size, num_classes=config.num_classes,
        embed_dims=config.embed_dim, num_heads=config.num_heads[0], mlp_ratio=config.mlp_ratio[0],
        depths=config.depth,
    )


def from_reference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a spikingjelly ``Spikformer`` state dict to :class:`autosnn.Spikformer` names."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def reference_mixer(mixer: str, dim: int, num_heads: int, tau: float | None = None,
                    v_threshold: float | None = None) -> nn.Module:
    """spikingjelly 2.0's layer for a token mixer: ``SpikingSelfAttention`` (``ssa``),
    ``TokenQKAttention`` (``qk_token``) or ``ChannelQKAttention`` (``qk_channel``).
    ``[T, N, C, L]`` in and out.

    By default its own default neurons (tau 2, threshold 1, attention neuron 0.5). With
    ``tau`` / ``v_threshold``, spikingjelly's layer is built with them (it passes them to
    every neuron) and its attention neuron is then set to our rule, half the threshold
    (stated here on its own, as the reference for
    :func:`~autosnn.supernet.layers.attention_threshold`): the layer our mixer equals."""
    from spikingjelly.activation_based.layer import attention

    layers = {"ssa": attention.SpikingSelfAttention, "qk_token": attention.TokenQKAttention,
              "qk_channel": attention.ChannelQKAttention}
    kwargs = {k: float(v) for k, v in (("tau", tau), ("v_threshold", v_threshold)) if v is not None}
    layer = layers[mixer](dim, num_heads, **kwargs)
    if v_threshold is not None:
        layer.attn_lif.v_threshold = float(v_threshold) / 2
    return layer


def mixer_from_reference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the state dict of a :func:`reference_mixer` layer to the names of our mixer
    (:func:`autosnn.supernet.layers.make_mixer`)."""
    renamed = from_reference_state_dict({f"x.attn.{k}": v for k, v in state.items()})
    return {k[len("x.attn."):]: v for k, v in renamed.items()}
