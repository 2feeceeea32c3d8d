"""Shared test settings: one torch thread (CI has 2 cores), deterministic seeds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from autosnn.campaign import (Campaign, DataConfig, EnergyConfig, FitnessConfig, SearchConfig,
                              SupernetTrainingConfig)
from autosnn.cli import main
from autosnn.fitness.result import EvalResult
from autosnn.run_folder import RunFolder

torch.set_num_threads(int(os.environ.get("AUTOSNN_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def space():
    """The digits-tiny space (test modules may define their own ``space``)."""
    from autosnn.search_spaces import SearchSpace

    return SearchSpace.builtin("digits-tiny")


@pytest.fixture(scope="session")
def data():
    """The embedded digits at the digits-tiny input size (16x16)."""
    from autosnn.data import load_data

    return load_data("digits", image_size=16)


@pytest.fixture(scope="session")
def firing():
    """Make a model's neurons fire in eval mode: random BatchNorm affine and statistics
    (at initialisation almost nothing spikes, which proves nothing)."""

    def apply(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
        g = torch.Generator().manual_seed(seed)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.data = torch.rand(n, generator=g) * 2 + 0.5
                m.bias.data = torch.randn(n, generator=g) * 0.5 + 0.3
                m.running_mean.data = torch.randn(n, generator=g) * 0.01
                m.running_var.data = torch.rand(n, generator=g) * 0.01 + 0.005
        return model.eval()

    return apply


#: A campaign small enough to run end to end in seconds (CLI and validation tests).
TINY_CAMPAIGN = """name: tiny
seed: 0
space: digits-tiny
data: {name: digits, batch_size: 64}
supernet: {epochs: 1}
fitness: {max_val_batches: 2}
search: {population: 4, generations: 2}
"""


def excited_supernet(space_name: str, batch: int):
    """``(space, supernet, x)``: a seeded supernet of the built-in ``space_name`` in eval
    mode whose neurons fire on the seeded input ``x`` (``[batch, C, H, W]``)."""
    from autosnn.fitness.sj_reference import excite
    from autosnn.search_spaces import SearchSpace
    from autosnn.supernet import SpikformerSupernet

    space = SearchSpace.builtin(space_name)
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    x = torch.randn(batch, space.in_channels, space.image_size, space.image_size,
                    generator=torch.Generator().manual_seed(1))
    excite(net, x, seed=2)
    return space, net, x


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Bit-identical state dicts."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def kill_after_first_checkpoint(train, ckpt: Path, monkeypatch) -> None:
    """Run ``train()`` (a supernet training writing ``ckpt``) as if killed right after its
    first checkpoint was written, and check that checkpoint holds epoch 1."""
    import pytest

    from autosnn.supernet import training

    real_save = training.save_checkpoint

    def save_then_die(obj, path):
        real_save(obj, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train()
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1


_RUN: dict[str, Path] = {}


def build_tiny_run(root: Path, energy_model: str = "sops") -> Path:
    """A run folder: a 3-epoch digits-tiny supernet, 8 real evaluations over 3 generations
    (the largest subnet among them) and one failed row, and a history.csv; priced by the
    campaign's own evaluator under ``energy_model`` (``fitness.energy.model``)."""
    from autosnn.fitness import build_local_evaluator
    from autosnn.supernet.commands import campaign_data
    from autosnn.supernet.training import train_supernet

    campaign = Campaign(name="tiny", seed=0, space="digits-tiny", data=DataConfig(batch_size=32),
                        supernet=SupernetTrainingConfig(epochs=3, warmup_epochs=0, precision="fp32", lr=3e-3),
                        search=SearchConfig(population=4, generations=3),
                        fitness=FitnessConfig(energy=EnergyConfig(model=energy_model)))
    folder = RunFolder(root)
    folder.prepare(campaign)
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    cpu = torch.device("cpu")
    supernet = train_supernet(space, data, campaign.supernet, batch_size=32, seed=0, checkpoint=folder.supernet,
                              device=cpu, progress=False, log=lambda s: None)
    rng = np.random.default_rng(1)
    configs = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(6)]
    evaluator = build_local_evaluator(campaign, space, supernet, data, cpu)
    rows = []
    for i, result in enumerate(evaluator.evaluate(configs)):
        row = result.to_row()
        row.update(genome=json.dumps(space.encode(result.config).tolist()), generation=i // 3, f_aeb=float("nan"))
        rows.append(row)
    bad = EvalResult.failed(space.sample(np.random.default_rng(99)), "worker died twice").to_row()
    bad.update(genome="[]", generation=2, f_aeb=float("nan"))
    rows.append(bad)
    pd.DataFrame(rows).to_parquet(folder.evaluations, index=False)
    pd.DataFrame({"generation": [0, 1, 2], "evaluations": [3, 6, 9], "hypervolume": [0.01, 0.02, 0.025]}).to_csv(
        folder.history_csv, index=False)
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Built once per session, shared by the report and export tests."""
    if "run" not in _RUN:
        _RUN["run"] = build_tiny_run(tmp_path_factory.mktemp("tiny") / "run")
    return _RUN["run"]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``autosnn ARGS`` in process: (exit status, stdout, stderr)."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
