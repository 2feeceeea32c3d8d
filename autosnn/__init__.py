"""autosnn: architecture search for accurate, energy-frugal spiking transformers.

The public API: search spaces and subnet configs, the supernet and the standalone
model, campaigns, the energy model and F_AEB, evaluators, and exports.
"""

from autosnn.campaign import Campaign
from autosnn.export import export_subnet, load_subnet
from autosnn.fitness import EnergyCosts, EvalResult, LemaireCosts, LocalEvaluator, SimpleCosts, f_aeb, measure_energy
from autosnn.search_spaces import SearchSpace, SubnetConfig
from autosnn.supernet import Spikformer, SpikformerSupernet

__all__ = [
    "Campaign", "SearchSpace", "SubnetConfig", "Spikformer", "SpikformerSupernet", "EnergyCosts",
    "SimpleCosts", "LemaireCosts", "measure_energy", "f_aeb", "EvalResult", "LocalEvaluator", "export_subnet", "load_subnet",
]
__version__ = "0.1.0"
