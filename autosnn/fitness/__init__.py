"""Fitness: the energy model, F_AEB, the evaluators (supernet and training-free).

* :func:`measure_energy` / :class:`EnergyMeter`: MACs, ACs and energy (mJ per sample over
  all T steps) counted inside the ordinary forward pass, by spikingjelly's rules, under the
  ``sops`` model (:class:`EnergyCosts`) or spikingjelly's ``simple`` / ``lemaire``
  estimators (:class:`SimpleCosts`, :class:`LemaireCosts`);
* :func:`f_aeb`: the accuracy-energy-balanced fitness (this project's definition);
* :class:`LocalEvaluator`: subnets of a trained supernet on the validation split;
  :class:`TrainingFreeEvaluator`: FLOPs proxy + energy at initialisation (AutoST);
  :func:`build_local_evaluator` picks one from a campaign.
"""

from autosnn.fitness.aeb import f_aeb
from autosnn.fitness.energy import EnergyCosts, EnergyMeter, EnergyReport, LayerEnergy, measure_energy
from autosnn.fitness.energy_models import LemaireCosts, SimpleCosts
from autosnn.fitness.evaluator import LocalEvaluator, build_local_evaluator, default_target_mj
from autosnn.fitness.flops import ann_macs
from autosnn.fitness.result import EvalResult, Evaluator
from autosnn.fitness.training_free import TrainingFreeEvaluator, flops_proxy

__all__ = [
    "EnergyCosts", "SimpleCosts", "LemaireCosts", "EnergyReport", "EnergyMeter", "LayerEnergy", "measure_energy", "f_aeb",
    "LocalEvaluator", "TrainingFreeEvaluator", "build_local_evaluator", "default_target_mj",
    "EvalResult", "Evaluator", "ann_macs", "flops_proxy",
]
