"""Exact fronts of enumerable spaces: the enumeration covers the space once, the cached
table resumes and costs nothing when complete, the normalised-box indicators score the
exact front as perfect and a gap as less, and NSGA-II + ESNN finds the exact front of a
small space at a fixed budget and seed (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from autosnn.campaign import Campaign
from autosnn.errors import RunDirError
from autosnn.fitness.synthetic import SyntheticEvaluator
from autosnn.search import run_search
from autosnn.search.exact import TableEvaluator, all_configs, exact_table
from autosnn.search.front import pareto_front
from autosnn.search.quality import ExactFront
from autosnn.search_spaces import SearchSpace

SMALL = {
    "name": "enumerable", "fixed": {"in_channels": 1, "image_size": 16, "num_classes": 10, "patch_size": 4},
    "dimensions": {"depth": [1, 2], "embed_dim": [16, 32], "time_steps": [1, 2], "num_heads": [2, 4],
                   "mlp_ratio": [2.0], "v_threshold": [0.5, 1.0, 1.5], "tau": [1.5, 4.0]},
    "defaults": {"v_threshold": 1.0, "tau": 1.5},
}


@pytest.fixture(scope="module")
def small() -> SearchSpace:
    return SearchSpace.from_dict(SMALL)


class Counting(SyntheticEvaluator):
    """Synthetic evaluator that counts evaluations and can die after ``stop`` of them."""

    def __init__(self, space, stop=None):
        super().__init__(space)
        self.n, self.stop = 0, stop

    def evaluate(self, configs):
        if self.stop is not None and self.n + len(configs) > self.stop:
            raise KeyboardInterrupt("killed")
        self.n += len(configs)
        return super().evaluate(configs)


def test_enumeration_covers_every_subnet_once(small):
    configs = list(all_configs(small))
    ids = {c.id for c in configs}
    assert len(configs) == len(ids) == small.size() == 2 * (12 + 12**2) + 2 * (12 + 12**2)
    assert all(small.validate(c) == c for c in configs[:: 37])
    bench = SearchSpace.builtin("digits-bench")
    assert bench.size() == sum(1 for _ in all_configs(bench)) >= 5000


def test_enumeration_covers_the_token_mixers():
    space = SearchSpace.from_dict({**SMALL, "dimensions": {**SMALL["dimensions"], "attention": ["ssa", "qk_token"]}})
    configs = list(all_configs(space))
    assert len(configs) == len({c.id for c in configs}) == space.size() == 2 * (24 + 24**2) + 2 * (24 + 24**2)
    assert {c.arch_string.split("-a")[-1] for c in configs if "-a[" in c.arch_string} >= {"[t]", "[s,t]", "[t,t]"}
    assert all(space.validate(c) == c for c in configs[:: 53])


def test_exact_table_resumes_and_costs_nothing_when_complete(small, tmp_path):
    path = tmp_path / "table.parquet"
    with pytest.raises(KeyboardInterrupt):
        exact_table(small, Counting(small, stop=250), path, chunk=100, progress=False, log=lambda m: None)
    ev = Counting(small)
    table = exact_table(small, ev, path, chunk=100, progress=False, log=lambda m: None)
    assert ev.n == small.size() - 200                      # two chunks survived the kill
    assert len(table) == small.size() and table["id"].is_unique
    again = Counting(small)
    same = exact_table(small, again, path, progress=False, log=lambda m: None)
    assert again.n == 0 and same.equals(table)
    assert exact_table(small, None, path, progress=False).equals(table)
    with pytest.raises(RunDirError, match="not evaluated yet"):
        exact_table(small, None, tmp_path / "other.parquet", progress=False)


def test_normalised_indicators_score_the_exact_front_as_perfect(small, tmp_path):
    table = exact_table(small, SyntheticEvaluator(small), tmp_path / "t.parquet", progress=False, log=lambda m: None)
    exact = ExactFront.of(table)
    front = exact.front
    assert len(exact) >= 5
    assert exact.hv_share(table) == pytest.approx(1.0) and exact.share_found(table) == 1.0
    assert exact.igd_plus(table) == pytest.approx(0.0)
    assert exact.normalise(exact.ideal[:1], exact.ideal[1:]) == pytest.approx(np.zeros((1, 2)))
    # dropping one interior front point (and its twins of equal objectives) leaves a gap
    mid = front.iloc[len(front) // 2]
    gap = table[~(np.isclose(table["objective"], mid["objective"]) & np.isclose(table["energy_mj"], mid["energy_mj"]))]
    assert 0.5 < exact.hv_share(gap) < 1.0 and exact.igd_plus(gap) > 0
    assert exact.share_found(gap) == pytest.approx(1 - 1 / len(exact))
    # the lowest-accuracy extreme alone covers only its corner of the box
    assert exact.hv_share(front.iloc[:1]) < 0.2


def test_expected_random_share_matches_sampling(small, tmp_path):
    table = exact_table(small, SyntheticEvaluator(small), tmp_path / "t.parquet", progress=False, log=lambda m: None)
    exact = ExactFront.of(table)
    rng = np.random.default_rng(0)
    for fraction in (0.05, 0.2):
        sampled = np.mean([exact.hv_share(table[rng.random(len(table)) < fraction]) for _ in range(300)])
        expected = exact.expected_random_share(table, fraction)
        assert expected == pytest.approx(sampled, abs=0.01) and expected < 0.999
    assert exact.expected_random_share(table, 1.0) == pytest.approx(1.0)
    # more samples, more of the front: strictly increasing in the fraction
    assert exact.expected_random_share(table, 0.05) < exact.expected_random_share(table, 0.2)
    with pytest.raises(ValueError):
        exact.expected_random_share(table, 0.0)


def test_nsga2_finds_the_exact_front_at_a_fixed_budget(small, tmp_path):
    table = exact_table(small, SyntheticEvaluator(small), tmp_path / "t.parquet", progress=False, log=lambda m: None)
    exact = ExactFront.of(table)
    c = Campaign.from_dict({"name": "t", "seed": 0, "search": {"algorithm": "nsga2", "population": 12,
                                                              "generations": 10}})
    res = run_search(c, small, TableEvaluator(table), tmp_path / "run", log=lambda m: None)
    assert len(res.evaluations) <= 120 < small.size() / 2
    assert exact.share_found(res.evaluations) == 1.0
    assert exact.hv_share(res.evaluations) == pytest.approx(1.0)
    assert set(pareto_front(res.evaluations)["id"]) <= set(table["id"])
    # the same budget spent by random search misses part of the front (the test tells them apart)
    r = Campaign.from_dict({**c.to_dict(), "search": {**c.to_dict()["search"], "algorithm": "random"}})
    rnd = run_search(r, small, TableEvaluator(table), tmp_path / "random", log=lambda m: None)
    assert len(rnd.evaluations) == len(res.evaluations)
    assert exact.share_found(rnd.evaluations) < 0.75 and exact.hv_share(rnd.evaluations) < 0.995


def test_run_hypervolume_box_is_spanned_by_the_extreme_subnets(tmp_path):
    from autosnn.search.front import hypervolume
    from autosnn.search.state import StateStore

    c = Campaign.from_dict({"name": "t", "seed": 1, "search": {"algorithm": "nsga2", "population": 8,
                                                              "generations": 6}})
    space = c.resolve_space()
    ev = SyntheticEvaluator(space)
    res = run_search(c, space, ev, tmp_path / "run", log=lambda m: None)
    assert ev.calls[0] == [space.largest().id, space.smallest().id]       # one call measures both extremes
    meta = StateStore(tmp_path / "run" / "search_state").load_meta()
    small_acc = ev.metrics(space.smallest())[0]
    assert meta.reference_objective == pytest.approx(small_acc) and 0.3 < small_acc < 0.95
    assert meta.reference_energy_mj == pytest.approx(1.1 * ev.metrics(space.largest())[1])
    assert res.reference_objective == meta.reference_objective
    hv = res.history["hypervolume"].to_numpy()
    assert hv[-1] == pytest.approx(hypervolume(res.evaluations, meta.reference_energy_mj, small_acc))
    # measured from accuracy 0 the same progress is a smaller relative change
    first = res.evaluations[res.evaluations["generation"] == 1]
    old = [hypervolume(d, meta.reference_energy_mj, 0.0) for d in (first, res.evaluations)]
    assert hv[-1] / hv[0] - 1 > 1.5 * (old[1] / old[0] - 1) > 0


def test_two_objective_non_dominated_filter_matches_the_pairwise_definition():
    from autosnn.search.front import non_dominated

    rng = np.random.default_rng(0)
    for _ in range(200):
        F = rng.integers(0, 5, size=(int(rng.integers(1, 30)), 2)).astype(float)   # many ties
        pairwise = [not (np.all(F <= f, axis=1) & np.any(F < f, axis=1)).any() for f in F]
        assert non_dominated(F).tolist() == pairwise


def test_first_population_starts_from_the_extremes(tmp_path):
    from autosnn.search.operators.sampling import extreme_configs

    for algorithm, seeded in (("nsga2", True), ("random", False)):
        c = Campaign.from_dict({"name": "t", "seed": 0, "search": {"algorithm": algorithm, "population": 8,
                                                                  "generations": 1}})
        space = c.resolve_space()
        res = run_search(c, space, SyntheticEvaluator(space), tmp_path / algorithm, log=lambda m: None)
        ids = set(res.evaluations["id"])
        extremes = {cfg.id for cfg in extreme_configs(space)}
        assert len(extremes) == 3 and (extremes <= ids) == seeded and len(ids) == 8


@pytest.mark.parametrize("rows", [
    [(0.9, 1.0), (0.9, 1.0)],                  # tied rows: one point twice
    [(0.9, 1.0)],                              # one point
    [(0.9, 1.0), (0.9, 1.0), (0.5, 2.0)],      # the third is dominated: still one distinct front point
])
def test_degenerate_exact_fronts_are_refused(rows):
    import pandas as pd

    table = pd.DataFrame({"id": [f"c{i}" for i in range(len(rows))], "objective": [a for a, _ in rows],
                          "energy_mj": [e for _, e in rows], "status": "ok", "feasible": True})
    with np.errstate(all="raise"), pytest.raises(ValueError, match=r"degenerate exact front: 1 distinct "
                                                                   r"\(accuracy, energy\) point"):
        ExactFront.of(table)
    two = pd.concat([table, pd.DataFrame({"id": ["x"], "objective": [0.95], "energy_mj": [3.0], "status": "ok",
                                          "feasible": True})])
    exact = ExactFront.of(two)                 # a second distinct point spans the box
    assert len(exact) == 2 and exact.hypervolume == pytest.approx(1.1 * 1.1 - 1.0)
