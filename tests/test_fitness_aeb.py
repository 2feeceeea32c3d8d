"""F_AEB: the definition, its monotonicity, and that its maximiser is never dominated."""

from __future__ import annotations

import numpy as np
import pytest

from autosnn.fitness import f_aeb
from autosnn.fitness import aeb as aeb_module


def test_definition_values():
    assert f_aeb(0.9, 2.0, 2.0) == pytest.approx(0.9)                      # at the target: acc
    assert f_aeb(0.9, 1.0, 2.0) == pytest.approx(0.9 * 0.5 ** -0.07)       # below: alpha
    assert f_aeb(0.9, 4.0, 2.0, alpha=0.07, beta=0.5) == pytest.approx(0.9 * 2.0 ** -0.5)  # above: beta
    assert f_aeb(0.9, 1.0, 2.0, alpha=0.0, beta=5.0) == pytest.approx(0.9)  # hard budget: flat below
    assert isinstance(f_aeb(0.5, 1.0, 1.0), float)
    out = f_aeb(np.array([0.5, 0.6]), np.array([[1.0], [3.0]]), 2.0)        # broadcasting
    assert out.shape == (2, 2)
    assert np.isnan(f_aeb(np.nan, 1.0, 2.0)) and np.isnan(f_aeb(0.5, np.nan, 2.0))
    with pytest.raises(ValueError):
        f_aeb(0.5, 1.0, 0.0)
    assert "project's own" in aeb_module.__doc__ and "could not be read" in aeb_module.__doc__


@pytest.mark.parametrize("alpha,beta", [(0.07, 0.07), (0.02, 0.5), (0.3, 0.01)])
def test_strictly_monotone(alpha, beta):
    rng = np.random.default_rng(0)
    target = 1.5
    acc = np.sort(rng.uniform(0.01, 1.0, 500))
    e = rng.uniform(0.01, 5.0)
    assert np.all(np.diff(f_aeb(acc, e, target, alpha, beta)) > 0)          # increasing in accuracy
    energies = np.sort(np.concatenate([rng.uniform(0.01, 5.0, 500), [target]]))
    a = rng.uniform(0.01, 1.0)
    assert np.all(np.diff(f_aeb(a, energies, target, alpha, beta)) < 0)     # decreasing in energy, across the target


def _dominated(i: int, acc: np.ndarray, e: np.ndarray) -> bool:
    better_eq = (acc >= acc[i]) & (e <= e[i])
    strictly = (acc > acc[i]) | (e < e[i])
    return bool(np.any(better_eq & strictly))


@pytest.mark.parametrize("seed", range(20))
def test_maximiser_is_never_dominated(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    acc = rng.uniform(0.05, 1.0, n)
    e = rng.lognormal(0.0, 1.0, n)
    if seed % 2:  # ties and grid points make domination likelier
        acc, e = np.round(acc, 1), np.round(e, 1) + 0.1
    target = float(rng.choice(e))
    alpha, beta = rng.uniform(0.0, 0.5), rng.uniform(0.01, 2.0)
    scores = f_aeb(acc, e, target, alpha, beta)
    best = np.flatnonzero(scores == scores.max())
    assert any(not _dominated(int(i), acc, e) for i in best)
    assert not _dominated(int(np.argmax(scores)), acc, e) or len(best) > 1
