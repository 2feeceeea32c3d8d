"""Which genes of a genome an operator may touch (shared by the operator modules)."""

from __future__ import annotations

import random

import numpy as np

from autosnn.search_spaces.space import SearchSpace

__all__ = ["active_genes", "block_genes", "depth_of", "seed_python_random"]



def active_genes(space: SearchSpace, genome: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """Indices of the genes of ``fields`` that are active in ``genome`` (global genes always,
    block genes only for blocks below the genome's depth)."""
    limit = space.block_start(depth_of(space, genome))
    idx = space.genes_of(*fields)
    return idx[idx < limit]


def depth_of(space: SearchSpace, genome: np.ndarray) -> int:
    return space.choices["depth"][int(genome[0])]


def block_genes(space: SearchSpace, first: int, stop: int) -> np.ndarray:
    """Indices of every gene of blocks ``first .. stop - 1``."""
    return np.arange(space.block_start(first), space.block_start(max(first, stop)))


def seed_python_random(random_state: np.random.Generator) -> None:
    """DEAP draws from Python's global :mod:`random`; seed it from pymoo's generator so
    that a run is reproduced exactly by the same seed (docs/design.md, Reproducibility)."""
    random.seed(int(random_state.integers(0, 2**63 - 1)))
