"""The search loop: drive a pymoo algorithm generation by generation, bringing the run
folder to a consistent state on disk after each one, so that a killed search resumes
where it stopped and, with the same seed, ends with the same front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from pymoo.core.population import Population
from pymoo.core.termination import NoTermination
from tqdm.auto import tqdm

from autosnn.atomic import write_text
from autosnn.campaign import Campaign
from autosnn.errors import ConfigError, RunDirError
from autosnn.fitness.aeb import f_aeb
from autosnn.fitness.result import EvalResult, Evaluator
from autosnn.run_folder import RunFolder
from autosnn.search.algorithms import build_algorithm, objectives_of
from autosnn.search.front import hypervolume, pareto_front
from autosnn.search.problem import SearchProblem
from autosnn.search.state import GenerationState, SearchMeta, StateStore
from autosnn.search.table import EvaluationTable
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["Search", "SearchResult", "run_search", "HISTORY_COLUMNS", "REFERENCE_FACTOR"]

#: The hypervolume reference energy is this factor times the largest subnet's energy.
REFERENCE_FACTOR = 1.1


def extremes(evaluator: Evaluator, space: SearchSpace) -> tuple[float, float, list[EvalResult]]:
    """(energy of ``space.largest()``, objective of ``space.smallest()``, the two
    results), measured in one evaluator call: F_AEB's default target and the hypervolume
    box of a run (see :func:`autosnn.search.front.hypervolume`). Raises if the largest
    subnet failed; a failed smallest subnet gives objective 0."""
    results = evaluator.evaluate([space.largest(), space.smallest()])
    largest, smallest = results
    if not largest.ok or not (np.isfinite(largest.energy_mj) and largest.energy_mj > 0):
        raise RuntimeError(f"could not measure the energy of the largest subnet: {largest.reason or largest.energy_mj}")
    floor = float(smallest.objective()) if smallest.ok and np.isfinite(smallest.objective()) else 0.0
    return float(largest.energy_mj), min(floor, 0.99), list(results)


class _Remembering:
    """An evaluator that answers the configs of ``known`` (results already measured,
    e.g. the extremes that set a run's box) once from memory and sends the rest on: a
    search whose first population is seeded with the extremes does not evaluate them
    twice."""

    def __init__(self, evaluator: Evaluator, known: list[EvalResult]) -> None:
        self.evaluator = evaluator
        self.known = {r.config.id: r for r in known}

    def evaluate(self, configs: list[SubnetConfig]) -> list[EvalResult]:
        out: dict[int, EvalResult] = {i: self.known.pop(c.id) for i, c in enumerate(configs) if c.id in self.known}
        rest = [i for i in range(len(configs)) if i not in out]
        if rest:
            out.update(zip(rest, self.evaluator.evaluate([configs[i] for i in rest])))
        return [out[i] for i in range(len(configs))]

    def close(self) -> None:
        self.evaluator.close()


HISTORY_COLUMNS = ("generation", "evaluations", "new_evaluations", "hypervolume", "best_objective", "best_f_aeb",
                   "front_size")


@dataclass
class SearchResult:
    """What a search ended with (all of it is also in the run folder)."""

    front: pd.DataFrame          # feasible non-dominated evaluations, by energy
    evaluations: pd.DataFrame    # every evaluation
    history: pd.DataFrame        # one row per generation (HISTORY_COLUMNS)
    generations: int             # generations finished
    new_evaluations: int         # evaluations made by this call
    already_finished: bool       # nothing was left to do
    target_mj: float
    reference_energy_mj: float
    reference_objective: float = 0.0

    @property
    def hypervolume(self) -> float:
        return float(self.history["hypervolume"].iloc[-1]) if len(self.history) else 0.0


class Search:
    """A campaign's search in a run folder.

    ``target_mj`` (F_AEB's E_target) and the hypervolume's reference point
    (``reference_objective``: the smallest subnet's objective, ``reference_energy_mj``:
    1.1 x the largest subnet's energy) are fixed at the first call and kept in
    ``search_state/search.json``; left out, the two extreme subnets are evaluated once (one
    evaluator call) to find them (a campaign's ``fitness.aeb.target_mj`` wins for the
    target). A caller that gives ``reference_energy_mj`` but no ``reference_objective``
    gets objective 0. ``history.csv``'s hypervolume is the fraction of that box the
    evaluations so far dominate (:func:`autosnn.search.front.hypervolume`).

    ``generations`` counts as pymoo's ``n_gen`` does: generation 1 is the initial
    population of ``population`` uniform samples, every later one ``population`` new
    offspring; a search of G generations evaluates at most ``population x G`` candidates.
    """

    def __init__(self, campaign: Campaign, space: SearchSpace, evaluator: Evaluator, run_dir: str | Path, *,
                 target_mj: float | None = None, reference_energy_mj: float | None = None,
                 reference_objective: float | None = None, progress: bool = False,
                 log: Callable[[str], None] = print) -> None:
        self.campaign = campaign
        self.space = space
        self.evaluator = evaluator
        self.folder = RunFolder(Path(run_dir))
        self.store = StateStore(self.folder.search_state)
        self.table = EvaluationTable(self.folder.evaluations)
        self._target_mj = target_mj
        self._reference_energy_mj = reference_energy_mj
        self._reference_objective = reference_objective
        self.progress = progress
        self.log = log
        self._known: list[EvalResult] = []  # results measured before the search (the extremes)

    # ------------------------------------------------------------------ setup
    def _meta(self) -> SearchMeta:
        cfg = self.campaign.search
        meta = self.store.load_meta()
        if meta is not None:
            for key, now in (("algorithm", cfg.algorithm), ("seed", self.campaign.seed), ("population", cfg.population)):
                if getattr(meta, key) != now:
                    raise RunDirError(f"{self.folder.path}: its search used {key} {getattr(meta, key)!r}, "
                                      f"not {now!r}; use another run folder")
            return meta
        largest, floor = self._reference_energy_mj, self._reference_objective
        if largest is None:
            energy, measured_floor, self._known = extremes(self.evaluator, self.space)
            largest = REFERENCE_FACTOR * energy
            floor = measured_floor if floor is None else floor
        target = self.campaign.fitness.aeb.target_mj or self._target_mj or largest / REFERENCE_FACTOR
        meta = SearchMeta(algorithm=cfg.algorithm, seed=self.campaign.seed, population=cfg.population,
                          reference_energy_mj=float(largest), target_mj=float(target),
                          reference_objective=float(floor or 0.0))
        self.store.save_meta(meta)
        return meta

    def _f_aeb(self, meta: SearchMeta) -> Callable[[float, float], float]:
        aeb = self.campaign.fitness.aeb
        return lambda acc, energy: float(f_aeb(acc, energy, meta.target_mj, aeb.alpha, aeb.beta))

    def _load_history(self, done: int) -> list[dict]:
        df = self.folder.load_history()
        if df is None or done == 0:
            return []
        return df[df["generation"] <= done].to_dict("records")

    def _restore(self, algorithm, problem: SearchProblem, state: GenerationState) -> None:
        missing = [g for g in state.genomes if self.space.decode(self.space.repair(g)).id not in self.table]
        if missing:  # checked before anything is evaluated or written
            raise RunDirError(f"{self.folder.path}: search_state and evaluations.parquet disagree "
                              f"({len(missing)} population member(s) of generation {state.generation} never evaluated)")
        algorithm._initialize()
        problem.generation = state.generation
        if state.genomes:
            pop = Population.new("X", np.array(state.genomes, dtype=np.int64))
            algorithm.evaluator.eval(problem, pop, algorithm=algorithm)
            for key, values in state.data.items():
                for ind, value in zip(pop, values):
                    ind.set(key, value)
        else:
            pop = Population.empty()
        algorithm.pop = pop
        algorithm.is_initialized = True
        algorithm.n_iter = state.n_iter
        algorithm.random_state.bit_generator.state = state.rng
        if len(pop):
            algorithm._set_optimum()

    # ------------------------------------------------------------------ the loop
    def run(self, generations: int | None = None) -> SearchResult:
        """Run (or continue, or extend) the search up to ``generations`` (default: the
        campaign's ``search.generations``)."""
        cfg = self.campaign.search
        total = int(generations if generations is not None else cfg.generations)
        if total < 1:
            raise ConfigError(f"generations must be >= 1, got {total}")
        meta = self._meta()
        algorithm, dedup = build_algorithm(self.space, cfg)
        evaluator = _Remembering(self.evaluator, self._known) if self._known else self.evaluator
        problem = SearchProblem(self.space, evaluator, self.table, cfg.constraints, self._f_aeb(meta),
                                objectives=objectives_of(cfg.algorithm))
        algorithm.setup(problem, termination=NoTermination(), seed=self.campaign.seed, verbose=False)
        state = self.store.latest()
        done = 0
        if state is not None:
            self._restore(algorithm, problem, state)
            done = state.generation
        history = self._load_history(done)
        if done >= total:
            self.log(f"search already finished: {done} generations, {self.table.count_until(done)} evaluations "
                     f"in {self.folder.path}; nothing to do")
            return self._result(history, done, 0, True, meta)
        if done:
            self.log(f"resuming the search at generation {done + 1}/{total} ({self.table.count_until(done)} "
                     "evaluations so far)")
        before = problem.n_evaluated
        bar = tqdm(total=total, initial=done, desc=f"search ({cfg.algorithm})", unit="gen",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            for gen in range(done + 1, total + 1):
                problem.generation = gen
                dedup.seen = self.table.genomes_before(gen)
                algorithm.next()
                history.append(self._history_row(gen, meta))
                self._write_history(history)
                self.store.save(GenerationState.capture(algorithm, gen))
                h = history[-1]
                bar.set_postfix(gen=gen, best_f_aeb=f"{h['best_f_aeb']:.4f}", hv=f"{h['hypervolume']:.4f}")
                bar.update(1)
        finally:
            bar.close()
        return self._result(history, total, problem.n_evaluated - before, False, meta)

    def _history_row(self, gen: int, meta: SearchMeta) -> dict:
        df = self.table.frame(until_generation=gen)
        ok = df[(df["status"] == "ok") & df["feasible"].astype(bool)]
        nan = float("nan")
        return {
            "generation": gen, "evaluations": len(df), "new_evaluations": int((df["generation"] == gen).sum()),
            "hypervolume": hypervolume(df, meta.reference_energy_mj, meta.reference_objective),
            "best_objective": float(ok["objective"].max()) if len(ok) else nan,
            "best_f_aeb": float(ok["f_aeb"].max()) if len(ok) else nan,
            "front_size": len(pareto_front(df)),
        }

    def _write_history(self, history: list[dict]) -> None:
        df = pd.DataFrame(history, columns=list(HISTORY_COLUMNS))
        write_text(self.folder.history_csv, df.to_csv(index=False))

    def _result(self, history: list[dict], generations: int, new: int, finished: bool, meta: SearchMeta) -> SearchResult:
        evaluations = self.table.frame()
        return SearchResult(front=pareto_front(evaluations), evaluations=evaluations,
                            history=pd.DataFrame(history, columns=list(HISTORY_COLUMNS)), generations=generations,
                            new_evaluations=new, already_finished=finished, target_mj=meta.target_mj,
                            reference_energy_mj=meta.reference_energy_mj,
                            reference_objective=meta.reference_objective)


def run_search(campaign: Campaign, space: SearchSpace, evaluator: Evaluator, run_dir: str | Path, *,
               generations: int | None = None, target_mj: float | None = None,
               reference_energy_mj: float | None = None, reference_objective: float | None = None,
               progress: bool = False, log: Callable[[str], None] = print) -> SearchResult:
    """Run, resume or extend ``campaign``'s search in ``run_dir`` (see :class:`Search`)."""
    return Search(campaign, space, evaluator, run_dir, target_mj=target_mj, reference_energy_mj=reference_energy_mj,
                  reference_objective=reference_objective, progress=progress, log=log).run(generations)
