"""``LocalEvaluator``: subnets of a trained supernet, scored in this process.

One evaluation sets the supernet to the candidate, optionally re-estimates its sliced
BatchNorm statistics on a few training batches (restored afterwards), and runs ONE pass
over the validation split with an :class:`~autosnn.fitness.energy.EnergyMeter` attached:
accuracy, energy (mean per validation image), MACs / ACs, per-layer table and firing
rates all come from that pass.

:func:`build_local_evaluator` builds the in-process evaluator a campaign asks for; :func:`default_target_mj`
is the energy of the space's largest subnet (F_AEB's default target).
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from autosnn.data.splits import DataSplits, to_device
from autosnn.device import autocast, autocast_dtype, evaluation_precision
from autosnn.fitness.energy import EnergyCosts, EnergyMeter, EnergyModel, EnergyReport, energy_model_from_config
from autosnn.fitness.result import EvalResult, Evaluator, InProcessEvaluator
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.recalibrate import RECALIBRATION_SEED, bn_recalibrated, recalibration_batches
from autosnn.supernet.supernet import SpikformerSupernet

__all__ = ["LocalEvaluator", "build_local_evaluator", "default_target_mj", "failure_reason", "is_out_of_memory",
           "RECALIBRATION_SEED"]

#: Shuffle seed of the training batches used for BN recalibration (fixed: deterministic).


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA (or other backend) out-of-memory error."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed evaluation."""
    kind = "out of memory" if is_out_of_memory(exc) else type(exc).__name__
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{kind}: {text}" if text and kind != text else kind


class LocalEvaluator(InProcessEvaluator):
    """Evaluates subnets of ``supernet`` on ``data.val`` in this process (the default evaluator).

    ``batch_size``: validation (and recalibration) batch size; ``bn_recalibration_batches``:
    training batches to re-estimate BatchNorm statistics on before each evaluation (0: use
    the supernet's shared statistics); ``max_val_batches``: evaluate on the first that many
    validation batches only (``None``: all); ``precision``: the autocast of the whole
    evaluation, recalibration included (``fp32``: none; ``bf16`` on the CPU too; see
    :func:`autosnn.device.autocast_dtype`). Deterministic: the same config on the same
    supernet gives the same result. A candidate that raises or gives non-finite outputs
    becomes ``EvalResult.failed``; the others are unaffected.
    """

    def __init__(self, supernet: SpikformerSupernet, data: DataSplits, *, costs: EnergyModel = EnergyCosts(),
                 batch_size: int = 256, device: torch.device | str = "cpu", bn_recalibration_batches: int = 0,
                 max_val_batches: int | None = None, worker: str = "local", precision: str = "fp32") -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        if bn_recalibration_batches < 0:
            raise ValueError(f"bn_recalibration_batches must be >= 0, got {bn_recalibration_batches}")
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device)
        self.space: SearchSpace = supernet.space
        self.data, self.costs, self.batch_size = data, costs, batch_size
        self.bn_recalibration_batches = bn_recalibration_batches
        self.max_val_batches = max_val_batches
        self.worker = worker
        self.precision = precision
        autocast_dtype(self.device, precision)   # refuse what cannot run here (fp16 on the CPU) at once

    # ------------------------------------------------------------- one candidate
    def evaluate_one(self, config: SubnetConfig) -> EvalResult:
        start = time.perf_counter()
        previous = self.supernet.config
        was_training = self.supernet.training
        try:
            return self._evaluate(config, start)
        except Exception as exc:  # one bad candidate must not stop a search
            if is_out_of_memory(exc) and self.device.type == "cuda":
                torch.cuda.empty_cache()
            return EvalResult.failed(config, failure_reason(exc), seconds=time.perf_counter() - start,
                                     worker=self.worker)
        finally:
            functional.reset_net(self.supernet)
            self.supernet.set_config(previous)
            self.supernet.train(was_training)

    @torch.no_grad()
    def _evaluate(self, config: SubnetConfig, start: float) -> EvalResult:
        net = self.supernet
        net.set_config(config)
        net.eval()
        data = self.data.for_time_steps(config.time_steps)   # event data: frames integrated at its own T
        batches = recalibration_batches(data, self.batch_size, self.bn_recalibration_batches, device=self.device)
        with autocast(self.device, self.precision), bn_recalibrated(net, batches, self.bn_recalibration_batches,
                                                                        self.device):
            val = data.loader("val", self.batch_size, device=self.device)
            correct, seen, report = accuracy_and_energy(net, val, self.device,
                                                        self.costs, self.max_val_batches)
        if seen == 0:
            raise ValueError("the validation split is empty")
        if not (math.isfinite(report.energy_mj) and math.isfinite(report.macs + report.acs)):
            raise FloatingPointError("non-finite energy")
        return EvalResult(
            config=config, accuracy=correct / seen, energy_mj=report.energy_mj, macs=report.macs, acs=report.acs,
            params=net.num_parameters(config), firing_rates=report.firing_rates, layers=report.layer_dicts(),
            seconds=time.perf_counter() - start, worker=self.worker,
        )


