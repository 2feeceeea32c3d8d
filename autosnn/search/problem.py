"""The pymoo problem: the space's integer genome, evaluated through the cache."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pymoo.core.problem import Problem

from autosnn.campaign import ConstraintsConfig
from autosnn.fitness.result import Evaluator
from autosnn.search.table import EvaluationTable
from autosnn.search_spaces.space import SearchSpace

__all__ = ["SearchProblem", "Constraints", "PENALTY"]

#: Objective value of a failed candidate (it is also infeasible, see ``Constraints``).
PENALTY = 1.0e9


class Constraints:
    """The campaign's inequality constraints, as pymoo's ``G <= 0``.

    The first constraint is always "the evaluation succeeded" (a failed candidate is
    infeasible, so it never survives); then, normalised to the limit,
    ``params / params_max - 1``, ``energy_mj / energy_max_mj - 1`` and
    ``time_steps - time_steps_max`` for the limits that are set.
    """

    def __init__(self, cfg: ConstraintsConfig) -> None:
        self.cfg = cfg

    @property
    def n(self) -> int:
        c = self.cfg
        return 1 + sum(v is not None for v in (c.params_max, c.energy_max_mj, c.time_steps_max))

    def values(self, row: dict[str, Any]) -> np.ndarray:
        c = self.cfg
        if row.get("status") != "ok":
            return np.ones(self.n)
        g = [0.0]
        if c.params_max is not None:
            g.append(float(row["params"]) / c.params_max - 1.0)
        if c.energy_max_mj is not None:
            g.append(float(row["energy_mj"]) / c.energy_max_mj - 1.0)
        if c.time_steps_max is not None:
            g.append(float(row["time_steps"]) - c.time_steps_max)
        return np.nan_to_num(np.array(g, dtype=float), nan=1.0)

    def feasible(self, row: dict[str, Any]) -> bool:
        return bool(np.all(self.values(row) <= 0.0))


class SearchProblem(Problem):
    """A pymoo :class:`~pymoo.core.problem.Problem` over the integer genome of ``space``
    (``xl = 0``, ``xu = n_choices - 1``).

    ``objectives="pareto"`` minimises ``[-objective, energy_mj]`` (objective: validation
    accuracy, or the training-free score); ``objectives="aeb"`` minimises ``-F_AEB``.
    Constraints: :class:`Constraints`. A whole population goes to the evaluator in one
    ``evaluate`` call; candidates already in ``table`` are taken from it, new ones are
    added to it with the current :attr:`generation`, and the table is saved before the
    objectives are returned.
    """

    def __init__(self, space: SearchSpace, evaluator: Evaluator, table: EvaluationTable,
                 constraints: ConstraintsConfig, f_aeb: Callable[[float, float], float],
                 objectives: str = "pareto") -> None:
        if objectives not in ("pareto", "aeb"):
            raise ValueError(f"objectives must be 'pareto' or 'aeb', got {objectives!r}")
        self.space = space
        self.evaluator = evaluator
        self.table = table
        self.constraints = Constraints(constraints)
        self.f_aeb = f_aeb
        self.objectives = objectives
        self.generation = 1
        self.n_evaluated = 0  # candidates sent to the evaluator by this object
        super().__init__(n_var=space.n_genes, n_obj=2 if objectives == "pareto" else 1,
                         n_ieq_constr=self.constraints.n, xl=np.zeros(space.n_genes, dtype=np.int64),
                         xu=space.n_choices - 1, vtype=int)

    def rows_for(self, X: np.ndarray) -> list[dict[str, Any]]:
        """The table rows of the genomes ``X``, evaluating (in one call) those not yet there."""
        genomes = [self.space.repair(x) for x in np.atleast_2d(X)]
        configs = [self.space.decode(g) for g in genomes]
        todo: dict[str, int] = {}
        for i, cfg in enumerate(configs):
            if cfg.id not in self.table and cfg.id not in todo:
                todo[cfg.id] = i
        if todo:
            idx = list(todo.values())
            results = self.evaluator.evaluate([configs[i] for i in idx])
            if len(results) != len(idx):
                raise RuntimeError(f"evaluator returned {len(results)} results for {len(idx)} configs")
            self.table.add(results, [genomes[i] for i in idx], self.generation, self.f_aeb,
                           self.constraints.feasible)
            self.table.save()
            self.n_evaluated += len(idx)
        return [self.table.get(cfg.id) for cfg in configs]

    def objective_values(self, row: dict[str, Any]) -> np.ndarray:
        if row["status"] != "ok":
            return np.full(self.n_obj, PENALTY)
        if self.objectives == "aeb":
            return np.array([-float(row["f_aeb"])])
        return np.array([-float(row["objective"]), float(row["energy_mj"])])

    def _evaluate(self, X, out, *args, **kwargs) -> None:
        rows = self.rows_for(X)
        out["F"] = np.stack([self.objective_values(r) for r in rows])
        out["G"] = np.stack([self.constraints.values(r) for r in rows])
