"""``algorithm: random``: the baseline every search result is compared with."""

from __future__ import annotations

from pymoo.core.algorithm import Algorithm
from pymoo.core.initialization import Initialization
from pymoo.core.population import Population

from autosnn.search.operators.duplicates import CanonicalDuplicateElimination
from autosnn.search.operators.repair import SpaceRepair
from autosnn.search.operators.sampling import SpaceSampling

__all__ = ["RandomSearch"]


class RandomSearch(Algorithm):
    """Random search (Bergstra and Bengio, "Random search for hyper-parameter
    optimization", JMLR 2012; Li and Talwalkar's NAS baseline, 2019): every generation
    is ``pop_size`` new uniform samples of the space, never one evaluated before — the
    same budget as NSGA-II with the same population and generations. ``pop`` holds the
    last batch; the result is the front of all evaluations."""

    def __init__(self, pop_size: int, sampling: SpaceSampling, repair: SpaceRepair,
                 eliminate_duplicates: CanonicalDuplicateElimination, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pop_size = int(pop_size)
        self.eliminate_duplicates = eliminate_duplicates
        self.initialization = Initialization(sampling, repair=repair, eliminate_duplicates=eliminate_duplicates)

    def _sample(self) -> Population:
        return self.initialization.do(self.problem, self.pop_size, algorithm=self, random_state=self.random_state)

    def _initialize_infill(self) -> Population:
        return self._sample()

    def _infill(self) -> Population:
        return self._sample()

    def _initialize_advance(self, infills=None, **kwargs) -> None:
        self.pop = infills

    def _advance(self, infills=None, **kwargs) -> None:
        self.pop = infills
