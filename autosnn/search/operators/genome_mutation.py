"""The search's mutation: architecture genes by resampling, neuron genes by ESNN."""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation

from autosnn.search.operators.arch_mutation import ArchMutation
from autosnn.search.operators.esnn_mutation import ESNNMutation
from autosnn.search_spaces.space import SearchSpace

__all__ = ["GenomeMutation"]


class GenomeMutation(Mutation):
    """Applies :class:`ArchMutation` to the architecture genes, then :class:`ESNNMutation`
    to the neuron genes (of the blocks active after the architecture mutation)."""

    def __init__(self, space: SearchSpace, *, block_prob: float = 0.2, global_prob: float = 0.4,
                 neuron_prob: float = 0.2, time_steps_prob: float = 0.4, eta: float = 20.0, **kwargs) -> None:
        super().__init__(prob=1.0, **kwargs)
        self.arch = ArchMutation(space, block_prob=block_prob, global_prob=global_prob)
        self.esnn = ESNNMutation(space, neuron_prob=neuron_prob, time_steps_prob=time_steps_prob, eta=eta)

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        Y = self.arch._do(problem, X, random_state=random_state)
        return self.esnn._do(problem, Y, random_state=random_state)
