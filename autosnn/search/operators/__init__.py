"""Variation operators over a :class:`~autosnn.search_spaces.SearchSpace` genome, as pymoo
operator classes (one class per module, after pymoo's own ``operators`` package).

* architecture genes (depth, embed_dim, per-block num_heads / mlp_ratio / attention):
  :class:`ArchCrossover` (uniform) and :class:`ArchMutation` (per-gene resampling);
* neuron genes (per-block v_threshold / tau, global time_steps), the ESNN part:
  :class:`ESNNCrossover` and :class:`ESNNMutation`, wrapping DEAP's operators;
* :class:`GenomeCrossover` / :class:`GenomeMutation` apply both to their own genes;
* :class:`SpaceSampling`, :class:`SpaceRepair` and :class:`CanonicalDuplicateElimination`
  keep every genome valid, canonical and new.
"""

from autosnn.search.operators.arch_crossover import ArchCrossover
from autosnn.search.operators.arch_mutation import ArchMutation
from autosnn.search.operators.duplicates import CanonicalDuplicateElimination, genome_key
from autosnn.search.operators.esnn_crossover import ESNNCrossover
from autosnn.search.operators.esnn_mutation import ESNNMutation
from autosnn.search.operators.genome_crossover import GenomeCrossover
from autosnn.search.operators.genome_mutation import GenomeMutation
from autosnn.search.operators.repair import SpaceRepair
from autosnn.search.operators.sampling import SpaceSampling

__all__ = [
    "ArchCrossover", "ArchMutation", "ESNNCrossover", "ESNNMutation", "GenomeCrossover", "GenomeMutation",
    "SpaceSampling", "SpaceRepair", "CanonicalDuplicateElimination", "genome_key",
]
