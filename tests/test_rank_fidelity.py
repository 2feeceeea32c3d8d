"""Rank-fidelity tools: stratified choice of subnets and rank agreement figures."""

import numpy as np
import pytest

from autosnn import SearchSpace
from autosnn.fitness import ann_macs
from autosnn.fitness.rank_fidelity import rank_agreement, stratified_choice


def test_stratified_choice_includes_the_extremes_and_spreads_over_both_measures():
    space = SearchSpace.builtin("digits-tiny")
    rng = np.random.default_rng(0)
    pool = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(60)]
    energy = [ann_macs(c) for c in pool]
    acc = rng.uniform(0.5, 1.0, len(pool))
    picked = stratified_choice(energy, acc, 12, include=[0, 1])
    assert picked[:2] == [0, 1] and len(set(picked)) == 12
    assert pool[picked[0]] == space.largest() and pool[picked[1]] == space.smallest()
    # both ends of the accuracy range are taken, and the energies are spread: every
    # third of the pool's energy ranks holds at least two of the chosen
    assert int(np.argmax(acc)) in picked and int(np.argmin(acc)) in picked
    ranks = np.argsort(np.argsort(energy)) / (len(pool) - 1)
    counts = np.histogram(ranks[picked], bins=[0, 1 / 3, 2 / 3, 1.0001])[0]
    assert counts.min() >= 2, counts
    assert stratified_choice(energy, acc, 12, include=[0, 1]) == picked  # deterministic


def test_stratified_choice_spreads_wider_than_any_of_200_random_choices():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=200), rng.normal(size=200)
    ra, rb = np.argsort(np.argsort(a)) / 199, np.argsort(np.argsort(b)) / 199

    def closest_pair(idx):  # the smallest distance between two chosen points (rank space)
        pts = np.stack([ra[idx], rb[idx]], 1)
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
        return d[~np.eye(len(idx), dtype=bool)].min()

    spread = closest_pair(stratified_choice(a, b, 12))
    assert spread > 1.5 * max(closest_pair(rng.choice(200, 12, replace=False)) for _ in range(200))


def test_stratified_choice_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        stratified_choice([1, 2], [1, 2], 3)
    with pytest.raises(ValueError, match="same length"):
        stratified_choice([1, 2], [1], 1)
    with pytest.raises(ValueError, match="include"):
        stratified_choice([1, 2, 3], [1, 2, 3], 2, include=[0, 5])


def test_rank_agreement_numbers():
    same = rank_agreement([0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4])
    assert same == {"kendall_tau": 1.0, "spearman_rho": 1.0, "top_overlap": 1.0}
    swapped = rank_agreement([1, 2, 3, 4], [1, 3, 2, 4], top=2)
    assert swapped["kendall_tau"] == pytest.approx(4 / 6)        # 5 concordant, 1 discordant pair
    assert swapped["spearman_rho"] == pytest.approx(0.8)         # 1 - 6 * 2 / (4 * 15)
    assert swapped["top_overlap"] == 0.5                          # {4, 3} vs {4, 2}
    assert rank_agreement([1, 2, 3], [3, 2, 1])["kendall_tau"] == pytest.approx(-1.0)
    tied = rank_agreement([0.9, 0.9, 0.8, 0.7], [0.95, 0.97, 0.9, 0.8])
    assert tied["kendall_tau"] == pytest.approx(5 / np.sqrt(5 * 6))  # tau-b: ties in the first scoring
