"""``retrain_export``: fine-tune an exported subnet (or train it from scratch) with the
campaign's supernet training recipe; resumable, atomic checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from autosnn.atomic import write_json
from autosnn.checkpoint import load_checkpoint
from autosnn.device import autocast_dtype
from autosnn.errors import CheckpointError, ConfigError
from autosnn.export.evaluate import export_data, measure
from autosnn.export.files import (EXPORT_KIND, METRICS_FILE, RETRAIN_CHECKPOINT, RETRAINED_FILE, load_subnet, read_export,
                                  save_weights)

__all__ = ["retrain_export", "RETRAIN_CHECKPOINT", "RETRAIN_KIND"]

RETRAIN_KIND = "autosnn-retrain"


def retrain_export(export_dir: str | Path, epochs: int | None = None, from_scratch: bool = False, *,
                   device: str | torch.device | None = None, progress: bool = True) -> dict[str, Any]:
    """Train the exported subnet for ``epochs`` (default: the campaign's supernet epochs)
    from its inherited weights, or from a fresh initialisation with ``from_scratch``.

    Writes ``retrain.pt`` after every epoch (run again to resume, on this or another
    device: it is read on the CPU and holds the RNG and loss-scaler states), then
    ``model-retrained.safetensors``, and adds a ``retrained`` section (test accuracy and
    energy of the retrained model, beside the inherited model's) to ``metrics.json``.
    Returns that section.
    """
    from autosnn.supernet.spikformer import Spikformer
    from autosnn.supernet.training import fit

    export_dir = Path(export_dir)
    if epochs is not None and epochs <= 0:
        raise ConfigError(f"--epochs must be > 0, got {epochs}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cfg, config, metrics, campaign, data = export_data(export_dir)
    autocast_dtype(dev, campaign.supernet.precision)   # fp16 on the CPU: refused before anything runs
    recipe = dataclasses.replace(campaign.supernet, epochs=epochs or campaign.supernet.epochs)
    batch_size = campaign.data.batch_size
    ckpt_path = export_dir / RETRAIN_CHECKPOINT
    extra = {"export_id": str(config["id"]), "from_scratch": bool(from_scratch), "epochs_planned": recipe.epochs,
             "space_fingerprint": str(config.get("space_fingerprint")),
             "supernet_sha256": str(metrics.get("supernet_sha256"))}
    if ckpt_path.exists():
        old = load_checkpoint(ckpt_path, kind=RETRAIN_KIND)
        for key, value in extra.items():
            if old.get(key) != value:
                raise CheckpointError(f"{ckpt_path}: a retraining with {key}={old.get(key)!r} is in progress, not "
                                      f"{value!r}; delete it to start over")

    inherited = load_subnet(export_dir, dev)
    inherited_test = metrics.get("inherited_test")
    if not isinstance(inherited_test, dict):
        inherited_test = _measured(measure(inherited, data.loader("test", batch_size, device=dev), dev, campaign))
    if from_scratch:
        torch.manual_seed(campaign.seed)
        model = Spikformer(cfg).to(dev)
    else:
        model = inherited
    model = fit(model, data, recipe, batch_size=batch_size, seed=campaign.seed, device=dev, checkpoint=ckpt_path,
                progress=progress, kind=RETRAIN_KIND, extra=extra)
    model.eval()
    save_weights(model, export_dir / RETRAINED_FILE, {"kind": EXPORT_KIND, "id": str(config["id"]),
                                                      "space_fingerprint": str(config.get("space_fingerprint")),
                                                      "arch": str(cfg), "retrained": "true"})
    test = _measured(measure(model, data.loader("test", batch_size, device=dev), dev, campaign))
    val = _measured(measure(model, data.loader("val", batch_size, device=dev), dev, campaign))
    section = {
        "epochs": recipe.epochs, "from_scratch": bool(from_scratch), "recipe": dataclasses.asdict(recipe),
        "test_accuracy": test["accuracy"], "test_energy_mj": test["energy_mj"], "test_macs": test["macs"],
        "test_acs": test["acs"], "val_accuracy": val["accuracy"], "val_energy_mj": val["energy_mj"],
        "weights": RETRAINED_FILE,
    }
    _, _, metrics = read_export(export_dir)  # re-read: keep whatever else was written meanwhile
    metrics["inherited_test"] = inherited_test
    metrics["retrained"] = section
    write_json(export_dir / METRICS_FILE, metrics)
    return section | {"inherited_test_accuracy": inherited_test["accuracy"],
                      "inherited_test_energy_mj": inherited_test["energy_mj"]}


def _measured(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in ("accuracy", "energy_mj", "macs", "acs", "samples")}
