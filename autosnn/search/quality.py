"""How good a search's result is against an exactly known front.

Objectives are put in a **normalised box**: accuracy and energy scaled between the exact
front's ideal point (its best accuracy, its lowest energy) and its nadir point (its
worst accuracy, its highest energy), both minimised::

    f1 = (acc_ideal - acc) / (acc_ideal - acc_nadir)      # 0 at the best accuracy
    f2 = (E - E_ideal) / (E_nadir - E_ideal)               # 0 at the lowest energy

The hypervolume reference point is ``(1 + margin, 1 + margin)`` (``margin = 0.1``:
slightly beyond the nadir, so the front's two extreme points count too). A hypervolume
measured from accuracy 0 is dominated by the area below the worst useful accuracy,
which every method covers; this one spends the whole box where the fronts differ.

* :meth:`ExactFront.hv_share` — a set's hypervolume over the exact front's (1.0: as good);
* :meth:`ExactFront.igd_plus` — IGD+ (Ishibuchi et al. 2015) in the box (0: the exact front);
* :meth:`ExactFront.share_found` — the fraction of the exact front's points in a set;
* :meth:`ExactFront.expected_random_share` — what uniform sampling of a fraction of the
  table reaches on average (how hard a candidate benchmark problem is, without running a
  search).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pymoo.indicators.hv import HV
from pymoo.indicators.igd_plus import IGDPlus

from autosnn.search.front import pareto_front

__all__ = ["ExactFront", "REFERENCE_MARGIN"]

#: The reference point of the normalised hypervolume is (1 + margin, 1 + margin).
REFERENCE_MARGIN = 0.1


def _objectives(df: pd.DataFrame) -> np.ndarray:
    """``[n, 2]``: (accuracy, energy_mj) of the successful, feasible rows."""
    ok = df[(df["status"] == "ok") & df["feasible"].astype(bool)]
    return np.stack([ok["objective"].to_numpy(float), ok["energy_mj"].to_numpy(float)], axis=1)


@dataclass
class ExactFront:
    """The exact Pareto front of an enumerated space (``front``: its rows, by energy)
    and the normalised box it spans."""

    front: pd.DataFrame
    margin: float = REFERENCE_MARGIN

    @classmethod
    def of(cls, table: pd.DataFrame, margin: float = REFERENCE_MARGIN) -> "ExactFront":
        """The exact front of ``table`` (every subnet of a space, see :mod:`autosnn.search.exact`)."""
        return cls(pareto_front(table), margin)

    def __post_init__(self) -> None:
        acc, energy = _objectives(self.front).T
        self._keys = {self._key(a, e) for a, e in zip(acc, energy)}
        self.ideal = np.array([acc.max(), energy.min()]) if len(acc) else np.full(2, np.nan)
        self.nadir = np.array([acc.min(), energy.max()]) if len(acc) else np.full(2, np.nan)
        if len(self._keys) < 2 or not (self.ideal[0] > self.nadir[0] and self.nadir[1] > self.ideal[1]):
            raise ValueError(f"degenerate exact front: {len(self._keys)} distinct (accuracy, energy) point(s) in "
                             f"{len(acc)} row(s), accuracy {self.nadir[0]:.6g}..{self.ideal[0]:.6g}, energy "
                             f"{self.ideal[1]:.6g}..{self.nadir[1]:.6g} mJ; the normalised box needs two distinct "
                             "points (a best-accuracy one and a lowest-energy one)")
        self.ref = np.full(2, 1.0 + self.margin)
        self.points = self.normalise(acc, energy)
        self._hv = HV(ref_point=self.ref)
        self.hypervolume = float(self._hv(self.points))
        self._igd = IGDPlus(self.points)

    def __len__(self) -> int:
        return len(self._keys)

    @staticmethod
    def _key(acc: float, energy: float) -> tuple[float, float]:
        return (round(float(acc), 9), float(f"{float(energy):.9e}"))

    def normalise(self, acc: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """``[n, 2]`` minimised coordinates (f1, f2) in the box (see the module docstring)."""
        f1 = (self.ideal[0] - np.asarray(acc, float)) / (self.ideal[0] - self.nadir[0])
        f2 = (np.asarray(energy, float) - self.ideal[1]) / (self.nadir[1] - self.ideal[1])
        return np.stack([f1, f2], axis=1)

    def _points(self, df: pd.DataFrame) -> np.ndarray:
        F = _objectives(df)
        return self.normalise(F[:, 0], F[:, 1]) if len(F) else np.zeros((0, 2))

    def hv_share(self, evaluations: pd.DataFrame) -> float:
        """Hypervolume of ``evaluations`` (any rows; only the successful, feasible ones
        count) over the exact front's, in the normalised box."""
        P = self._points(evaluations)
        P = P[np.all(P < self.ref, axis=1)]
        return float(self._hv(P)) / self.hypervolume if len(P) else 0.0

    def igd_plus(self, evaluations: pd.DataFrame) -> float:
        """IGD+ of the non-dominated rows of ``evaluations`` to the exact front (normalised box)."""
        P = self._points(pareto_front(evaluations))
        return float(self._igd(P)) if len(P) else float("inf")

    def expected_random_share(self, table: pd.DataFrame, fraction: float, grid: int = 400) -> float:
        """The expected hypervolume share of a uniform random sample of ``table`` (every
        row kept with probability ``fraction``), over the exact hypervolume: a point z of
        the box dominated by n(z) rows is dominated by the sample with probability
        1 - (1 - fraction)^n(z). Integrated on a ``grid`` x ``grid`` lattice of the box
        (numerator and denominator alike), so exact up to the lattice."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        P = self._points(table)
        P = P[np.all(P < self.ref, axis=1)]
        step = self.ref / grid
        idx = np.clip(np.ceil(np.maximum(P, 0.0) / step).astype(int), 0, grid - 1)
        counts = np.zeros((grid, grid))
        np.add.at(counts, (idx[:, 0], idx[:, 1]), 1)
        n = counts.cumsum(0).cumsum(1)  # n[i, j]: rows dominating the lattice point (i, j) * step
        covered = n > 0
        return float((1.0 - (1.0 - fraction) ** n[covered]).sum() / covered.sum()) if covered.any() else 0.0

    def share_found(self, evaluations: pd.DataFrame) -> float:
        """The fraction of the exact front's points (distinct (accuracy, energy) pairs)
        found among ``evaluations``."""
        acc, energy = _objectives(evaluations).T if len(evaluations) else (np.array([]), np.array([]))
        found = {self._key(a, e) for a, e in zip(acc, energy)} & self._keys
        return len(found) / len(self._keys)
