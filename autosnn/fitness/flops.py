"""ANN-equivalent multiply-accumulates of a subnet, from its architecture alone.

Every convolution, linear map and attention matmul counted in full (as if its input
were real-valued), per sample over all T time steps. This is the FLOPs-style
performance proxy of the training-free (AutoST) scorer; it needs no weights.
"""

from __future__ import annotations

import math

from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.layers import stem_widths

__all__ = ["ann_macs"]


def _pooled(size: int) -> int:
    """Output size of ``MaxPool2d(3, 2, 1)``."""
    return (size + 2 - 3) // 2 + 1


def ann_macs(config: SubnetConfig) -> float:
    """Multiply-accumulates per sample over ``config.time_steps`` steps (FLOPs / 2).

    Stem: four 3x3 convs of widths E/8, E/4, E/2, E (the last ``log2(patch)`` followed by a
    3x3/2 max-pool) and the 3x3 relative-position conv; per block with ``L`` tokens:
    q|k|v ``3E^2 L``, ``v @ k^T`` and ``(v k^T) @ q`` ``E d L`` each (``d = E / heads``),
    proj ``E^2 L``, MLP ``2 E H L``; the head ``E x classes`` at every step. A Q-K
    attention block (``qk_token`` / ``qk_channel``) has a q|k projection ``2E^2 L`` and no
    matmul (its mask is a sum and an element-wise product, not counted).
    """
    e, size, c = config.embed_dim, config.image_size, config.in_channels
    n_pool = int(round(math.log2(config.patch_size)))
    total = 0
    for i, w in enumerate(stem_widths(e)):
        total += c * 9 * w * size * size
        if i >= 4 - n_pool:
            size = _pooled(size)
        c = w
    tokens = size * size
    total += e * 9 * e * tokens
    for b in range(config.depth):
        d = e // config.num_heads[b]
        hidden = config.hidden_dim(b)
        if config.attention[b] == "ssa":
            total += 3 * e * e * tokens + 2 * e * d * tokens
        else:
            total += 2 * e * e * tokens
        total += e * e * tokens + 2 * e * hidden * tokens
    total += e * config.num_classes
    return float(total * config.time_steps)
