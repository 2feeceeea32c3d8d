"""Uniform crossover of the architecture genes."""

from __future__ import annotations

import numpy as np
from pymoo.core.crossover import Crossover

from autosnn.search_spaces.space import SearchSpace

__all__ = ["ArchCrossover"]


class ArchCrossover(Crossover):
    """Uniform crossover (Syswerda, "Uniform crossover in genetic algorithms", ICGA 1989)
    restricted to the architecture genes (depth, embed_dim, per-block num_heads,
    mlp_ratio and, where the space declares it, attention), as in Auto-Spikformer's evolutionary search. Two parents give two
    children; each architecture gene is swapped with probability ``swap_prob``; the
    neuron genes are copied from the parents unchanged.
    """

    def __init__(self, space: SearchSpace, swap_prob: float = 0.5, prob: float = 0.9, **kwargs) -> None:
        super().__init__(n_parents=2, n_offsprings=2, prob=prob, **kwargs)
        self.space = space
        self.swap_prob = float(swap_prob)
        self.genes = space.arch_genes

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        Y = np.array(X, dtype=np.int64, copy=True)
        n_matings = X.shape[1]
        swap = random_state.random((n_matings, len(self.genes))) < self.swap_prob
        for k in range(n_matings):
            cols = self.genes[swap[k]]
            Y[0, k, cols], Y[1, k, cols] = X[1, k, cols], X[0, k, cols]
        return Y
