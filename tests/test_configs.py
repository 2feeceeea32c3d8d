"""Every campaign file in configs/ loads, resolves its space and fits its data set; the
CIFAR-10 one runs end to end (tiny overrides) on a fake CIFAR-10 folder in torchvision's
python format, read through the real loader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autosnn.campaign import Campaign
from conftest import run_cli

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
#: data set -> (input channels, classes)
DATA = {"digits": (1, 10), "mnist5k": (1, 10), "cifar10": (3, 10), "cifar100": (3, 100), "cifar10-dvs": (2, 10),
        "dvs128-gesture": (2, 11)}


def test_the_real_data_sets_have_campaign_files():
    names = {p.stem for p in CONFIGS}
    assert {"demo", "cluster", "cifar10", "cifar100", "cifar10-dvs", "dvs128-gesture"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_resolves_its_space_and_fits_its_data(path):
    campaign = Campaign.from_yaml(path)
    space = campaign.resolve_space()
    assert (space.in_channels, space.num_classes) == DATA[campaign.data.name]
    assert Campaign.from_dict(yaml.safe_load(campaign.to_yaml())) == campaign   # the resolved file reads back
    if campaign.data.name in ("cifar10", "cifar100", "cifar10-dvs", "dvs128-gesture"):  # GPU-ready
        assert campaign.evaluator.kind == "ray" and campaign.evaluator.gpus_per_worker > 0
        assert campaign.evaluator.timeout_s is not None and campaign.supernet.precision == "auto"
        assert campaign.supernet.epochs >= 100 and campaign.search.population >= 50


@pytest.mark.slow
def test_cifar10_config_runs_end_to_end_on_a_fake_cifar10(tmp_path, monkeypatch, capsys):
    from autosnn.data import cifar_files
    from autosnn.data.fake_cifar import write_fake_cifar

    root = tmp_path / "data"   # random images in the real format, checked against their own md5s
    monkeypatch.setitem(cifar_files.CHECKSUMS, "cifar10", write_fake_cifar(root, train_per_class=15, test_per_class=2))
    settings = yaml.safe_load(Path(CONFIGS[0].parent / "cifar10.yaml").read_text())
    # the same campaign, shrunk: a CIFAR-shaped space small enough for a CPU, 1 epoch, 4 x 2 candidates
    space = {"name": "cifar-tiny", "fixed": {"in_channels": 3, "image_size": 32, "num_classes": 10, "patch_size": 4},
             "dimensions": {"depth": [1, 2], "embed_dim": [16, 32], "time_steps": [1, 2], "num_heads": [2],
                            "mlp_ratio": [2.0], "v_threshold": [0.6, 1.0], "tau": [2.0]}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    settings["space"] = str(tmp_path / "space.yaml")
    settings["data"].update(root=str(root), batch_size=16, num_workers=0)
    settings["supernet"].update(epochs=1, warmup_epochs=0)
    settings["search"].update(population=4, generations=2)
    settings["evaluator"] = {"kind": "local"}   # the Ray evaluator has its own tests (test_distributed_*)
    config = tmp_path / "cifar10.yaml"
    config.write_text(yaml.safe_dump(settings))

    code, out, err = run_cli(["run", str(config), "--out", str(tmp_path / "run"), "--device", "cpu",
                              "--no-progress"], capsys)
    assert code == 0, err
    run = tmp_path / "run"
    saved = Campaign.from_yaml(run / "campaign.yaml")
    assert saved.data.name == "cifar10" and saved.supernet.lr == 5.0e-4 and saved.supernet.weight_decay == 0.06
    rows = pd.read_parquet(run / "evaluations.parquet")
    assert len(rows) >= 5 and (rows["status"] == "ok").all()
    assert rows["accuracy"].between(0, 1).all() and (rows["energy_mj"] > 0).all()
    # the validation split is 10 % of the 150 training images (stratified)
    from autosnn.data import load_data

    data = load_data("cifar10", root=str(root), image_size=32, in_channels=3)
    assert (len(data.train), len(data.val), len(data.test)) == (135, 15, 20)
    assert data.val[0][0].shape == (3, 32, 32)
    exports = list((run / "exports").iterdir())
    assert len(exports) == 1 and json.loads((exports[0] / "config.json").read_text())
