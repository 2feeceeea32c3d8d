"""Initial (and random-search) candidates: uniform samples of the space, optionally
headed by the space's extreme subnets."""

from __future__ import annotations

import numpy as np
from pymoo.core.sampling import Sampling

from autosnn.search.operators.duplicates import CanonicalDuplicateElimination, genome_key
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["SpaceSampling", "extreme_configs"]


def extreme_configs(space: SearchSpace) -> list[SubnetConfig]:
    """The corners of the space that anchor both ends of a front: the largest subnet
    (the accuracy end), the smallest, and the smallest with the highest threshold and
    tau and the fewest time steps (the quietest: the energy end). Duplicates removed."""
    small = space.smallest()
    c = space.choices
    quiet = space.config(depth=small.depth, embed_dim=small.embed_dim, time_steps=min(c["time_steps"]),
                         num_heads=small.num_heads[0], mlp_ratio=small.mlp_ratio[0],
                         v_threshold=max(c["v_threshold"]), tau=max(c["tau"]))
    return list(dict.fromkeys([space.largest(), small, quiet]))


class SpaceSampling(Sampling):
    """``n`` distinct canonical genomes of :meth:`SearchSpace.sample` draws (every
    dimension uniform among its choices, per block independently), skipping any genome
    in ``duplicates.seen``. Gives fewer than ``n`` only when ``max_tries * n`` draws
    found no more new genomes (a nearly exhausted space).

    ``seeds`` (configs) come first, those not yet seen, before any random draw: NSGA-II's
    first population can start from the space's extremes (:func:`extreme_configs`)."""

    def __init__(self, space: SearchSpace, duplicates: CanonicalDuplicateElimination | None = None,
                 max_tries: int = 100, seeds: list[SubnetConfig] | tuple = ()) -> None:
        super().__init__()
        self.space = space
        self.duplicates = duplicates
        self.max_tries = int(max_tries)
        self.seeds = [space.encode(c) for c in seeds]

    def _do(self, problem, n_samples, *args, random_state: np.random.Generator = None, **kwargs) -> np.ndarray:
        seen = self.duplicates.seen if self.duplicates is not None else set()
        out: list[np.ndarray] = []
        keys: set[tuple[int, ...]] = set()
        for g in self.seeds[:n_samples]:
            k = genome_key(g)
            if k not in keys and k not in seen:
                keys.add(k)
                out.append(g)
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
