"""The search's crossover: architecture genes by one operator, neuron genes by ESNN."""

from __future__ import annotations

import numpy as np
from pymoo.core.crossover import Crossover

from autosnn.search.operators._genes import block_genes, depth_of
from autosnn.search.operators.arch_crossover import ArchCrossover
from autosnn.search.operators.esnn_crossover import ESNNCrossover
from autosnn.search_spaces.space import SearchSpace

__all__ = ["GenomeCrossover"]


class GenomeCrossover(Crossover):
    """Applies :class:`ArchCrossover` to the architecture genes and :class:`ESNNCrossover`
    to the neuron genes of the same two parents (the split of Auto-Spikformer's
    evolutionary search). With probability ``1 - prob`` a mating copies its parents.

    Before recombining, the shallower parent's inactive blocks borrow the deeper
    parent's genes, so a child that inherits the larger depth gets real blocks rather
    than the canonical zeros of inactive genes."""

    def __init__(self, space: SearchSpace, swap_prob: float = 0.5, prob: float = 0.9, **kwargs) -> None:
        super().__init__(n_parents=2, n_offsprings=2, prob=prob, **kwargs)
        self.arch = ArchCrossover(space, swap_prob=swap_prob)
        self.esnn = ESNNCrossover(space, swap_prob=swap_prob)
        self.space, self.neuron_genes = space, space.neuron_genes

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        X = np.array(X, dtype=np.int64, copy=True)
        for k in range(X.shape[1]):
            a, b = (depth_of(self.space, X[p, k]) for p in (0, 1))
            shallow, deep = (0, 1) if a < b else (1, 0)
            borrowed = block_genes(self.space, min(a, b), max(a, b))
            X[shallow, k, borrowed] = X[deep, k, borrowed]
        Y = self.arch._do(problem, X, random_state=random_state)
        N = self.esnn._do(problem, X, random_state=random_state)
        Y[:, :, self.neuron_genes] = N[:, :, self.neuron_genes]
        return Y
