"""Distributed evaluation on Ray and Ray Tune sweeps for retraining.

``import autosnn.distributed`` stays light: Ray is imported only when
:class:`RayEvaluator` or :func:`tune_retrain` is first touched.

* :class:`RayEvaluator` — the ``evaluator: {kind: ray}`` back end: a pool of Ray actors,
  each holding its own copy of the supernet (shipped once through the object store) and
  a local evaluator, fed candidates as they free up; dead workers are replaced and their
  candidate retried.
* :func:`tune_retrain` — a Ray Tune (ASHA) sweep over learning rate, weight decay and
  epochs of fine-tuning an exported subnet; the best trial's weights are kept.
"""

from __future__ import annotations

from typing import Any

from autosnn.distributed.errors import RayStartError

__all__ = ["RayEvaluator", "RayStartError", "tune_retrain", "connect"]


def __getattr__(name: str) -> Any:
    if name in ("RayEvaluator", "connect"):
        from autosnn.distributed import evaluator

        return getattr(evaluator, name)
    if name == "tune_retrain":
        from autosnn.distributed.tune import tune_retrain

        return tune_retrain
    raise AttributeError(f"module 'autosnn.distributed' has no attribute {name!r}")
