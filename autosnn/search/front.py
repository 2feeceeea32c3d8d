"""Pareto front and hypervolume of a set of evaluations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymoo.indicators.hv import HV

__all__ = ["non_dominated", "pareto_front", "hypervolume"]


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``F`` (minimised) that no other row dominates."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    if F.ndim == 2 and F.shape[1] == 2:
        return _non_dominated_2d(F)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(F <= F[i], axis=1) & np.any(F < F[i], axis=1)
        if dominated.any():
            mask[i] = False
    return mask


def _non_dominated_2d(F: np.ndarray) -> np.ndarray:
    """Two objectives in O(n log n): sweep by (f1, f2); a row is dominated when an earlier
    row of smaller f1 has f2 <= its f2, or one of equal f1 has a smaller f2. Equal rows are
    all kept (none dominates another)."""
    mask = np.zeros(len(F), dtype=bool)
    if len(F) == 0:
        return mask
    order = np.lexsort((F[:, 1], F[:, 0]))
    best = np.inf          # lowest f2 among rows of strictly smaller f1
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and F[order[j], 0] == F[order[i], 0]:
            j += 1
        group = order[i:j]                       # equal f1, sorted by f2
        low = F[group[0], 1]
        if low < best:                           # else everything here is dominated
            keep = group[F[group, 1] == low]
            mask[keep] = True
        best = min(best, low)
        i = j
    return mask


def _objectives(df: pd.DataFrame) -> np.ndarray:
    return np.stack([-df["objective"].to_numpy(float), df["energy_mj"].to_numpy(float)], axis=1)


def pareto_front(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The feasible, successful rows that no other such row dominates in
    (maximise objective, minimise energy), sorted by energy."""
    ok = evaluations[(evaluations["status"] == "ok") & evaluations["feasible"].astype(bool)]
    if ok.empty:
        return ok
    front = ok[non_dominated(_objectives(ok))]
    return front.sort_values(["energy_mj", "objective"]).reset_index(drop=True)


def hypervolume(evaluations: pd.DataFrame, reference_energy_mj: float, reference_objective: float = 0.0) -> float:
    """Normalised hypervolume of the feasible rows: the fraction of the box
    [``reference_objective``, 1] x [0, ``reference_energy_mj``] (objective x energy) that
    they dominate, i.e. the hypervolume of (``(1 - objective) / (1 - o_ref)``,
    ``energy_mj / E_ref``) with the reference point (1, 1). A search's run folder uses
    the box spanned by the space's extreme subnets (``o_ref``: the smallest subnet's
    objective, ``E_ref``: 1.1 x the largest subnet's energy), so the hypervolume moves
    where the fronts differ, not in the area below the worst useful accuracy; rows
    outside the box do not count."""
    ok = evaluations[(evaluations["status"] == "ok") & evaluations["feasible"].astype(bool)]
    if ok.empty:
        return 0.0
    span = 1.0 - float(reference_objective)
    if not span > 0:
        raise ValueError(f"reference_objective must be < 1, got {reference_objective}")
    F = _objectives(ok)
    F[:, 0] = (1.0 + F[:, 0]) / span
    F[:, 1] /= reference_energy_mj
    F = F[np.all(F < 1.0, axis=1)]
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=np.array([1.0, 1.0]))(F))
