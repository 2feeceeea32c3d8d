"""A cheap stand-in for the local evaluator in a Ray worker, for fault tests.

:class:`CrashingEvaluator` is the :class:`~autosnn.fitness.synthetic.SyntheticEvaluator`
(metrics are closed-form functions of the config, after sleeping ``delay`` per
candidate, so a test can kill a worker while it is busy) whose process dies on the
configs in ``die_on``. Pass ``fake_factory(...)`` as ``RayEvaluator(..., factory=...)``.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

from autosnn.fitness.result import EvalResult
from autosnn.fitness.synthetic import SyntheticEvaluator
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["CrashingEvaluator", "fake_factory"]


class CrashingEvaluator(SyntheticEvaluator):
    def __init__(self, space: SearchSpace, *, delay: float = 0.0, die_on: Sequence[str] = ()) -> None:
        super().__init__(space, delay=delay)
        self.die_on = frozenset(die_on)   # config ids whose evaluation kills the worker process, every time

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        if any(c.id in self.die_on for c in configs):
            os._exit(137)
        return super().evaluate(configs)


def _make(delay_s, die_on, campaign, space, supernet, data, device):
    return CrashingEvaluator(space, delay=delay_s, die_on=die_on)


def fake_factory(delay_s: float = 0.0, die_on: Sequence[str] = ()):
    """A picklable ``factory(campaign, space, supernet, data, device)`` building a CrashingEvaluator."""
    return functools.partial(_make, delay_s, tuple(die_on))
