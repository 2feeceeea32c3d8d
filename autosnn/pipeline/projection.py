"""The arithmetic of a dry run's projection: a cost model fitted on a few measured
subnets, and the number of steps and evaluations a campaign will make.

Subnets of one supernet differ several-fold in cost, so a handful of timed steps is
not averaged as it is: each measured time is put against the subnet's size, and a
model ``seconds = a + b * MACs + c * layer_steps`` is fitted (non-negative least
squares: no term may make a larger subnet cheaper), then read at the *expected* size of
what the campaign will run, computed from many draws of its sampling rather than from
the few subnets timed. The two sizes (:func:`size_features`):

* ``MACs``: the subnet's ANN-equivalent multiply-accumulates per sample
  (:func:`~autosnn.fitness.flops.ann_macs`, over all its time steps): the arithmetic;
* ``layer_steps``: spiking layers x time steps (``T * (5 + 7 * depth)``: the stem's
  five conv-BN-LIF layers, seven per block): the per-layer, per-step cost every
  multi-step neuron and kernel launch pays whatever the width; it dominates small
  models and launch-bound GPUs.

A step of several passes (sandwich, distillation) sums its passes' sizes. Nothing here
times anything: the dry run measures, this module projects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import nnls

from autosnn.fitness.flops import ann_macs
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["CostModel", "fit_cost", "size_features", "search_evaluations", "Projection", "project", "FEATURES"]

#: The size features of a subnet (:func:`size_features`), in order.
FEATURES = ("MACs", "layer_steps")
#: Spiking layers of the stem and of each block (Spikformer's SSA block: q, k, v, attention, projection, 2 MLP).
STEM_LAYERS, BLOCK_LAYERS = 5, 7


def size_features(configs: SubnetConfig | Sequence[SubnetConfig]) -> np.ndarray:
    """``[MACs, layer_steps]`` of a subnet, or summed over the passes of a step."""
    if isinstance(configs, SubnetConfig):
        configs = [configs]
    return np.array([sum(ann_macs(c) for c in configs),
                     sum(c.time_steps * (STEM_LAYERS + BLOCK_LAYERS * c.depth) for c in configs)], dtype=float)


def _as_matrix(sizes) -> np.ndarray:
    x = np.asarray(sizes, dtype=float)
    return x[:, None] if x.ndim == 1 else x


@dataclass(frozen=True)
class CostModel:
    """``seconds = intercept + coefficients . size``, fitted on ``n`` measurements whose
    sizes spanned ``[size_min, size_max]`` (per feature); ``residual`` is the
    root-mean-square relative error of the fit on them (repeated sizes make it the
    timing noise too)."""

    intercept: float
    coefficients: tuple[float, ...]
    n: int
    size_min: tuple[float, ...]
    size_max: tuple[float, ...]
    residual: float

    def seconds(self, size) -> float:
        size = np.atleast_1d(np.asarray(size, dtype=float))
        return float(self.intercept + np.dot(self.coefficients, size))

    def extrapolates(self, size) -> bool:
        """True when ``size`` lies outside the measured sizes (by more than 1 %) in any feature."""
        size = np.atleast_1d(np.asarray(size, dtype=float))
        return bool(np.any(size < np.asarray(self.size_min) * 0.99) or np.any(size > np.asarray(self.size_max) * 1.01))


def fit_cost(sizes, seconds: Sequence[float]) -> CostModel:
    """Non-negative least squares ``seconds = a + b . size`` (``sizes``: one row per
    measurement, one column per feature; a flat list is one feature). Every coefficient
    is >= 0: noise never makes a larger subnet cheaper nor a time negative; a feature
    that does not vary gets 0 (its cost is in the intercept)."""
    x = _as_matrix(sizes)
    y = np.asarray(seconds, dtype=float)
    if x.shape[0] != y.size or y.size == 0:
        raise ValueError(f"need as many sizes as times (at least one), got {x.shape[0]} and {y.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("sizes and times must be finite")
    scale = np.where(np.ptp(x, axis=0) > 0, np.abs(x).max(axis=0), 0.0)  # columns on one scale; constant ones dropped
    design = np.column_stack([np.ones(len(y))] + [x[:, j] / scale[j] for j in range(x.shape[1]) if scale[j] > 0])
    coef, _ = nnls(design, y)
    slopes, k = [], 1
    for j in range(x.shape[1]):
        if scale[j] > 0:
            slopes.append(float(coef[k] / scale[j]))
            k += 1
        else:
            slopes.append(0.0)
    pred = design @ coef
    residual = float(np.sqrt(np.mean(((y - pred) / np.maximum(pred, 1e-12)) ** 2)))
    return CostModel(intercept=float(coef[0]), coefficients=tuple(slopes), n=int(y.size),
                     size_min=tuple(float(v) for v in x.min(axis=0)), size_max=tuple(float(v) for v in x.max(axis=0)),
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
        """A relative figure of doubt: the fit's residual, plus the share of the spread
        the choice of subnets allows (``high - low`` over the projection): half of it
        when the expected size lies outside what was measured, a fifth inside."""
        spread = (self.high_s - self.low_s) / max(self.seconds, 1e-12)
        return self.residual + spread * (0.5 if self.extrapolated else 0.2)


def project(stage: str, model: CostModel, units: int, expected, low, high, measured: int,
            fixed_s: float = 0.0) -> Projection:
    """``units`` of the stage at the cost model's seconds for the ``expected`` size; the
    bracket reads the model at the ``low`` and ``high`` sizes."""
    if units < 0 or not np.all(np.isfinite(np.asarray(expected, dtype=float))) or not math.isfinite(fixed_s):
        raise ValueError(f"bad projection input: units {units}, expected size {expected}")
    each = max(0.0, model.seconds(expected))
    return Projection(stage=stage, units=int(units), seconds_each=each, fixed_s=float(fixed_s),
                      low_s=units * max(0.0, model.seconds(low)) + fixed_s,
                      high_s=units * max(0.0, model.seconds(high)) + fixed_s,
                      measured=int(measured), residual=model.residual, extrapolated=model.extrapolates(expected))
