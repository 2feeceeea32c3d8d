"""ESNN and architecture operators: genomes stay in the space, each operator changes
only the genes it owns, DEAP runs are reproducible, duplicates are canonical."""

from __future__ import annotations

import numpy as np
import pytest
from pymoo.core.population import Population

from autosnn.search.operators import (ArchCrossover, ArchMutation, CanonicalDuplicateElimination, ESNNCrossover,
                                      ESNNMutation, GenomeCrossover, GenomeMutation, SpaceRepair, SpaceSampling)
from autosnn.search_spaces import SearchSpace


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return SearchSpace.builtin("digits-tiny")


def genomes(space: SearchSpace, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([space.encode(space.sample(rng)) for _ in range(n)])


def in_space(space: SearchSpace, X: np.ndarray) -> bool:
    return bool(np.all(X >= 0) and np.all(X < space.n_choices))


def test_esnn_mutation_changes_only_neuron_genes(space):
    X = genomes(space, 400)
    Y = ESNNMutation(space, neuron_prob=0.5, time_steps_prob=0.5)._do(None, X, random_state=np.random.default_rng(1))
    assert in_space(space, Y)
    changed = X != Y
    assert not changed[:, space.arch_genes].any()
    # it does mutate: T changes in about 0.5 * (1 - 1/3) of the genomes
    t = space.genes_of("time_steps")[0]
    assert 0.25 < changed[:, t].mean() < 0.42
    # and touches thresholds / taus of active blocks only (inactive ones stay canonical 0)
    for x, y in zip(X, Y):
        assert np.array_equal(space.canonical(y), y)
    assert changed[:, space.genes_of("v_threshold", "tau")].any()
    for y in Y:
        space.decode(y)  # valid


def test_esnn_mutation_is_reproducible_from_pymoo_generator(space):
    X = genomes(space, 50)
    m = ESNNMutation(space, neuron_prob=0.3)
    a = m._do(None, X, random_state=np.random.default_rng(7))
    b = m._do(None, X, random_state=np.random.default_rng(7))
    c = m._do(None, X, random_state=np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_esnn_polynomial_threshold_mutation_on_continuous_range(space):
    d = space.to_dict()
    d["dimensions"]["v_threshold"] = {"low": 0.6, "high": 2.0, "step": 0.1}
    cont = SearchSpace.from_dict(d)
    assert cont.continuous_threshold and len(cont.choices["v_threshold"]) == 15
    X = genomes(cont, 400, seed=3)
    th = cont.genes_of("v_threshold")
    Y = ESNNMutation(cont, neuron_prob=1.0, time_steps_prob=0.0, eta=5.0)._do(None, X, random_state=np.random.default_rng(0))
    assert in_space(cont, Y)
    assert not (X != Y)[:, cont.arch_genes].any()
    active = np.array([[i < cont.choices["depth"][x[0]] for i in range(cont.max_depth)] for x in X])
    steps = np.abs(Y[:, th] - X[:, th])[active]
    # polynomial mutation: mostly small moves, some changes, never out of range
    assert 0.2 < (steps > 0).mean() < 0.95
    assert np.median(steps[steps > 0]) <= 3


def test_esnn_crossover_swaps_only_neuron_genes(space):
    X = np.stack([genomes(space, 300, 1), genomes(space, 300, 2)])
    Y = ESNNCrossover(space, swap_prob=0.5)._do(None, X, random_state=np.random.default_rng(0))
    assert Y.shape == X.shape and in_space(space, Y)
    assert np.array_equal(Y[:, :, space.arch_genes], X[:, :, space.arch_genes])
    n = space.neuron_genes
    # every neuron gene of a child comes from one parent, and the pair keeps both values
    assert np.array_equal(np.sort(Y[:, :, n], axis=0), np.sort(X[:, :, n], axis=0))
    differ = X[0][:, n] != X[1][:, n]
    swapped = (Y[0][:, n] == X[1][:, n]) & differ
    assert 0.4 < swapped.sum() / differ.sum() < 0.6


def test_arch_operators_change_only_arch_genes(space):
    X = genomes(space, 400)
    Y = ArchMutation(space, block_prob=0.2, global_prob=0.4)._do(None, X, random_state=np.random.default_rng(0))
    assert in_space(space, Y)
    assert np.array_equal(Y[:, space.neuron_genes], X[:, space.neuron_genes])
    depth_changed = (Y[:, 0] != X[:, 0]).mean()          # 0.4 * (1 - 1/2)
    assert 0.14 < depth_changed < 0.26
    P = np.stack([genomes(space, 200, 4), genomes(space, 200, 5)])
    Q = ArchCrossover(space, swap_prob=0.5)._do(None, P, random_state=np.random.default_rng(0))
    assert np.array_equal(Q[:, :, space.neuron_genes], P[:, :, space.neuron_genes])
    assert np.array_equal(np.sort(Q, axis=0), np.sort(P, axis=0))


def test_combined_operators_give_valid_subnets(space):
    P = np.stack([genomes(space, 200, 6), genomes(space, 200, 7)])
    rng = np.random.default_rng(0)
    Q = GenomeCrossover(space)._do(None, P, random_state=rng).reshape(-1, space.n_genes)
    Q = GenomeMutation(space)._do(None, Q, random_state=rng)
    R = SpaceRepair(space)._do(None, Q)
    for g in R:
        cfg = space.decode(g)
        assert np.array_equal(space.encode(cfg), g)  # canonical


def test_duplicates_are_canonical_and_include_seen(space):
    a = space.encode(space.config(depth=1))
    b = a.copy()
    b[space.genes_of("tau")[-1]] = 2          # inactive block gene: same subnet
    c = space.encode(space.config(depth=2))
    d = space.encode(space.config(depth=1, embed_dim=32))
    dedup = CanonicalDuplicateElimination(space)
    dedup.seen = {tuple(int(v) for v in d)}
    pop = Population.new("X", np.stack([a, b, c, d]))
    kept = dedup.do(pop)
    assert [list(x) for x in kept.get("X")] == [list(a), list(c)]
    sampled = SpaceSampling(space, dedup)._do(None, 30, random_state=np.random.default_rng(0))
    keys = {tuple(x) for x in sampled}
    assert len(keys) == 30 and tuple(d) not in keys


def test_blocks_switched_on_get_real_genes_not_the_inactive_zeros(space):
    shallow = np.stack([space.encode(space.config(depth=1, v_threshold=2.0, tau=10.0, num_heads=4, mlp_ratio=4.0))] * 4000)
    # mutation: a block that depth switches on is drawn uniformly (was index 0 ~85 % of the time)
    Y = GenomeMutation(space, global_prob=1.0)._do(None, shallow, random_state=np.random.default_rng(0))
    grown = Y[np.array([space.decode(space.repair(g)).depth for g in Y]) == 2]
    assert len(grown) > 1000
    first_block1 = 3 + 4
    for j in range(4):  # heads, ratio, threshold, tau of block 1
        share_zero = np.mean(grown[:, first_block1 + j] == 0)
        assert share_zero < 1.5 / space.n_choices[first_block1 + j] + 0.05, (j, share_zero)
    # crossover: a child taking the deeper parent's depth takes that parent's blocks
    deep = space.encode(space.config(depth=2, v_threshold=[2.0, 1.8], tau=[10.0, 10.0], num_heads=4, mlp_ratio=3.0))
    P = np.stack([shallow[:500], np.stack([deep] * 500)])
    Q = GenomeCrossover(space, prob=1.0)._do(None, P, random_state=np.random.default_rng(1)).reshape(-1, space.n_genes)
    for g in Q:
        cfg = space.decode(space.repair(g))
        if cfg.depth == 2:
            assert cfg.v_threshold[1] == 1.8 and cfg.tau[1] == 10.0 and cfg.mlp_ratio[1] == 3.0
