"""The arithmetic of a dry run's projection: a cost model fitted on a few measured
subnets, and the number of steps and evaluations a campaign will make.

Subnets of one supernet differ several-fold in cost, so a handful of timed steps is
not averaged as it is: each measured time is put against the subnet's size (its
ANN-equivalent multiply-accumulates, :func:`~autosnn.fitness.flops.ann_macs`, summed over
the passes of a step), a line ``seconds = a + b * MACs`` is fitted (least squares), and
the line is read at the *expected* size of what the campaign will run, computed
exactly from the sampling distribution rather than from the few subnets timed.
Nothing here measures or imports torch: the dry run measures, this module projects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["CostModel", "fit_cost", "search_evaluations", "Projection", "project"]


@dataclass(frozen=True)
class CostModel:
    """``seconds = intercept + slope * macs``, fitted on ``n`` measurements whose sizes
    spanned ``[macs_min, macs_max]``; ``residual`` is the root-mean-square relative
    error of the fit on them (repeated sizes make it the timing noise too)."""

    intercept: float
    slope: float
    n: int
    macs_min: float
    macs_max: float
    residual: float

    def seconds(self, macs: float) -> float:
        return self.intercept + self.slope * float(macs)

    def extrapolates(self, macs: float) -> bool:
        """True when ``macs`` lies outside the measured sizes (by more than 1 %)."""
        return macs < self.macs_min * 0.99 or macs > self.macs_max * 1.01


def fit_cost(macs: Sequence[float], seconds: Sequence[float]) -> CostModel:
    """Least-squares ``seconds = a + b * macs``. The slope is kept >= 0 (a larger subnet
    is never cheaper: noise that says otherwise gives the mean as a flat line) and the
    intercept >= 0 (a negative one becomes a line through the origin). One distinct size
    gives a flat line at the mean time."""
    x = np.asarray(macs, dtype=float)
    y = np.asarray(seconds, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"need as many sizes as times (at least one), got {x.size} and {y.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("sizes and times must be finite")
    mean_y = float(y.mean())
    if np.ptp(x) <= 0:
        a, b = mean_y, 0.0
    else:
        b, a = (float(v) for v in np.polyfit(x, y, 1))
        if b < 0:
            a, b = mean_y, 0.0
        elif a < 0:  # time cannot be negative for a tiny subnet: a line through the origin instead
            a, b = 0.0, float((x * y).sum() / (x * x).sum())
    pred = a + b * x
    residual = float(np.sqrt(np.mean(((y - pred) / np.maximum(pred, 1e-12)) ** 2)))
    return CostModel(intercept=a, slope=b, n=int(x.size), macs_min=float(x.min()), macs_max=float(x.max()),
                     residual=residual)


def search_evaluations(algorithm: str, population: int, generations: int, seed_extremes: bool) -> int:
    """How many candidates a fresh search evaluates: the two extremes once (they set
    F_AEB's target and the hypervolume box), then ``population`` new candidates per
    generation (duplicates are eliminated before evaluation, so every offspring is new),
    less the two extremes when they seed the first population (answered from memory,
    not evaluated twice). The random search draws uniform samples only."""
    seeded = 2 if seed_extremes and algorithm in ("nsga2", "ga-aeb") else 0
    return 2 + population * generations - seeded


@dataclass(frozen=True)
class Projection:
    """A stage's projected wall time: ``units`` steps or evaluations of ``seconds_each``
    (the cost model read at the expected size), plus ``fixed_s`` (e.g. per-epoch costs);
    ``low_s`` / ``high_s`` bracket it by the same count of the smallest and the
    largest subnets; ``measured`` is how many units were timed."""

    stage: str
    units: int
    seconds_each: float
    fixed_s: float
    low_s: float
    high_s: float
    measured: int
    residual: float
    extrapolated: bool

    @property
    def seconds(self) -> float:
        return self.units * self.seconds_each + self.fixed_s

    @property
    def factor(self) -> float:
        """Units projected per unit timed (how far the measurement is stretched)."""
        return self.units / max(1, self.measured)

    @property
    def uncertainty(self) -> float:
        """A relative figure of doubt: the fit's residual, plus half the spread the
        choice of subnets allows (``high - low`` over the projection) when the expected
        size lies outside what was measured, or a fifth of it when it lies inside."""
        spread = (self.high_s - self.low_s) / max(self.seconds, 1e-12)
        return self.residual + spread * (0.5 if self.extrapolated else 0.2)


def project(stage: str, model: CostModel, units: int, expected_macs: float, low_macs: float, high_macs: float,
            measured: int, fixed_s: float = 0.0) -> Projection:
    """``units`` of the stage at the cost model's seconds for ``expected_macs``; the
    bracket reads the model at ``low_macs`` and ``high_macs``."""
    if units < 0 or not math.isfinite(expected_macs):
        raise ValueError(f"bad projection input: units {units}, expected MACs {expected_macs}")
    each = max(0.0, model.seconds(expected_macs))
    return Projection(stage=stage, units=int(units), seconds_each=each, fixed_s=float(fixed_s),
                      low_s=units * max(0.0, model.seconds(low_macs)) + fixed_s,
                      high_s=units * max(0.0, model.seconds(high_macs)) + fixed_s,
                      measured=int(measured), residual=model.residual, extrapolated=model.extrapolates(expected_macs))
