"""Standalone subnets: export from a run, load, evaluate, retrain (safetensors + JSON only)."""

from autosnn.export.evaluate import evaluate_export
from autosnn.export.files import export_subnet, load_subnet
from autosnn.export.neurobench import neurobench_export
from autosnn.export.retrain import retrain_export

__all__ = ["export_subnet", "load_subnet", "evaluate_export", "neurobench_export", "retrain_export"]
