"""The weight-entangled Spikformer supernet, its elastic layers, and the standalone model."""

from autosnn.supernet.spikformer import Spikformer
from autosnn.supernet.supernet import SpikformerSupernet, subnet_num_parameters

__all__ = ["Spikformer", "SpikformerSupernet", "subnet_num_parameters"]
