"""ESNN mutation: DEAP's integer (or polynomial-bounded) mutation of the neuron genes."""

from __future__ import annotations

import numpy as np
from deap import tools
from pymoo.core.mutation import Mutation

from autosnn.search.operators._genes import active_genes, genes_of, seed_python_random
from autosnn.search_spaces.space import SearchSpace

__all__ = ["ESNNMutation"]


class ESNNMutation(Mutation):
    """Mutation of the neuron genes after ESNN (Schuman et al., "Evolutionary
    optimization for neuromorphic systems", 2020) as used by Auto-Spikformer: every
    active block's ``v_threshold`` and ``tau`` gene is redrawn with
    :func:`deap.tools.mutUniformInt` with probability ``neuron_prob``, and the global
    ``time_steps`` gene with ``time_steps_prob``.

    When the space declares its threshold as a continuous ``{low, high, step}`` range,
    the thresholds are mutated as values by :func:`deap.tools.mutPolynomialBounded`
    (Deb and Agrawal's polynomial mutation, distribution index ``eta``) and snapped to
    the nearest step. Architecture genes are never touched. Bounds are passed to DEAP as
    Python lists (an array would be taken as a scalar).
    """

    def __init__(self, space: SearchSpace, neuron_prob: float = 0.2, time_steps_prob: float = 0.4,
                 eta: float = 20.0, **kwargs) -> None:
        super().__init__(prob=1.0, **kwargs)
        self.space = space
        self.neuron_prob = float(neuron_prob)
        self.time_steps_prob = float(time_steps_prob)
        self.eta = float(eta)
        self.n_choices = space.n_choices
        self.thresholds = np.array(space.choices["v_threshold"], dtype=float)

    def _uniform_int(self, row: np.ndarray, genes: np.ndarray, prob: float) -> None:
        if len(genes) == 0:
            return
        ind = [int(v) for v in row[genes]]
        tools.mutUniformInt(ind, low=[0] * len(ind), up=[int(self.n_choices[g]) - 1 for g in genes], indpb=prob)
        row[genes] = ind

    def _polynomial(self, row: np.ndarray, genes: np.ndarray) -> None:
        if len(genes) == 0:
            return
        values = [float(self.thresholds[int(v)]) for v in row[genes]]
        low, high = float(self.thresholds[0]), float(self.thresholds[-1])
        tools.mutPolynomialBounded(values, eta=self.eta, low=[low] * len(values), up=[high] * len(values),
                                   indpb=self.neuron_prob)
        row[genes] = [int(np.argmin(np.abs(self.thresholds - v))) for v in values]

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        seed_python_random(random_state)
        Y = np.array(X, dtype=np.int64, copy=True)
        t_gene = genes_of(self.space, ("time_steps",))
        for row in Y:
            thresholds = active_genes(self.space, row, ("v_threshold",))
            if self.space.continuous_threshold:
                self._polynomial(row, thresholds)
            else:
                self._uniform_int(row, thresholds, self.neuron_prob)
            self._uniform_int(row, active_genes(self.space, row, ("tau",)), self.neuron_prob)
            self._uniform_int(row, t_gene, self.time_steps_prob)
        return Y
