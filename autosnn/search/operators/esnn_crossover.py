"""ESNN crossover: DEAP's uniform crossover on the neuron genes."""

from __future__ import annotations

import numpy as np
from deap import tools
from pymoo.core.crossover import Crossover

from autosnn.search.operators._genes import seed_python_random
from autosnn.search_spaces.space import SearchSpace

__all__ = ["ESNNCrossover"]


class ESNNCrossover(Crossover):
    """Crossover of the neuron genes (every block's ``v_threshold`` and ``tau``, and the
    global ``time_steps``) by :func:`deap.tools.cxUniform`, after the evolved SNN neuron
    parameters of ESNN (Schuman et al., "Evolutionary optimization for neuromorphic
    systems", 2020) and Auto-Spikformer. Two parents give two children; architecture
    genes are copied from the parents unchanged.

    DEAP draws from Python's :mod:`random`, which is seeded from pymoo's generator on
    every call.
    """

    def __init__(self, space: SearchSpace, swap_prob: float = 0.5, prob: float = 0.9, **kwargs) -> None:
        super().__init__(n_parents=2, n_offsprings=2, prob=prob, **kwargs)
        self.space = space
        self.swap_prob = float(swap_prob)
        self.genes = space.neuron_genes

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        seed_python_random(random_state)
        Y = np.array(X, dtype=np.int64, copy=True)
        for k in range(X.shape[1]):
            a = [int(v) for v in X[0, k, self.genes]]
            b = [int(v) for v in X[1, k, self.genes]]
            tools.cxUniform(a, b, indpb=self.swap_prob)
            Y[0, k, self.genes], Y[1, k, self.genes] = a, b
        return Y
