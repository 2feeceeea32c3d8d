"""Per-gene resampling of the architecture genes."""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation

from autosnn.search.operators._genes import active_genes
from autosnn.search_spaces.space import SearchSpace

__all__ = ["ArchMutation"]


class ArchMutation(Mutation):
    """Random-resetting mutation of the architecture genes, with the probabilities of
    Auto-Spikformer (Che et al., "Auto-Spikformer: Spikformer architecture search",
    2023, after AutoFormer's evolution): ``depth`` and ``embed_dim`` are redrawn
    uniformly from their choices with ``global_prob`` each, every active block's
    ``num_heads`` and ``mlp_ratio`` (and token mixer ``attention``, where the space
    declares it) with ``block_prob``. The depth is mutated first, so a
    block that it switches on can be mutated too. Neuron genes are never touched.
    """

    def __init__(self, space: SearchSpace, block_prob: float = 0.2, global_prob: float = 0.4, **kwargs) -> None:
        super().__init__(prob=1.0, **kwargs)
        self.space = space
        self.block_prob = float(block_prob)
        self.global_prob = float(global_prob)
        self.n_choices = space.n_choices
        self.global_genes = space.genes_of("depth", "embed_dim")

    def _do(self, problem, X, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        Y = np.array(X, dtype=np.int64, copy=True)
        for row in Y:
            for g in self.global_genes:
                if random_state.random() < self.global_prob:
                    row[g] = random_state.integers(0, self.n_choices[g])
            for g in active_genes(self.space, row, ("num_heads", "mlp_ratio", "attention")):
                if random_state.random() < self.block_prob:
                    row[g] = random_state.integers(0, self.n_choices[g])
        return Y
