"""Rank fidelity: does one accuracy estimate order subnets like another does?

* :func:`stratified_choice`: ``k`` candidates spread over two measures (e.g. energy and
  inherited accuracy), some forced in (the space's largest and smallest subnets);
* :func:`rank_agreement`: Kendall tau-b, Spearman rho and top-k overlap of two scorings
  of the same candidates.

Used by ``bench/rank_fidelity.py`` to judge a supernet's inherited accuracies against
stand-alone training, and the seed-to-seed agreement of stand-alone training (the noise
ceiling).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["stratified_choice", "rank_agreement"]


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
