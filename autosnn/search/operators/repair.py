"""Keep every genome a valid, canonical member of the space."""

from __future__ import annotations

import numpy as np
from pymoo.core.repair import Repair

from autosnn.search_spaces.space import SearchSpace

__all__ = ["SpaceRepair"]


class SpaceRepair(Repair):
    """:meth:`SearchSpace.repair` on every row: genes clipped into range, head counts
    that do not divide ``embed_dim`` moved to the nearest valid choice, inactive block
    genes zeroed (so that equal subnets have equal genomes)."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space

    def _do(self, problem, X, **kwargs) -> np.ndarray:
        if len(X) == 0:
            return np.asarray(X, dtype=np.int64)
        return np.stack([self.space.repair(x) for x in X]).astype(np.int64)
