"""Initial (and random-search) candidates: uniform samples of the space."""

from __future__ import annotations

import numpy as np
from pymoo.core.sampling import Sampling

from autosnn.search.operators.duplicates import CanonicalDuplicateElimination, genome_key
from autosnn.search_spaces.space import SearchSpace

__all__ = ["SpaceSampling"]


class SpaceSampling(Sampling):
    """``n`` distinct canonical genomes of :meth:`SearchSpace.sample` draws (every
    dimension uniform among its choices, per block independently), skipping any genome
    in ``duplicates.seen``. Gives fewer than ``n`` only when ``max_tries * n`` draws
    found no more new genomes (a nearly exhausted space)."""

    def __init__(self, space: SearchSpace, duplicates: CanonicalDuplicateElimination | None = None,
                 max_tries: int = 100) -> None:
        super().__init__()
        self.space = space
        self.duplicates = duplicates
        self.max_tries = int(max_tries)

    def _do(self, problem, n_samples, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        seen = self.duplicates.seen if self.duplicates is not None else set()
        out: list[np.ndarray] = []
        keys: set[tuple[int, ...]] = set()
        for _ in range(self.max_tries * max(1, n_samples)):
            if len(out) >= n_samples:
                break
            g = self.space.encode(self.space.sample(random_state))
            k = genome_key(g)
            if k in keys or k in seen:
                continue
            keys.add(k)
            out.append(g)
        if not out:
            return np.zeros((0, self.space.n_genes), dtype=np.int64)
        return np.stack(out).astype(np.int64)
