"""The Pareto front of a run's evaluations and the two picks on it.

Objectives (DESIGN.md, Fitness): maximise ``accuracy``, minimise ``energy_mj``. Failed
rows and rows with a missing metric take no part. ``F_AEB`` is recomputed from the
campaign's ``fitness.aeb`` settings so every table of a run agrees with its campaign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["f_aeb", "ok_rows", "pareto_mask", "pareto_front", "pick_aeb", "pick_knee", "AEBTarget", "aeb_target"]


def f_aeb(acc: float, energy_mj: float, target_mj: float, alpha: float = 0.07, beta: float = 0.07) -> float:
    """``acc * (E / E_target) ** w`` with ``w = -alpha`` if ``E <= E_target`` else ``-beta``.

    Uses :func:`autosnn.fitness.f_aeb` when that module provides it (one definition for
    the whole package); this copy is the same formula."""
    try:
        from autosnn.fitness import f_aeb as shared  # type: ignore[attr-defined]
    except ImportError:
        shared = None
    if shared is not None:
        return float(shared(acc, energy_mj, target_mj, alpha, beta))
    if not (target_mj > 0) or not (energy_mj > 0):
        return float("nan")
    w = -alpha if energy_mj <= target_mj else -beta
    return float(acc * (energy_mj / target_mj) ** w)


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that count: status ``ok`` (or no status column) and finite accuracy and energy."""
    keep = np.ones(len(df), dtype=bool)
    if "status" in df.columns:
        keep &= (df["status"].fillna("ok").astype(str) == "ok").to_numpy()
    for col in ("accuracy", "energy_mj"):
        keep &= np.isfinite(pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float))
    return df[keep]


def pareto_mask(accuracy: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``True`` for points no other point dominates (higher-or-equal accuracy and
    lower-or-equal energy, strictly better in one). Equal points are all kept."""
    acc = np.asarray(accuracy, dtype=float)
    en = np.asarray(energy, dtype=float)
    n = len(acc)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        better_or_equal = (acc >= acc[i]) & (en <= en[i])
        strictly = (acc > acc[i]) | (en < en[i])
        if np.any(better_or_equal & strictly):
            mask[i] = False
    return mask


def pareto_front(df: pd.DataFrame, *, energy_max: float | None = None, acc_min: float | None = None) -> pd.DataFrame:
    """The non-dominated ok rows of ``df`` (after the optional filters), ordered by
    increasing energy. Filtering before or after taking the front gives the same rows."""
    rows = ok_rows(df)
    if energy_max is not None:
        rows = rows[rows["energy_mj"].astype(float) <= energy_max]
    if acc_min is not None:
        rows = rows[rows["accuracy"].astype(float) >= acc_min]
    if rows.empty:
        return rows.copy()
    mask = pareto_mask(rows["accuracy"].to_numpy(float), rows["energy_mj"].to_numpy(float))
    front = rows[mask].copy()
    return front.sort_values(["energy_mj", "accuracy"], ascending=[True, False], kind="stable")


@dataclass(frozen=True)
class AEBTarget:
    """``E_target`` of F_AEB and where it came from."""

    target_mj: float
    alpha: float
    beta: float
    source: str  # "campaign" | "largest subnet" | "max energy in the table"

    def describe(self) -> str:
        return f"F_AEB target {self.target_mj:.6g} mJ ({self.source}), alpha {self.alpha:g}, beta {self.beta:g}"


def aeb_target(df: pd.DataFrame, campaign: Any, space: Any) -> AEBTarget:
    """The campaign's ``fitness.aeb`` settings; a null ``target_mj`` becomes the energy of
    the space's largest subnet when it was evaluated, else the largest energy in ``df``."""
    aeb = campaign.fitness.aeb
    if aeb.target_mj is not None:
        return AEBTarget(float(aeb.target_mj), aeb.alpha, aeb.beta, "campaign")
    rows = ok_rows(df)
    if "config" in rows.columns and len(rows):
        largest = space.largest().to_json()
        hit = rows[rows["config"] == largest]
        if len(hit):
            return AEBTarget(float(hit["energy_mj"].astype(float).iloc[0]), aeb.alpha, aeb.beta, "largest subnet")
    energy = rows["energy_mj"].astype(float) if len(rows) else pd.Series([], dtype=float)
    if energy.empty:
        return AEBTarget(float("nan"), aeb.alpha, aeb.beta, "no evaluation yet")
    return AEBTarget(float(energy.max()), aeb.alpha, aeb.beta, "max energy in the table; largest subnet not evaluated")


def with_f_aeb(df: pd.DataFrame, target: AEBTarget) -> pd.DataFrame:
    out = df.copy()
    out["f_aeb"] = [f_aeb(float(a), float(e), target.target_mj, target.alpha, target.beta)
                    for a, e in zip(out["accuracy"], out["energy_mj"])]
    return out


def pick_aeb(front: pd.DataFrame, target: AEBTarget | None = None) -> str | None:
    """Id of the row with the highest F_AEB (ties: higher accuracy, then lower energy).
    ``front`` must carry an ``f_aeb`` column unless ``target`` is given."""
    if front.empty:
        return None
    rows = with_f_aeb(front, target) if target is not None else front
    order = rows.assign(_f=rows["f_aeb"].astype(float).fillna(-math.inf), _e=-rows["energy_mj"].astype(float))
    order = order.sort_values(["_f", "accuracy", "_e"], ascending=False, kind="stable")
    return str(order["id"].iloc[0])


def pick_knee(front: pd.DataFrame) -> str | None:
    """Id of the knee of the front: after scaling accuracy and energy to [0, 1] over the
    front, the point farthest from the straight line joining its two ends. A front of
    one or two points has no knee: its best F_AEB row is returned when ``f_aeb`` is
    present, else its most accurate row."""
    if front.empty:
        return None
    rows = front.sort_values("energy_mj", kind="stable")
    if len(rows) <= 2:
        if "f_aeb" in rows.columns:
            return pick_aeb(rows)
        return str(rows.sort_values("accuracy", ascending=False, kind="stable")["id"].iloc[0])
    e = rows["energy_mj"].to_numpy(float)
    a = rows["accuracy"].to_numpy(float)
    span_e = e.max() - e.min() or 1.0
    span_a = a.max() - a.min() or 1.0
    x, y = (e - e.min()) / span_e, (a - a.min()) / span_a
    p0, p1 = np.array([x[0], y[0]]), np.array([x[-1], y[-1]])
    d = p1 - p0
    norm = np.hypot(*d) or 1.0
    dist = np.abs(d[0] * (y - p0[1]) - d[1] * (x - p0[0])) / norm
    return str(rows["id"].iloc[int(np.argmax(dist))])
