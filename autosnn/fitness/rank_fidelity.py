"""Rank fidelity: does one accuracy estimate order subnets like another does?

* :func:`stratified_choice`: ``k`` candidates spread over two measures (e.g. energy and
  inherited accuracy), some forced in (the space's largest and smallest subnets);
* :func:`rank_agreement`: Kendall tau-b, Spearman rho and top-k overlap of two scorings
  of the same candidates;
* :func:`agreement_with_seeds` and :func:`seed_to_seed`: the two sides of the judgement,
  like with like. An estimate (inherited accuracy, a proxy) is compared with each single
  stand-alone seed and the figures averaged over seeds; the ceiling is the agreement of
  one single seed with another, averaged over seed pairs. (Against the *mean* of several
  seeds an estimate would face a less noisy reference than the ceiling's single seeds,
  and look better than a seed does for that reason alone.)
* :func:`judge`: the verdict: tau >= 0.8, or >= 90 % of the ceiling when the ceiling is
  below 0.85 (a reference that noisy cannot be matched better), and the smallest
  subnet's inherited accuracy within 1.5 points of its mean stand-alone accuracy.

Used by ``bench/rank_fidelity.py`` to judge a supernet's inherited accuracies against
stand-alone training.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["stratified_choice", "rank_agreement", "agreement_with_seeds", "seed_to_seed", "FidelityGoal", "judge"]


def _unit_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share their mean rank)."""
    r = stats.rankdata(np.asarray(values, dtype=float))
    return (r - r.min()) / max(1e-12, r.max() - r.min())


def stratified_choice(first: Sequence[float], second: Sequence[float], k: int,
                      include: Sequence[int] = ()) -> list[int]:
    """Indices of ``k`` candidates spread over both measures.

    Each candidate is a point ``(rank of first, rank of second)`` in the unit square; the
    candidates in ``include`` are taken first (in order), then, greedily, the one
    farthest from everything chosen so far (farthest-point sampling; ties go to the
    lower index), so both measures are covered from end to end. Deterministic.
    """
    n = len(first)
    if len(second) != n:
        raise ValueError("first and second must have the same length")
    if not 0 < k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    chosen = list(dict.fromkeys(int(i) for i in include))
    if any(not 0 <= i < n for i in chosen) or len(chosen) > k:
        raise ValueError(f"include must be at most k valid indices, got {list(include)}")
    points = np.stack([_unit_ranks(first), _unit_ranks(second)], axis=1)
    if not chosen:
        chosen = [int(np.argmax(points.sum(1)))]
    dist = np.min(np.linalg.norm(points[:, None, :] - points[None, chosen, :], axis=2), axis=1)
    while len(chosen) < k:
        dist[chosen] = -1.0
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
    return chosen


def rank_agreement(a: Sequence[float], b: Sequence[float], top: int = 3) -> dict[str, float]:
    """How alike ``a`` and ``b`` (two scorings of the same candidates, higher is better)
    order the candidates: ``kendall_tau`` (tau-b, ties counted), ``spearman_rho``, and
    ``top_overlap``: the fraction of ``a``'s best ``top`` among ``b``'s best ``top``
    (ties broken by index). NaN when a scoring is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("a and b must be 1-d of the same length >= 2")
    tau = stats.kendalltau(a, b).statistic
    rho = stats.spearmanr(a, b).statistic
    top = min(top, len(a))
    best_a = set(np.argsort(-a, kind="stable")[:top].tolist())
    best_b = set(np.argsort(-b, kind="stable")[:top].tolist())
    return {"kendall_tau": float(tau), "spearman_rho": float(rho), "top_overlap": len(best_a & best_b) / top}


def _mean_of(agreements: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each figure over ``agreements`` (NaN ones, from constant scorings, left
    out; NaN when all are)."""
    out = {}
    for key in agreements[0]:
        vals = [a[key] for a in agreements if not math.isnan(a[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def agreement_with_seeds(scores: Sequence[float], seeds: np.ndarray, top: int = 3) -> dict:
    """:func:`rank_agreement` of ``scores`` with each single seed's accuracies (the columns
    of ``seeds``, ``[candidates, seeds]``), averaged over seeds; ``per_seed_tau`` lists
    each seed's tau."""
    seeds = np.asarray(seeds, dtype=float)
    if seeds.ndim != 2 or seeds.shape[1] < 1 or seeds.shape[0] != len(scores):
        raise ValueError("seeds must be [candidates, seeds], one row per score")
    each = [rank_agreement(scores, seeds[:, s], top) for s in range(seeds.shape[1])]
    return {**_mean_of(each), "per_seed_tau": [a["kendall_tau"] for a in each]}


def seed_to_seed(seeds: np.ndarray, top: int = 3) -> dict:
    """The noise ceiling: :func:`rank_agreement` of one seed's accuracies with another's
    (columns of ``seeds``, ``[candidates, seeds]``, two or more), averaged over every
    pair; ``per_pair_tau`` lists each pair's tau."""
    seeds = np.asarray(seeds, dtype=float)
    if seeds.ndim != 2 or seeds.shape[1] < 2:
        raise ValueError("seed_to_seed needs [candidates, seeds] with two or more seeds")
    each = [rank_agreement(seeds[:, i], seeds[:, j], top) for i, j in itertools.combinations(range(seeds.shape[1]), 2)]
    return {**_mean_of(each), "per_pair_tau": [a["kendall_tau"] for a in each]}


@dataclass(frozen=True)
class FidelityGoal:
    """Rank fidelity's goal: Kendall tau >= ``tau``, or >= ``ceiling_fraction`` of the
    ceiling when the ceiling is below ``ceiling_limit``; the smallest subnet's gap within
    ``smallest_gap`` (a fraction: 0.015 = 1.5 points)."""

    tau: float = 0.8
    ceiling_fraction: float = 0.9
    ceiling_limit: float = 0.85
    smallest_gap: float = 0.015

    def tau_needed(self, ceiling_tau: float) -> float:
        """The tau to reach given the ceiling (an unknown, NaN, ceiling lowers nothing)."""
        if math.isnan(ceiling_tau) or ceiling_tau >= self.ceiling_limit:
            return self.tau
        return min(self.tau, self.ceiling_fraction * ceiling_tau)


def judge(tau: float, ceiling_tau: float, smallest_gap: float, goal: FidelityGoal = FidelityGoal()) -> dict:
    """The verdict on one estimate: ``tau`` (:func:`agreement_with_seeds`), ``ceiling_tau``
    (:func:`seed_to_seed`), ``smallest_gap`` (inherited minus mean stand-alone accuracy of
    the smallest subnet). ``verdict`` is PASS when both goals are met (a NaN tau meets
    none)."""
    needed = goal.tau_needed(ceiling_tau)
    tau_ok = bool(tau >= needed)
    gap_ok = bool(abs(smallest_gap) <= goal.smallest_gap)
    return {"verdict": "PASS" if tau_ok and gap_ok else "SHORT", "tau_needed": float(needed), "tau_ok": tau_ok,
            "gap_ok": gap_ok}
