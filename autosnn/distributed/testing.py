"""A cheap stand-in for the local evaluator, for fault tests and plumbing checks.

``FakeEvaluator`` answers from the config alone (accuracy and energy are deterministic
functions of it) after sleeping ``delay_s`` per candidate, so a test can kill a worker
while it is busy. Pass ``fake_factory(delay_s)`` as ``RayEvaluator(..., factory=...)``.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Sequence

from autosnn.fitness.result import EvalResult
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["FakeEvaluator", "fake_factory"]


class FakeEvaluator:
    def __init__(self, delay_s: float = 0.0, die_on: frozenset[str] = frozenset()) -> None:
        self.delay_s = delay_s
        self.die_on = die_on   # config ids whose evaluation kills the worker process (a crash every time)

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        out = []
        for c in configs:
            t0 = time.perf_counter()
            if c.id in self.die_on:
                os._exit(137)
            time.sleep(self.delay_s)
            acc = (c.depth * 7 + c.embed_dim + sum(c.num_heads)) % 97 / 100
            energy = c.depth * c.embed_dim * c.time_steps * 1e-4
            out.append(EvalResult(config=c, accuracy=acc, energy_mj=energy, macs=float(c.embed_dim ** 2),
                                  acs=float(c.depth), params=c.depth * c.embed_dim,
                                  seconds=time.perf_counter() - t0))
        return out

    def close(self) -> None:
        pass


def _make(delay_s, die_on, campaign, space, supernet, data, device):
    return FakeEvaluator(delay_s, frozenset(die_on))


def fake_factory(delay_s: float = 0.0, die_on: Sequence[str] = ()):
    """A picklable ``factory(campaign, space, supernet, data, device)`` building a FakeEvaluator."""
    return functools.partial(_make, delay_s, tuple(die_on))
