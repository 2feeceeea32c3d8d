"""The search: a pymoo problem over the space's genome, NSGA-II with the ESNN operators
(DEAP), random search and a single-objective F_AEB GA, resumable run folders.

Typical use::

    from autosnn.search import run_search
    result = run_search(campaign, space, evaluator, "runs/demo", progress=True)
    result.front  # feasible non-dominated evaluations (pandas)
"""

from autosnn.search.algorithms import ALGORITHMS, build_algorithm
from autosnn.search.exact import TableEvaluator, all_configs, exact_table
from autosnn.search.front import hypervolume, non_dominated, pareto_front
from autosnn.search.operators import (ArchCrossover, ArchMutation, CanonicalDuplicateElimination, ESNNCrossover,
                                      ESNNMutation, GenomeCrossover, GenomeMutation, SpaceRepair, SpaceSampling)
from autosnn.search.problem import Constraints, SearchProblem
from autosnn.search.quality import ExactFront
from autosnn.search.random_search import RandomSearch
from autosnn.search.search import Search, SearchResult, run_search
from autosnn.search.state import StateStore
from autosnn.search.table import EvaluationTable

__all__ = [
    "Search", "SearchResult", "run_search", "SearchProblem", "Constraints", "EvaluationTable", "StateStore",
    "ALGORITHMS", "build_algorithm", "RandomSearch", "pareto_front", "non_dominated", "hypervolume",
    "ArchCrossover", "ArchMutation", "ESNNCrossover", "ESNNMutation", "GenomeCrossover", "GenomeMutation",
    "SpaceSampling", "SpaceRepair", "CanonicalDuplicateElimination",
    "all_configs", "exact_table", "TableEvaluator", "ExactFront",
]
