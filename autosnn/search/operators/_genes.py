"""Which genes of a genome an operator may touch (shared by the operator modules)."""

from __future__ import annotations

import random

import numpy as np

from autosnn.search_spaces.space import GLOBAL_FIELDS, SearchSpace
from autosnn.search_spaces.subnet_config import BLOCK_FIELDS

__all__ = ["active_genes", "genes_of", "block_genes", "depth_of", "seed_python_random"]


#: ``genes_of`` per (space, fields), computed once: operators ask for every offspring.
_GENES_OF: dict[tuple[int, tuple[str, ...]], tuple[SearchSpace, np.ndarray]] = {}


def genes_of(space: SearchSpace, fields: tuple[str, ...]) -> np.ndarray:
    """``space.genes_of(*fields)``, memoised per space object."""
    key = (id(space), fields)
    hit = _GENES_OF.get(key)
    if hit is None or hit[0] is not space:
        hit = _GENES_OF[key] = (space, space.genes_of(*fields))
    return hit[1]


def active_genes(space: SearchSpace, genome: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """Indices of the genes of ``fields`` that are active in ``genome`` (global genes always,
    block genes only for blocks below the genome's depth)."""
    limit = len(GLOBAL_FIELDS) + depth_of(space, genome) * len(BLOCK_FIELDS)
    idx = genes_of(space, fields)
    return idx[idx < limit]


def depth_of(space: SearchSpace, genome: np.ndarray) -> int:
    return space.choices["depth"][int(genome[0])]


def block_genes(space: SearchSpace, first: int, stop: int) -> np.ndarray:
    """Indices of every gene of blocks ``first .. stop - 1``."""
    start = len(GLOBAL_FIELDS) + first * len(BLOCK_FIELDS)
    return np.arange(start, len(GLOBAL_FIELDS) + max(first, stop) * len(BLOCK_FIELDS))


def seed_python_random(random_state: np.random.Generator) -> None:
    """DEAP draws from Python's global :mod:`random`; seed it from pymoo's generator so
    that a run is reproduced exactly by the same seed (DESIGN.md, Known pitfalls)."""
    random.seed(int(random_state.integers(0, 2**63 - 1)))
