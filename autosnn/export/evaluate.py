"""``evaluate_export``: accuracy and energy of an exported subnet on one split.

This is the only place in autosnn where the test split is used (besides the final
report of ``autosnn retrain``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from autosnn.campaign import Campaign
from autosnn.device import autocast, evaluation_precision
from autosnn.errors import CheckpointError, ConfigError
from autosnn.export.files import export_space, load_subnet, read_export

__all__ = ["evaluate_export", "export_campaign", "export_data", "measure", "open_split"]


def export_campaign(metrics: dict[str, Any], where: Path) -> Campaign:
    settings = metrics.get("campaign_config")
    if not isinstance(settings, dict):
        raise CheckpointError(f"{where}: metrics.json holds no campaign settings (campaign_config)")
    return Campaign.from_dict(settings, source=f"{where}/metrics.json campaign_config")


def export_data(export_dir: Path):
    """(subnet config, config.json, metrics.json, campaign, data splits) of an export; event
    data comes integrated at the subnet's own T."""
    from autosnn.supernet.commands import campaign_data

    cfg, config, metrics = read_export(export_dir)
    campaign = export_campaign(metrics, export_dir)
    space = export_space(config)
    if space is None:
        space = campaign.resolve_space()
    return cfg, config, metrics, campaign, campaign_data(campaign, space).for_time_steps(cfg.time_steps)


@torch.no_grad()
def measure(model: nn.Module, loader, device: torch.device, campaign: Campaign,
            max_batches: int | None = None, *, energy_model: str | None = None) -> dict[str, Any]:
    """Accuracy over ``loader`` and, from the same forward passes, energy per sample
    (mJ, all T steps), MACs and ACs (the evaluator's own measurement) under the campaign's
    energy model, or under ``energy_model`` (sops | simple | lemaire, with the campaign's
    costs for that model) when given; at the campaign's evaluation precision
    (:func:`autosnn.device.evaluation_precision`), as the search measured it."""
    from autosnn.fitness.energy import energy_model_from_config
    from autosnn.fitness.energy_models import ENERGY_MODELS
    from autosnn.fitness.evaluator import accuracy_and_energy

    section = campaign.fitness.energy
    if energy_model is not None:
        if energy_model not in ENERGY_MODELS:
            raise ConfigError(f"energy model must be one of {list(ENERGY_MODELS)}, got {energy_model!r}")
        section = dataclasses.replace(section, model=energy_model)
    costs = energy_model_from_config(section)
    precision = evaluation_precision(campaign.supernet.precision)
    if precision == "fp16" and device.type != "cuda":   # an fp16 campaign's export evaluated on a CPU: fp32 there
        precision = "fp32"
    with autocast(device, precision):
        correct, total, report = accuracy_and_energy(model, loader, device, costs, max_batches, check_finite=False)
    out: dict[str, Any] = {"accuracy": correct / max(1, total), "samples": total,
                           "energy_mj": None, "macs": None, "acs": None,
                           "energy_model": costs.name, "energy_params": costs.params()}
    if report is not None:
        out.update(energy_mj=float(report.energy_mj), macs=float(report.macs), acs=float(report.acs),
                   energy_components_mj={k: float(v) for k, v in report.components_mj.items()})
    return out


def open_split(export_dir: str | Path, split: str, *, device: str | torch.device | None = None,
               retrained: bool = False, batch_size: int | None = None) -> tuple:
    """What evaluating an export on ``split`` needs: ``(model, device, config, campaign,
    data, batch_size, cap)``, the batch size the recorded evaluation used (unless given)
    and, on ``val``, the campaign's ``max_val_batches`` cap (``None`` on ``test``)."""
    if split not in ("val", "test"):
        raise ConfigError(f"split must be 'val' or 'test', got {split!r}")
    export_dir = Path(export_dir)
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = load_subnet(export_dir, device, retrained=retrained)
    _, config, metrics, campaign, data = export_data(export_dir)
    evaluation = metrics.get("evaluation") or {}
    bs = batch_size or int(evaluation.get("batch_size") or campaign.data.batch_size)
    cap = evaluation.get("max_val_batches") if split == "val" else None
    return model, device, config, campaign, data, bs, cap


def evaluate_export(export_dir: str | Path, split: str = "val", *, device: str | torch.device | None = None,
                    retrained: bool = False, batch_size: int | None = None,
                    energy_model: str | None = None) -> dict[str, Any]:
    """Accuracy (a fraction) and energy (mJ per sample, all T steps) of an export on
    ``split`` (``val`` or ``test``). On ``val`` the campaign's ``max_val_batches`` cap
    applies, as it did for the recorded evaluation. ``energy_model`` (sops | simple |
    lemaire) prices the pass under another model than the campaign's."""
    run = open_split(export_dir, split, device=device, retrained=retrained, batch_size=batch_size)
    model, device, config, campaign, data, bs, cap = run
    result = measure(model, data.loader(split, bs, device=device), device, campaign, max_batches=cap, energy_model=energy_model)
    result.update({"id": config.get("id"), "split": split, "weights": "retrained" if retrained else "inherited"})
    return result
