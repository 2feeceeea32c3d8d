"""Build the pymoo algorithm a campaign names: ``nsga2``, ``random`` or ``ga-aeb``."""

from __future__ import annotations

from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.algorithm import Algorithm

from autosnn.campaign import SearchConfig
from autosnn.search.operators import (CanonicalDuplicateElimination, GenomeCrossover, GenomeMutation, SpaceRepair,
                                      SpaceSampling)
from autosnn.search.operators.sampling import extreme_configs
from autosnn.search.random_search import RandomSearch
from autosnn.search_spaces.space import SearchSpace

__all__ = ["ALGORITHMS", "build_algorithm", "objectives_of"]

ALGORITHMS = ("nsga2", "random", "ga-aeb")


def objectives_of(algorithm: str) -> str:
    """``'aeb'`` (single objective, F_AEB) for ``ga-aeb``, else ``'pareto'``."""
    return "aeb" if algorithm == "ga-aeb" else "pareto"


def build_algorithm(space: SearchSpace, cfg: SearchConfig) -> tuple[Algorithm, CanonicalDuplicateElimination]:
    """The algorithm of ``cfg.algorithm`` with the space's sampling, repair, duplicate
    elimination and (for the evolutionary ones) the ESNN + architecture operators.
    Returns it with its duplicate eliminator, whose ``seen`` set the search keeps up to
    date with the evaluations table."""
    if cfg.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {cfg.algorithm!r}; one of {ALGORITHMS}")
    dedup = CanonicalDuplicateElimination(space)
    sampling = SpaceSampling(space, dedup)
    repair = SpaceRepair(space)
    if cfg.algorithm == "random":
        return RandomSearch(cfg.population, sampling, repair, dedup), dedup
    ops = cfg.operators
    crossover = GenomeCrossover(space, swap_prob=ops.crossover_swap_prob, prob=ops.crossover_prob)
    mutation = GenomeMutation(space, block_prob=ops.block_mutation_prob, global_prob=ops.global_mutation_prob,
                              neuron_prob=ops.neuron_mutation_prob, time_steps_prob=ops.time_steps_mutation_prob,
                              eta=ops.polynomial_eta)
    if cfg.seed_extremes:
        sampling = SpaceSampling(space, dedup, seeds=extreme_configs(space))
    kind = NSGA2 if cfg.algorithm == "nsga2" else GA
    algo = kind(pop_size=cfg.population, sampling=sampling, crossover=crossover, mutation=mutation,
                repair=repair, eliminate_duplicates=dedup)
    return algo, dedup
