"""What one evaluation produces, and the interface every evaluator implements."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import torch

from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["EvalResult", "Evaluator", "InProcessEvaluator"]


@dataclass
class EvalResult:
    """One subnet evaluated on the validation split.

    Units: ``accuracy`` is a fraction in [0, 1]; ``energy_mj`` is millijoules per
    inference of one sample over all T steps; ``macs`` / ``acs`` are per sample.
    ``firing_rates`` maps a neuron's module name to its mean firing rate; ``layers``
    holds the per-layer energy table (one dict per counted layer). A failed
    evaluation has ``status == "failed"``, NaN metrics and ``reason`` set.
    """

    config: SubnetConfig
    accuracy: float
    energy_mj: float
    macs: float
    acs: float
    params: int
    firing_rates: dict[str, float] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "ok"
    reason: str = ""
    worker: str = "local"
    #: What the search maximises when it is not validation accuracy: the training-free
    #: performance proxy (``fitness.mode: training-free``). ``None`` in supernet mode.
    score: float | None = None

    def objective(self) -> float:
        """The quantity the search maximises: ``score`` when set, else ``accuracy``."""
        return self.accuracy if self.score is None else self.score

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, config: SubnetConfig, reason: str, *, seconds: float = 0.0, worker: str = "local") -> "EvalResult":
        nan = float("nan")
        return cls(config=config, accuracy=nan, energy_mj=nan, macs=nan, acs=nan, params=0,
                   seconds=seconds, status="failed", reason=reason, worker=worker)

    def to_row(self) -> dict[str, Any]:
        """A flat row for the evaluations table (config and firing rates as JSON)."""
        return {
            "id": self.config.id, "config": self.config.to_json(), "accuracy": self.accuracy,
            "energy_mj": self.energy_mj, "macs": self.macs, "acs": self.acs, "params": self.params,
            "time_steps": self.config.time_steps, "firing_rates": json.dumps(self.firing_rates, sort_keys=True),
            "seconds": self.seconds, "worker": self.worker, "status": self.status, "reason": self.reason,
            "layers": json.dumps(self.layers), "score": self.score,
        }


class Evaluator(Protocol):
    """Turns subnet configs into results. ``LocalEvaluator`` and ``RayEvaluator`` implement it."""

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        """Evaluate every config; results in the same order. Never raises for one bad
        candidate: a failure is a result with ``status == "failed"``."""
        ...

    def close(self) -> None:
        """Release workers and memory."""
        ...


class InProcessEvaluator(abc.ABC):
    """Base of the evaluators that run in this process, one candidate after another on
    ``self.device``; subclasses implement :meth:`evaluate_one`."""

    device: torch.device

    @abc.abstractmethod
    def evaluate_one(self, config: SubnetConfig) -> EvalResult:
        """One candidate; a failure is a result with ``status == "failed"``, never an exception."""

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        """One result per config, in order; failures are results, never exceptions."""
        return [self.evaluate_one(c) for c in configs]

    def close(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
