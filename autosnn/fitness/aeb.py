"""F_AEB, the accuracy-energy-balanced fitness (this project's own definition).

    F_AEB(acc, E) = acc * (E / E_target) ** w,   w = -alpha if E <= E_target else -beta

``acc`` is a fraction in [0, 1]; ``E`` and ``E_target`` are millijoules per inference
(``E_target`` defaults to the energy of the space's largest subnet, see
:func:`autosnn.fitness.evaluator.default_target_mj`). ``alpha = beta = 0.07`` by default;
``alpha = 0`` with a large ``beta`` makes ``E_target`` a hard budget.

The published Auto-Spikformer paper scalarises accuracy and energy with a function it
calls F_AEB, whose exact formula could not be read; the definition above is autosnn's,
not a reproduction of the paper's. It is strictly increasing in accuracy (for acc > 0)
and strictly decreasing in energy (for acc > 0 and alpha, beta > 0), so its maximiser over
any set of candidates is on that set's Pareto front.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["f_aeb"]


def f_aeb(acc: ArrayLike, energy_mj: ArrayLike, target_mj: float, alpha: float = 0.07,
          beta: float = 0.07) -> np.ndarray | float:
    """F_AEB of accuracies ``acc`` (fractions) at energies ``energy_mj`` (mJ per inference),
    element-wise with numpy broadcasting; a float for scalar inputs.

    ``acc * (energy_mj / target_mj) ** w`` with ``w = -alpha`` at or below the target and
    ``-beta`` above it. This is autosnn's own definition (the paper's could not be read).

    Non-finite inputs (a failed evaluation's NaN) give NaN.
    """
    if not (np.isfinite(target_mj) and target_mj > 0):
        raise ValueError(f"target_mj must be a positive number, got {target_mj}")
    if alpha < 0 or beta < 0:
        raise ValueError(f"alpha and beta must be >= 0, got {alpha}, {beta}")
    a = np.asarray(acc, dtype=np.float64)
    e = np.asarray(energy_mj, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = e / float(target_mj)
        w = np.where(e <= target_mj, -float(alpha), -float(beta))
        out = a * np.power(ratio, w)
    out = np.where(np.isfinite(a) & np.isfinite(e) & (e > 0), out, np.nan)
    return float(out) if out.ndim == 0 else out
