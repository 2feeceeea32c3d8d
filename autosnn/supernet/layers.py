"""Spikformer building blocks shared by the supernet and the standalone model.

Each block is written once and built from a :class:`LayerKit`: ``PLAIN`` (ordinary
``nn`` layers of exact size, for :class:`autosnn.Spikformer`) or ``ELASTIC`` (layers
that own the largest weight and slice it, for the supernet). The computation is the
one of spikingjelly 2.0's ``spikingjelly.activation_based.model.spikformer``:

* shapes are multi-step, ``[T, N, C, H, W]`` in the stem and ``[T, N, C, L]`` in the
  encoder blocks; conv and BatchNorm see time and batch flattened, ``[T*N, ...]``;
* every LIF neuron is spikingjelly's multi-step ``LIFNode`` with ``detach_reset=True``;
  a block's ``tau`` applies to all of its neurons and its ``v_threshold`` to all but
  the attention neuron (SSA's output neuron, Q-K attention's mask neuron), which takes
  half of it (:func:`attention_threshold`);
* attention is ``(v @ k^T) @ q * 0.125`` per head (:class:`SpikeAttention`);
* a block's token mixer is that spiking self-attention (SSA) or QKFormer's Q-K attention
  (:class:`QKAttention`, spikingjelly's ``layer.attention.TokenQKAttention`` /
  ``ChannelQKAttention``); in the supernet one :class:`SwitchableAttention` computes
  all of them from shared weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron

from autosnn.supernet import elastic

__all__ = ["LayerKit", "PLAIN", "ELASTIC", "ConvBNLIF", "PatchStem", "SpikeAttention",
           "SpikingSelfAttention", "QKAttention", "SwitchableAttention", "make_mixer", "q_k_mask",
           "SpikingMLP", "EncoderBlock", "make_lif", "attention_threshold", "set_neurons"]

ATTN_SCALE = 0.125


def make_lif(tau: float = 2.0, v_threshold: float = 1.0) -> neuron.LIFNode:
    """A multi-step LIF neuron as Spikformer uses it."""
    return neuron.LIFNode(tau=float(tau), v_threshold=float(v_threshold), detach_reset=True, step_mode="m")


def attention_threshold(v_threshold: float) -> float:
    """The threshold of a block's attention neuron: half the block's ``v_threshold``.

    Where this equals spikingjelly 2.0: its ``SpikingSelfAttention`` and
    ``TokenQKAttention`` / ``ChannelQKAttention`` give the attention neuron 0.5 and the
    others 1.0 by default, so at the default threshold (1.0) our mixers are exactly its
    layers. Given ``v_threshold=`` (or ``tau=``), spikingjelly passes it to *every* neuron,
    the attention neuron included; at a non-default threshold our attention neuron keeps
    half of it instead, so our block equals spikingjelly's layer built with that
    threshold and its ``attn_lif.v_threshold`` then set to half of it (tau is the same for
    every neuron in both). Half is kept because it is the one rule that reproduces
    Spikformer's defaults and scales with the block: the attention neuron sums
    ``(v @ k^T) @ q * 0.125`` (SSA) or a head's q spikes (Q-K), inputs on another scale
    than the BatchNorm outputs the other neurons see.
    """
    return float(v_threshold) / 2


def set_neurons(module: nn.Module, tau: float, v_threshold: float) -> None:
    """Give every LIF neuron of ``module`` (a block or one token mixer) ``tau`` and
    ``v_threshold``, except its attention neurons (``attn_lif``), which take
    :func:`attention_threshold` of it."""
    for name, lif in module.named_modules():
        if isinstance(lif, neuron.LIFNode):
            lif.tau = float(tau)
            is_attention = name == "attn_lif" or name.endswith(".attn_lif")
            lif.v_threshold = attention_threshold(v_threshold) if is_attention else float(v_threshold)


@dataclass(frozen=True)
class LayerKit:
    """Constructors of the layers a block needs; sizes given are the (largest) sizes."""

    conv2d: Callable[[int, int], nn.Module]           # 3x3, stride 1, pad 1, no bias
    conv1d: Callable[[int, int], nn.Module]           # pointwise, no bias
    qkv_conv: Callable[[int], nn.Module]              # dim -> 3*dim pointwise
    bn1d: Callable[[int], nn.Module]                  # BatchNorm of [B, C, L]
    bn2d: Callable[[int], nn.Module]                  # BatchNorm of [B, C, H, W]
    qkv_bn: Callable[[int], nn.Module]                # BatchNorm over 3*dim channels
    linear: Callable[[int, int], nn.Module]           # the classifier head


PLAIN = LayerKit(
    conv2d=lambda i, o: nn.Conv2d(i, o, 3, 1, 1, bias=False),
    conv1d=lambda i, o: nn.Conv1d(i, o, 1, bias=False),
    qkv_conv=lambda d: nn.Conv1d(d, 3 * d, 1, bias=False),
    bn1d=nn.BatchNorm1d,
    bn2d=nn.BatchNorm2d,
    qkv_bn=lambda d: nn.BatchNorm1d(3 * d),
    linear=nn.Linear,
)

ELASTIC = LayerKit(
    conv2d=lambda i, o: elastic.ElasticConv2d(i, o, 3, 1, 1, bias=False),
    conv1d=lambda i, o: elastic.ElasticConv1d(i, o, 1, bias=False),
    qkv_conv=elastic.ElasticQKVConv1d,
    bn1d=elastic.ElasticBatchNorm,
    bn2d=elastic.ElasticBatchNorm,
    qkv_bn=elastic.ElasticQKVBatchNorm1d,
    linear=elastic.ElasticLinear,
)


def _seq(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-sample module to ``[T, N, ...]`` by flattening time into batch."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class ConvBNLIF(nn.Module):
    """3x3 conv + BatchNorm (+ 3x3/2 max-pool) + LIF. ``[T, N, Cin, H, W] -> [T, N, Cout, H', W']``."""

    def __init__(self, kit: LayerKit, cin: int, cout: int, pool: bool) -> None:
        super().__init__()
        self.conv = kit.conv2d(cin, cout)
        self.bn = kit.bn2d(cout)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else nn.Identity()
        self.lif = make_lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(_seq(lambda z: self.pool(self.bn(self.conv(z))), x))


class PatchStem(nn.Module):
    """Spiking patch splitting (SPS): four conv stages of widths E/8, E/4, E/2, E, the last
    ``log2(patch_size)`` of them closed by a max-pool, then a relative-position conv
    added back as a residual. ``[T, N, Cin, H, W] -> [T, N, E, L]`` with ``L = (H/p)*(W/p)``.
    """

    def __init__(self, kit: LayerKit, in_channels: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        n_pool = int(round(math.log2(patch_size)))
        if 2 ** n_pool != patch_size or n_pool > 4:
            raise ValueError(f"patch_size must be 1, 2, 4, 8 or 16, got {patch_size}")
        widths = stem_widths(embed_dim)
        cins = [in_channels] + widths[:-1]
        self.stages = nn.ModuleList(
            ConvBNLIF(kit, ci, co, pool=i >= 4 - n_pool) for i, (ci, co) in enumerate(zip(cins, widths))
        )
        self.pos = ConvBNLIF(kit, embed_dim, embed_dim, pool=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        x = x + self.pos(x)
        return x.flatten(3)


def stem_widths(embed_dim: int) -> list[int]:
    """Output widths of the four stem stages for ``embed_dim`` (as in Spikformer)."""
    return [embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]


class SpikeAttention(nn.Module):
    """The spike-driven attention product ``(v @ k^T) @ q * scale``.

    Inputs ``q, k, v``: ``[T, N, heads, C/heads, L]`` binary spikes; output of the same
    shape. A module (with no weights) so that energy hooks can see its operands.
    """

    def __init__(self, scale: float = ATTN_SCALE) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (v @ k.transpose(-2, -1)) @ q * self.scale


class _ProjectedMixer(nn.Module):
    """A token mixer ending in the output projection ``proj_conv``, a BatchNorm, ``proj_lif``."""

    def _split(self, x: torch.Tensor, conv: nn.Module, bn: nn.Module, lif: nn.Module,
               parts: int) -> tuple[torch.Tensor, ...]:
        """The fused projection ``conv``, ``bn``, ``lif`` of ``x`` ``[T, N, C, L]`` cut into
        ``parts`` spike tensors ``[T, N, heads, C/heads, L]`` (q, k[, v]) by ``num_heads``."""
        T, N, C, L = x.shape
        h = self.num_heads
        if C % h:
            raise ValueError(f"embed width {C} is not divisible by num_heads {h}")
        y = lif(_seq(lambda z: bn(conv(z)), x))
        return y.view(T, N, parts, h, C // h, L).unbind(2)

    def _project(self, x: torch.Tensor, bn: nn.Module) -> torch.Tensor:
        """The output projection: pointwise conv, ``bn``, LIF. ``[T, N, C, L]`` -> spikes."""
        return self.proj_lif(_seq(lambda z: bn(self.proj_conv(z)), x))


class SpikingSelfAttention(_ProjectedMixer):
    """Spiking self-attention (SSA). ``[T, N, C, L] -> [T, N, C, L]`` spikes.

    spikingjelly 2.0's ``SpikingSelfAttention``: equal to it at the default neurons
    (tau 2, threshold 1, attention neuron 0.5), and at other neurons equal to it built
    with the same ``tau`` and ``v_threshold`` and its ``attn_lif`` set to half the
    threshold (:func:`attention_threshold`; spikingjelly would give ``attn_lif`` the
    full threshold). ``num_heads`` is read at every forward, so the supernet can change
    the head split.
    """

    def __init__(self, kit: LayerKit, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv_conv = kit.qkv_conv(dim)
        self.qkv_bn = kit.qkv_bn(dim)
        self.qkv_lif = make_lif()
        self.attention = SpikeAttention()
        self.attn_lif = make_lif(v_threshold=attention_threshold(1.0))
        self.proj_conv = kit.conv1d(dim, dim)
        self.proj_bn = kit.bn1d(dim)
        self.proj_lif = make_lif()

    def projection_bn(self) -> nn.Module:
        return self.proj_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(x, self.qkv_conv, self.qkv_bn, self.qkv_lif, 3)
        return self._project(self.attn_lif(self.attention(q, k, v)).reshape(x.shape), self.projection_bn())


def q_k_mask(q: torch.Tensor, k: torch.Tensor, mixer: str, attn_lif: nn.Module) -> torch.Tensor:
    """Q-K attention (QKFormer): a spike mask from ``q`` applied to ``k``.

    ``q, k``: ``[T, N, heads, C/heads, L]`` spikes. ``qk_token`` sums ``q`` over each
    head's channels (mask ``[T, N, heads, 1, L]``, one spike per token), ``qk_channel``
    over the tokens (mask ``[T, N, heads, C/heads, 1]``); the sums go through
    ``attn_lif`` and the mask multiplies ``k``. Returns ``[T, N, heads, C/heads, L]``.
    """
    if mixer not in ("qk_token", "qk_channel"):
        raise ValueError(f"not a Q-K mixer: {mixer!r}")
    return attn_lif(q.sum(dim=3 if mixer == "qk_token" else 4, keepdim=True)) * k


class QKAttention(_ProjectedMixer):
    """QKFormer's Q-K attention, token-wise (``qk_token``) or channel-wise (``qk_channel``),
    as spikingjelly 2.0's ``TokenQKAttention`` / ``ChannelQKAttention``: a fused q|k
    projection of ``2C`` rows + BatchNorm + LIF, the mask of :func:`q_k_mask` (its
    neuron's threshold is half the block's, :func:`attention_threshold`: spikingjelly's
    layer at the default threshold, and at any other threshold spikingjelly's layer built
    with it and its mask neuron set to half), then the output projection.
    ``[T, N, C, L] -> [T, N, C, L]`` spikes. Built with the ``PLAIN`` kit only (the
    supernet computes it inside :class:`SwitchableAttention`).
    """

    def __init__(self, kit: LayerKit, dim: int, num_heads: int, mixer: str) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.mixer = mixer
        self.qk_conv = kit.conv1d(dim, 2 * dim)
        self.qk_bn = kit.bn1d(2 * dim)
        self.qk_lif = make_lif()
        self.attn_lif = make_lif(v_threshold=attention_threshold(1.0))
        self.proj_conv = kit.conv1d(dim, dim)
        self.proj_bn = kit.bn1d(dim)
        self.proj_lif = make_lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self._split(x, self.qk_conv, self.qk_bn, self.qk_lif, 2)
        return self._project(q_k_mask(q, k, self.mixer, self.attn_lif).reshape(x.shape), self.proj_bn)


def make_mixer(kit: LayerKit, dim: int, num_heads: int, mixer: str) -> nn.Module:
    """The token mixer ``mixer`` (``ssa``, ``qk_token`` or ``qk_channel``) of one block."""
    if mixer == "ssa":
        return SpikingSelfAttention(kit, dim, num_heads)
    return QKAttention(kit, dim, num_heads, mixer)


class SwitchableAttention(SpikingSelfAttention):
    """The supernet's token mixer: SSA, or Q-K attention from the same weights.

    Q-K attention's q and k are the q and k rows of SSA's fused projection (rows ``0:e``
    and ``E:E+e`` of the largest weight, and the same BatchNorm channels); only those two
    blocks are computed, so a Q-K block costs no V projection. The output projection
    conv is shared; its BatchNorm is shared too, or (``per_mixer_bn``) one per mixer in
    ``mixers``, since the statistics of its input differ per mixer: SSA keeps
    ``proj_bn``, the others ``mixer_proj_bn[mixer]``.

    :attr:`mixer` is set by :meth:`set_mixer`; ``[T, N, e, L] -> [T, N, e, L]`` spikes.
    """

    def __init__(self, kit: LayerKit, dim: int, num_heads: int, mixers: tuple[str, ...] = ("ssa",),
                 per_mixer_bn: bool = False) -> None:
        super().__init__(kit, dim, num_heads)
        self.mixer = "ssa"
        self.mixer_proj_bn = nn.ModuleDict(
            {m: kit.bn1d(dim) for m in mixers if m != "ssa"} if per_mixer_bn else {})

    def set_mixer(self, mixer: str) -> None:
        self.mixer = mixer
        parts = 3 if mixer == "ssa" else 2
        self.qkv_conv.active_parts = parts
        self.qkv_bn.active_parts = parts

    def projection_bn(self) -> nn.Module:
        """The BatchNorm of the output projection of the active mixer."""
        return self.mixer_proj_bn[self.mixer] if self.mixer in self.mixer_proj_bn else self.proj_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mixer == "ssa":
            return super().forward(x)
        q, k = self._split(x, self.qkv_conv, self.qkv_bn, self.qkv_lif, 2)   # only the q|k rows are active
        return self._project(q_k_mask(q, k, self.mixer, self.attn_lif).reshape(x.shape), self.projection_bn())


class SpikingMLP(nn.Module):
    """Two pointwise conv + BN + LIF layers. ``[T, N, C, L] -> [T, N, C, L]`` spikes."""

    def __init__(self, kit: LayerKit, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1_conv = kit.conv1d(dim, hidden)
        self.fc1_bn = kit.bn1d(hidden)
        self.fc1_lif = make_lif()
        self.fc2_conv = kit.conv1d(hidden, dim)
        self.fc2_bn = kit.bn1d(dim)
        self.fc2_lif = make_lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_lif(_seq(lambda z: self.fc1_bn(self.fc1_conv(z)), x))
        return self.fc2_lif(_seq(lambda z: self.fc2_bn(self.fc2_conv(z)), x))


class EncoderBlock(nn.Module):
    """``x + mixer(x)``, then ``x + MLP(x)``. ``[T, N, C, L] -> [T, N, C, L]`` (not binary).

    ``attn``: the token mixer (default: SSA built from ``kit``)."""

    def __init__(self, kit: LayerKit, dim: int, num_heads: int, hidden: int, attn: nn.Module | None = None) -> None:
        super().__init__()
        self.attn = attn if attn is not None else SpikingSelfAttention(kit, dim, num_heads)
        self.mlp = SpikingMLP(kit, dim, hidden)

    def set_neurons(self, tau: float, v_threshold: float) -> None:
        """Give every neuron of the block ``tau``; ``v_threshold`` to all but the
        attention neuron, which takes half of it (:func:`attention_threshold`)."""
        set_neurons(self, tau, v_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


def classify(head: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Mean over tokens, the head at every time step, mean over time.
    ``[T, N, C, L] -> [N, classes]``."""
    return head(tokens.mean(dim=-1)).mean(dim=0)


def to_sequence(x: torch.Tensor | Mapping[int, torch.Tensor], time_steps: int) -> torch.Tensor:
    """``[N, C, H, W]`` static images are repeated ``time_steps`` times; ``[T, N, C, H, W]``
    event frames pass through (their own T is used); from event frames integrated at
    several T, ``{T: [T, N, C, H, W]}``, the entry of ``time_steps`` is taken."""
    if isinstance(x, Mapping):
        if time_steps not in x:
            raise ValueError(f"event frames are loaded for T in {sorted(x)}, not for this model's T={time_steps}")
        return x[time_steps]
    if x.dim() == 4:
        return x.unsqueeze(0).expand(time_steps, *x.shape)
    if x.dim() == 5:
        return x
    raise ValueError(f"expected [N, C, H, W] images or [T, N, C, H, W] frames, got shape {tuple(x.shape)}")
