"""Duplicate elimination on canonical genomes, against the population and everything
already evaluated."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from pymoo.core.duplicate import DuplicateElimination

from autosnn.search_spaces.space import SearchSpace

__all__ = ["CanonicalDuplicateElimination", "genome_key"]


def genome_key(genome: Iterable[int]) -> tuple[int, ...]:
    """A hashable key of a canonical genome."""
    return tuple(int(v) for v in genome)


class CanonicalDuplicateElimination(DuplicateElimination):
    """Drops offspring whose canonical genome equals that of another offspring, of a
    member of the population, or of any candidate in :attr:`seen` (the genomes evaluated
    in earlier generations; the search updates it before every generation). Hash-based,
    so linear in the number of genomes."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.seen: set[tuple[int, ...]] = set()

    def key(self, x: np.ndarray) -> tuple[int, ...]:
        return genome_key(self.space.canonical(x))

    def _do(self, pop, other, is_duplicate: np.ndarray) -> np.ndarray:
        keys = [self.key(x) for x in pop.get("X")]
        if other is None:
            first: set[tuple[int, ...]] = set()
            for i, k in enumerate(keys):
                if k in first or k in self.seen:
                    is_duplicate[i] = True
                first.add(k)
        else:
            others = {self.key(x) for x in other.get("X")}
            for i, k in enumerate(keys):
                if k in others:
                    is_duplicate[i] = True
        return is_duplicate
