"""The training-free scorer (after AutoST): no supernet, no training.

* performance proxy: the subnet's ANN-equivalent multiply-accumulates
  (:func:`~autosnn.fitness.flops.ann_macs`, every conv, linear and attention matmul over
  T steps), reported as a fraction of the space's largest subnet's, so ``score`` lies in
  (0, 1] and ranks like FLOPs;
* energy: the subnet built from its config with seeded random weights
  (:class:`~autosnn.supernet.spikformer.Spikformer`'s initialisation) runs ONE fixed batch
  of real training images through :class:`~autosnn.fitness.energy.EnergyMeter`; its
  activation pattern at initialisation gives MACs, ACs, firing rates and energy.

BatchNorm uses the batch's own statistics in that forward (training-mode BatchNorm, on a
throw-away model): at initialisation the running statistics are the identity and with
weights of std 0.02 almost no neuron would reach threshold, so every candidate would look
alike. With batch statistics each pre-activation is standardised and the firing rates
reflect the candidate's thresholds, time constants, T and widths.

Results carry ``score`` (what the search maximises) and ``accuracy = NaN``.
"""

from __future__ import annotations

import math
import time

import torch

from autosnn.data.splits import DataSplits, to_device
from autosnn.fitness.energy import EnergyCosts, EnergyMeter
from autosnn.fitness.evaluator import is_out_of_memory, failure_reason
from autosnn.fitness.flops import ann_macs
from autosnn.fitness.result import EvalResult, InProcessEvaluator
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.spikformer import Spikformer
from autosnn.supernet.supernet import subnet_num_parameters

__all__ = ["TrainingFreeEvaluator", "flops_proxy"]


def flops_proxy(config: SubnetConfig, space: SearchSpace) -> float:
    """The performance proxy: ``ann_macs(config) / ann_macs(space.largest())``."""
    return ann_macs(config) / ann_macs(space.largest())


class TrainingFreeEvaluator(InProcessEvaluator):
    """Scores subnets of ``space`` at initialisation (``fitness.mode: training-free``).

    ``batch_size`` training images (drawn once, shuffled with ``seed``) feed every
    candidate; every candidate's weights are initialised from ``seed``. Deterministic.
    """

    def __init__(self, space: SearchSpace, data: DataSplits, *, costs: EnergyCosts = EnergyCosts(),
                 batch_size: int = 64, device: torch.device | str = "cpu", seed: int = 0,
                 worker: str = "local") -> None:
        self.space, self.costs, self.seed, self.worker = space, costs, seed, worker
        self.device = torch.device(device)
        x, _ = next(iter(data.loader("train", batch_size, shuffle=True, seed=seed, device=self.device)))
        self.batch = to_device(x, self.device)   # event data at several T: {T: frames}, each model takes its own

    def evaluate_one(self, config: SubnetConfig) -> EvalResult:
        start = time.perf_counter()
        try:
            config = self.space.validate(config)
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(self.seed)
                model = Spikformer(config).to(self.device)
            model.train()  # BatchNorm on batch statistics; nothing is updated that outlives this call
            with torch.no_grad(), EnergyMeter(model, self.costs) as meter:
                logits = model(self.batch)
            report = meter.report()
            if not (torch.isfinite(logits).all() and math.isfinite(report.energy_mj)):
                raise FloatingPointError("non-finite outputs at initialisation")
            return EvalResult(
                config=config, accuracy=float("nan"), energy_mj=report.energy_mj, macs=report.macs, acs=report.acs,
                params=subnet_num_parameters(config), firing_rates=report.firing_rates, layers=report.layer_dicts(),
                seconds=time.perf_counter() - start, worker=self.worker, score=flops_proxy(config, self.space),
            )
        except Exception as exc:
            if is_out_of_memory(exc) and self.device.type == "cuda":
                torch.cuda.empty_cache()
            return EvalResult.failed(config, failure_reason(exc), seconds=time.perf_counter() - start,
                                     worker=self.worker)
