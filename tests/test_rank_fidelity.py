"""Rank-fidelity tools: stratified choice of subnets and rank agreement figures."""

import numpy as np
import pytest

from autosnn import SearchSpace
from autosnn.fitness import ann_macs
from autosnn.fitness.rank_fidelity import (FidelityGoal, agreement_with_seeds, judge, rank_agreement, seed_to_seed,
                                           stratified_choice)


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



def test_seed_figures_are_means_of_single_seed_agreements():
    seeds = np.array([[0.90, 0.91, 0.95], [0.92, 0.90, 0.96], [0.95, 0.97, 0.94], [0.97, 0.96, 0.99]])
    inherited = [0.1, 0.2, 0.3, 0.4]                       # ranks like seed 0 exactly
    each = [rank_agreement(inherited, seeds[:, s])["kendall_tau"] for s in range(3)]
    assert each == pytest.approx([1.0, 1 / 3, 1 / 3])    # 4 concordant, 2 discordant pairs
    got = agreement_with_seeds(inherited, seeds)
    assert got["kendall_tau"] == pytest.approx(np.mean(each)) and got["per_seed_tau"] == pytest.approx(each)
    pairs = [rank_agreement(seeds[:, i], seeds[:, j])["kendall_tau"] for i, j in ((0, 1), (0, 2), (1, 2))]
    ceiling = seed_to_seed(seeds)
    assert ceiling["per_pair_tau"] == pytest.approx(pairs) and ceiling["kendall_tau"] == pytest.approx(np.mean(pairs))
    # a constant seed (NaN tau) is left out of the mean, not allowed to poison it
    flat = np.column_stack([seeds[:, 0], np.full(4, 0.9)])
    assert agreement_with_seeds(inherited, flat)["kendall_tau"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two or more seeds"):
        seed_to_seed(seeds[:, :1])
    with pytest.raises(ValueError, match="one row per score"):
        agreement_with_seeds(inherited[:3], seeds)


def test_an_estimate_as_noisy_as_a_seed_matches_the_ceiling_only_like_with_like():
    """Simulated: true qualities, four stand-alone seeds and one estimate, each the truth
    plus the same noise. Compared with single seeds, the estimate scores what the ceiling
    does; compared with the mean of the seeds (the old judgement) it scores higher, for
    no better ranking."""
    rng = np.random.default_rng(0)
    like, ceiling, vs_mean = [], [], []
    for _ in range(200):
        truth = rng.normal(size=12)
        seeds = truth[:, None] + rng.normal(size=(12, 4))
        estimate = truth + rng.normal(size=12)
        like.append(agreement_with_seeds(estimate, seeds)["kendall_tau"])
        ceiling.append(seed_to_seed(seeds)["kendall_tau"])
        vs_mean.append(rank_agreement(estimate, seeds.mean(1))["kendall_tau"])
    assert abs(np.mean(like) - np.mean(ceiling)) < 0.02
    assert np.mean(vs_mean) > np.mean(ceiling) + 0.05


@pytest.mark.parametrize("tau, ceiling, gap, verdict, needed", [
    (0.80, 0.90, 0.0, "PASS", 0.8),       # a clean reference: the full goal
    (0.79, 0.90, 0.0, "SHORT", 0.8),
    (0.79, 0.95, 0.0, "SHORT", 0.8),      # 90 % of a high ceiling would ask more than 0.8: capped
    (0.75, 0.84, 0.0, "SHORT", 0.756),    # below 0.85 the ceiling sets the bar (0.9 x 0.84)
    (0.76, 0.84, 0.0, "PASS", 0.756),
    (0.30, 0.40, 0.0, "SHORT", 0.36),
    (0.37, 0.40, -0.014, "PASS", 0.36),
    (0.37, 0.40, 0.016, "SHORT", 0.36),   # the smallest subnet 1.6 points off
    (1.00, 0.40, -0.02, "SHORT", 0.36),
    (0.79, float("nan"), 0.0, "SHORT", 0.8),  # no ceiling (constant seeds): the full goal
    (float("nan"), 0.40, 0.0, "SHORT", 0.36),
])
def test_judge_verdict_and_ceiling(tau, ceiling, gap, verdict, needed):
    got = judge(tau, ceiling, gap)
    assert got["verdict"] == verdict and got["tau_needed"] == pytest.approx(needed)
    assert got["gap_ok"] == (abs(gap) <= 0.015)
    assert judge(0.5, 0.9, 0.0, FidelityGoal(tau=0.5))["verdict"] == "PASS"
