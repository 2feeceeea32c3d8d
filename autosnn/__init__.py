"""autosnn: architecture search for accurate, energy-frugal spiking transformers."""

from autosnn.search_spaces import SearchSpace, SubnetConfig
from autosnn.supernet import Spikformer, SpikformerSupernet

__all__ = ["SearchSpace", "SubnetConfig", "Spikformer", "SpikformerSupernet"]
__version__ = "0.1.0"
