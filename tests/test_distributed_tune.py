"""``tune_retrain``: a Ray Tune (ASHA) sweep over fine-tuning an export keeps the best
trial's weights in the export folder, and those weights score what the sweep reported."""

from __future__ import annotations

import json

import pytest
import torch

import ray  # noqa: F401  (a required dependency)

from autosnn import Spikformer
from autosnn.campaign import Campaign
from autosnn.distributed import tune_retrain
from autosnn.export.evaluate import export_data, measure
from autosnn.export.files import load_weights, write_export


def test_tune_retrain_keeps_best_trial(tmp_path, firing):
    campaign = Campaign.from_dict({"space": "digits-tiny", "data": {"name": "digits", "batch_size": 64}})
    space = campaign.resolve_space()
    torch.manual_seed(0)
    model = firing(Spikformer(space.smallest()), seed=2)
    export = write_export(tmp_path / "exp", model, space, {"campaign_config": campaign.to_dict()})
    cfg, _, _, _, data = export_data(export)
    before = measure(model, data.loader("val", 64), torch.device("cpu"), campaign)["accuracy"]

    result = tune_retrain(export, num_samples=2, max_epochs=2, init_kwargs={"num_cpus": 2})

    assert (export / "tune" / "best.safetensors").is_file()
    saved = json.loads((export / "tune" / "result.json").read_text())
    assert saved["best"] == result["best"] and len(saved["trials"]) == 2
    assert all(t["error"] is None and 1 <= t["epochs_run"] <= 2 for t in result["trials"])
    best = result["best"]
    assert 1e-4 <= best["lr"] <= 1e-2 and 1e-3 <= best["weight_decay"] <= 0.1 and 1 <= best["epochs"] <= 2
    # the kept checkpoint is the best epoch of the best trial ...
    assert best["val_accuracy"] == max(t["best_val_accuracy"] for t in result["trials"])
    # ... and the saved weights reproduce that validation accuracy exactly
    tensors, meta = load_weights(export / "tune" / "best.safetensors")
    tuned = Spikformer(cfg)
    tuned.load_state_dict(tensors)
    acc = measure(tuned.eval(), data.loader("val", 64), torch.device("cpu"), campaign)["accuracy"]
    assert acc == result["val_accuracy"] == best["val_accuracy"]
    assert meta["tuned"] == "true"
    assert acc > before                               # fine-tuning did something
    import ray

    assert not ray.is_initialized()                   # the Ray it started is stopped again
