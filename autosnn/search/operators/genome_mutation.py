"""The search's mutation: architecture genes by resampling, neuron genes by ESNN."""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation

from autosnn.search.operators._genes import block_genes, depth_of
from autosnn.search.operators.arch_mutation import ArchMutation
from autosnn.search.operators.esnn_mutation import ESNNMutation
from autosnn.search_spaces.space import SearchSpace

__all__ = ["GenomeMutation"]


class GenomeMutation(Mutation):
    """Applies :class:`ArchMutation` to the architecture genes, then :class:`ESNNMutation`
    to the neuron genes (of the blocks active after the architecture mutation). A block
    that a deeper ``depth`` switches on gets every gene drawn uniformly (as AutoFormer
    adds a layer), not the canonical zeros it held while inactive."""

    def __init__(self, space: SearchSpace, *, block_prob: float = 0.2, global_prob: float = 0.4,
                 neuron_prob: float = 0.2, time_steps_prob: float = 0.4, eta: float = 20.0, **kwargs) -> None:
        super().__init__(prob=1.0, **kwargs)
        self.space, self.n_choices = space, space.n_choices
        self.arch = ArchMutation(space, block_prob=block_prob, global_prob=global_prob)
        self.esnn = ESNNMutation(space, neuron_prob=neuron_prob, time_steps_prob=time_steps_prob, eta=eta)

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        Y = self.arch._do(problem, X, random_state=random_state)
        for before, row in zip(X, Y):
            new = block_genes(self.space, depth_of(self.space, before), depth_of(self.space, row))
            row[new] = random_state.integers(0, self.n_choices[new])
        return self.esnn._do(problem, Y, random_state=random_state)
