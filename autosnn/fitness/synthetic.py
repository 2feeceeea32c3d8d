"""``SyntheticEvaluator``: a cheap, deterministic stand-in for a trained supernet.

It turns a config into an accuracy and an energy by a closed-form function with a real
trade-off (bigger, longer-running, more spiking nets are more accurate and cost more),
so the search machinery (operators, resume, constraints, reports) can be exercised and
benchmarked in milliseconds. Not a model of any dataset.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

from autosnn.fitness.result import EvalResult
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["SyntheticEvaluator"]


class SyntheticEvaluator:
    """Implements the :class:`~autosnn.fitness.result.Evaluator` protocol.

    accuracy = 0.95 - 0.5 * exp(-capacity) - threshold and tau penalties, where capacity
    grows with depth, embed_dim, mlp_ratio and T; energy (mJ) grows with the MACs of a
    rough Spikformer count times a firing rate that falls with the threshold.

    ``delay`` sleeps per candidate (to make a run killable mid-generation), ``log`` appends
    every evaluated config id to a file, ``fail`` marks candidates as failed.
    """

    def __init__(self, space: SearchSpace, *, delay: float = 0.0, log: str | Path | None = None,
                 fail: Callable[[SubnetConfig], bool] | None = None) -> None:
        self.space = space
        self.delay = float(delay)
        self.log = Path(log) if log is not None else None
        self.fail = fail
        self.calls: list[list[str]] = []

    def metrics(self, cfg: SubnetConfig) -> tuple[float, float, int]:
        """(accuracy, energy_mj, params) of ``cfg``."""
        c = self.space.choices
        e_rel = cfg.embed_dim / max(c["embed_dim"])
        r_rel = sum(cfg.mlp_ratio) / (cfg.depth * max(c["mlp_ratio"]))
        t_rel = cfg.time_steps / max(c["time_steps"])
        capacity = 1.2 * cfg.depth * e_rel * (0.6 + 0.4 * r_rel) + 1.5 * t_rel
        th_pen = sum((v - 1.0) ** 2 for v in cfg.v_threshold) / cfg.depth
        tau_pen = sum(0.0 if t == 2.0 else 0.02 for t in cfg.tau) / cfg.depth
        heads_bonus = 0.005 * sum(h == max(c["num_heads"]) for h in cfg.num_heads) / cfg.depth
        acc = 0.95 - 0.5 * math.exp(-capacity) - 0.08 * th_pen - tau_pen + heads_bonus
        params = 0
        for b in range(cfg.depth):
            params += 4 * cfg.embed_dim ** 2 + 2 * cfg.embed_dim * cfg.hidden_dim(b)
        tokens = (cfg.image_size // cfg.patch_size) ** 2
        rate = sum(0.3 / v for v in cfg.v_threshold) / cfg.depth * sum(1.5 / t + 0.5 for t in cfg.tau) / cfg.depth
        energy = 1e-9 * cfg.time_steps * tokens * params * (0.9 * rate + 0.2)
        return max(0.0, min(1.0, acc)), energy, params

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        out = []
        self.calls.append([c.id for c in configs])
        for cfg in configs:
            if self.delay:
                time.sleep(self.delay)
            if self.fail is not None and self.fail(cfg):
                res = EvalResult.failed(cfg, "synthetic failure", worker="synthetic")
            else:
                acc, energy, params = self.metrics(cfg)
                res = EvalResult(config=cfg, accuracy=acc, energy_mj=energy, macs=energy * 1e9 / 4.6, acs=0.0,
                                 params=params, firing_rates={"blocks": 0.3}, seconds=self.delay, worker="synthetic")
            out.append(res)
            if self.log is not None:
                with open(self.log, "a") as fh:
                    fh.write(cfg.id + "\n")
        return out

    def close(self) -> None:
        pass