@torch.no_grad()
def accuracy_and_energy(model: nn.Module, loader: Iterable, device: torch.device, costs: EnergyModel,
                        max_batches: int | None = None, *, check_finite: bool = True) -> tuple[int, int, EnergyReport | None]:
    """One pass of ``model`` (in eval mode) over ``loader``: (correct, samples, energy
    report per sample, ``None`` when the loader was empty) under the energy model ``costs``
    (:class:`EnergyCosts` for sops, or ``SimpleCosts`` / ``LemaireCosts``). With
    ``check_finite``, non-finite outputs raise ``FloatingPointError``."""
    model.eval()
    correct, seen = 0, 0
    with EnergyMeter(model, costs) as meter:
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            logits = model(to_device(x, device, non_blocking=True))
            if check_finite and not torch.isfinite(logits).all():
                raise FloatingPointError("non-finite outputs on the validation split")
            correct += int((logits.argmax(1).cpu() == y).sum())
            seen += y.numel()
    return correct, seen, meter.report(samples=seen) if seen else None


def build_local_evaluator(campaign: Any, space: SearchSpace, supernet: SpikformerSupernet | None,
                          data: DataSplits, device: torch.device | str) -> Evaluator:
    """The in-process evaluator ``campaign`` asks for: the training-free scorer when
    ``fitness.mode == "training-free"`` (no supernet needed), else a :class:`LocalEvaluator`
    of ``supernet``. Choosing a Ray pool instead is the pipeline's business
    (:func:`autosnn.pipeline.build_evaluator`); a Ray worker builds this one."""
    fitness = campaign.fitness
    costs = energy_model_from_config(fitness.energy)
    if fitness.mode == "training-free":
        from autosnn.fitness.training_free import TrainingFreeEvaluator

        return TrainingFreeEvaluator(space, data, costs=costs, batch_size=campaign.data.batch_size,
                                     device=device, seed=campaign.seed)
    if supernet is None:
        raise ValueError("fitness.mode 'supernet' needs a trained supernet")
    return LocalEvaluator(supernet, data, costs=costs, batch_size=campaign.data.batch_size, device=device,
                          bn_recalibration_batches=fitness.bn_recalibration_batches,
                          max_val_batches=fitness.max_val_batches,
                          precision=evaluation_precision(campaign.supernet.precision))


def default_target_mj(evaluator: Evaluator, space: SearchSpace) -> float:
    """F_AEB's default target: the energy (mJ per inference) of ``space.largest()`` as
    ``evaluator`` measures it. Raises if that evaluation failed."""
    result = evaluator.evaluate([space.largest()])[0]
    if not result.ok or not (math.isfinite(result.energy_mj) and result.energy_mj > 0):
        raise RuntimeError(f"could not measure the energy of the largest subnet: {result.reason or result.energy_mj}")
    return float(result.energy_mj)
