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
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(F <= F[i], axis=1) & np.any(F < F[i], axis=1)
        if dominated.any():
            mask[i] = False
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


def hypervolume(evaluations: pd.DataFrame, reference_energy_mj: float) -> float:
    """Hypervolume of the feasible rows in (``-objective``, ``energy_mj / E_ref``), with the
    reference point (objective 0, ``E_ref``): the fraction of the box
    [0, 1] x [0, E_ref] an accuracy front dominates (``E_ref``: 1.1 x the energy of the
    space's largest subnet)."""
    ok = evaluations[(evaluations["status"] == "ok") & evaluations["feasible"].astype(bool)]
    if ok.empty:
        return 0.0
    F = _objectives(ok)
    F[:, 1] /= reference_energy_mj
    F = F[np.all(F < np.array([0.0, 1.0]), axis=1)]
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=np.array([0.0, 1.0]))(F))
