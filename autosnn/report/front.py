"""The Pareto front of a run's evaluations and the two picks on it.

Objectives (docs/design.md, Objectives): maximise ``objective`` (the validation accuracy; the
training-free score in ``fitness.mode: training-free``), minimise ``energy_mj``. Failed
and infeasible rows (outside the campaign's constraints) take no part. ``F_AEB`` uses the
target the search fixed (``search_state/search.json``), so the report agrees with the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autosnn.fitness.aeb import f_aeb
from autosnn.search.front import non_dominated
from autosnn.search.state import StateStore

__all__ = ["f_aeb", "VALUE", "ok_rows", "pareto_mask", "pareto_front", "pick_aeb", "pick_knee", "AEBTarget", "aeb_target"]


#: The column the front maximises (``summarize`` fills it from ``accuracy`` for tables
#: written without it).
VALUE = "objective"


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that count: status ``ok``, feasible (when the table says) and finite
    objective and energy."""
    keep = np.ones(len(df), dtype=bool)
    if "status" in df.columns:
        keep &= (df["status"].fillna("ok").astype(str) == "ok").to_numpy()
    if "feasible" in df.columns:
        keep &= df["feasible"].fillna(True).astype(bool).to_numpy()
    for col in (VALUE, "energy_mj"):
        keep &= np.isfinite(pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float))
    return df[keep]


def pareto_mask(value: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``True`` for points no other point dominates (higher-or-equal value and
    lower-or-equal energy, strictly better in one). Equal points are all kept."""
    return non_dominated(np.stack([-np.asarray(value, dtype=float), np.asarray(energy, dtype=float)], axis=1))


def pareto_front(df: pd.DataFrame, *, energy_max: float | None = None, acc_min: float | None = None) -> pd.DataFrame:
    """The non-dominated ok rows of ``df`` (after the optional filters), ordered by
    increasing energy. Filtering before or after taking the front gives the same rows."""
    rows = ok_rows(df)
    if energy_max is not None:
        rows = rows[rows["energy_mj"].astype(float) <= energy_max]
    if acc_min is not None:
        rows = rows[rows[VALUE].astype(float) >= acc_min]
    if rows.empty:
        return rows.copy()
    mask = pareto_mask(rows[VALUE].to_numpy(float), rows["energy_mj"].to_numpy(float))
    front = rows[mask].copy()
    return front.sort_values(["energy_mj", VALUE], ascending=[True, False], kind="stable")


@dataclass(frozen=True)
class AEBTarget:
    """``E_target`` of F_AEB and where it came from."""

    target_mj: float
    alpha: float
    beta: float
    source: str  # "campaign" | "search" | "largest subnet" | "max energy in the table"

    def describe(self) -> str:
        return f"F_AEB target {self.target_mj:.6g} mJ ({self.source}), alpha {self.alpha:g}, beta {self.beta:g}"


def aeb_target(df: pd.DataFrame, campaign: Any, space: Any, run_dir: Path | None = None) -> AEBTarget:
    """The campaign's ``fitness.aeb`` settings; a null ``target_mj`` becomes the one the
    search fixed (the energy of the space's largest subnet, in ``search_state/``), else
    that subnet's row when it was evaluated, else the largest energy in ``df``."""
    aeb = campaign.fitness.aeb
    if aeb.target_mj is not None:
        return AEBTarget(float(aeb.target_mj), aeb.alpha, aeb.beta, "campaign")
    meta = StateStore(Path(run_dir) / "search_state").load_meta() if run_dir is not None else None
    if meta is not None and math.isfinite(meta.target_mj):
        return AEBTarget(float(meta.target_mj), aeb.alpha, aeb.beta, "energy of the largest subnet")
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
    out["f_aeb"] = f_aeb(out[VALUE].to_numpy(float), out["energy_mj"].to_numpy(float),
                         target.target_mj, target.alpha, target.beta)
    return out


def pick_aeb(front: pd.DataFrame, target: AEBTarget | None = None) -> str | None:
    """Id of the row with the highest F_AEB (ties: higher objective, then lower energy).
    ``front`` must carry an ``f_aeb`` column unless ``target`` is given."""
    if front.empty:
        return None
    rows = with_f_aeb(front, target) if target is not None else front
    order = rows.assign(_f=rows["f_aeb"].astype(float).fillna(-math.inf), _e=-rows["energy_mj"].astype(float))
    order = order.sort_values(["_f", VALUE, "_e"], ascending=False, kind="stable")
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
        return str(rows.sort_values(VALUE, ascending=False, kind="stable")["id"].iloc[0])
    e = rows["energy_mj"].to_numpy(float)
    a = rows[VALUE].to_numpy(float)
    span_e = e.max() - e.min() or 1.0
    span_a = a.max() - a.min() or 1.0
    x, y = (e - e.min()) / span_e, (a - a.min()) / span_a
    p0, p1 = np.array([x[0], y[0]]), np.array([x[-1], y[-1]])
    d = p1 - p0
    norm = np.hypot(*d) or 1.0
    dist = np.abs(d[0] * (y - p0[1]) - d[1] * (x - p0[0])) / norm
    return str(rows["id"].iloc[int(np.argmax(dist))])
