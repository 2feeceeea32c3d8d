"""A cheap stand-in for the local evaluator in a Ray worker, for fault tests.

:class:`CrashingEvaluator` is the :class:`~autosnn.fitness.synthetic.SyntheticEvaluator`
(metrics are closed-form functions of the config, after sleeping ``delay`` per
candidate, so a test can kill a worker while it is busy) whose process dies on the
configs in ``die_on`` and hangs (sleeps an hour, alive but silent) on the configs in
``hang_on`` every time, on those in ``hang_once_on`` only the first time in any worker
(it leaves a mark in ``marks_dir``). Pass ``fake_factory(...)`` as ``RayEvaluator(..., factory=...)``.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Sequence

from autosnn.fitness.result import EvalResult
from autosnn.fitness.synthetic import SyntheticEvaluator
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["CrashingEvaluator", "fake_factory"]


class CrashingEvaluator(SyntheticEvaluator):
    def __init__(self, space: SearchSpace, *, delay: float = 0.0, die_on: Sequence[str] = (),
                 hang_on: Sequence[str] = (), hang_once_on: Sequence[str] = (), marks_dir: str | None = None) -> None:
        super().__init__(space, delay=delay)
        self.die_on = frozenset(die_on)          # config ids whose evaluation kills the worker process, every time
        self.hang_on = frozenset(hang_on)        # config ids whose evaluation never answers, every time
        self.hang_once_on = frozenset(hang_once_on)  # ... only the first time in any worker (a mark in marks_dir)
        if self.hang_once_on and not marks_dir:
            raise ValueError("hang_once_on needs marks_dir, a folder shared by the workers")
        self.marks_dir = Path(marks_dir) if marks_dir else None

    def _hangs(self, config: SubnetConfig) -> bool:
        if config.id in self.hang_on:
            return True
        if config.id in self.hang_once_on:
            try:
                (self.marks_dir / config.id).touch(exist_ok=False)   # first time anywhere: hang
                return True
            except FileExistsError:
                return False
        return False

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        if any(c.id in self.die_on for c in configs):
            os._exit(137)
        if any(self._hangs(c) for c in configs):
            time.sleep(3600)
        return super().evaluate(configs)


def _make(delay_s, die_on, hang_on, hang_once_on, marks_dir, campaign, space, supernet, data, device):
    return CrashingEvaluator(space, delay=delay_s, die_on=die_on, hang_on=hang_on, hang_once_on=hang_once_on,
                             marks_dir=marks_dir)


def fake_factory(delay_s: float = 0.0, die_on: Sequence[str] = (), hang_on: Sequence[str] = (),
                 hang_once_on: Sequence[str] = (), marks_dir: str | Path | None = None):
    """A picklable ``factory(campaign, space, supernet, data, device)`` building a CrashingEvaluator."""
    return functools.partial(_make, delay_s, tuple(die_on), tuple(hang_on), tuple(hang_once_on),
                             None if marks_dir is None else str(marks_dir))
