import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import kill_after_first_checkpoint, same_weights

from autosnn import SearchSpace
from autosnn.campaign import Campaign, SupernetTrainingConfig
from autosnn.cli import main
from autosnn.errors import CheckpointError
from autosnn.supernet.training import load_supernet, train_supernet

SPACE = SearchSpace.builtin("digits-tiny")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits(data):
    return data


def _train(digits, ckpt, epochs=2, sampling="uniform", seed=0):
    cfg = SupernetTrainingConfig(epochs=epochs, lr=2e-3, warmup_epochs=1, sampling=sampling)
    return train_supernet(SPACE, digits, cfg, batch_size=256, seed=seed, checkpoint=ckpt, device=CPU, progress=False,
                          log=lambda s: None)



def test_same_seed_same_weights_and_other_seed_differs(digits):
    a, b = _train(digits, None), _train(digits, None)
    assert same_weights(a, b)
    assert not same_weights(a, _train(digits, None, seed=1))


def test_resume_after_interruption_gives_the_same_weights(digits, tmp_path, monkeypatch):
    straight = _train(digits, tmp_path / "a.pt", sampling="sandwich")
    kill_after_first_checkpoint(lambda: _train(digits, tmp_path / "b.pt", sampling="sandwich"), tmp_path / "b.pt",
                                monkeypatch)
    resumed = _train(digits, tmp_path / "b.pt", sampling="sandwich")
    assert same_weights(straight, resumed)
    # a finished checkpoint is reused as is
    again = _train(digits, tmp_path / "b.pt", sampling="sandwich")
    assert same_weights(straight, again)


def test_checkpoint_of_another_space_is_refused(digits, tmp_path):
    _train(digits, tmp_path / "s.pt", epochs=1)
    with pytest.raises(CheckpointError, match="trained for space 'digits-tiny'"):
        load_supernet(tmp_path / "s.pt", SearchSpace.builtin("spikformer-cifar10"))
    (tmp_path / "t.pt").write_bytes((tmp_path / "s.pt").read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_supernet(tmp_path / "t.pt")


# ----------------------------------------------------------------------------- the command
def _campaign(tmp_path, **over) -> Path:
    c = Campaign.from_dict({"name": "t", "supernet": {"epochs": 1, "warmup_epochs": 0}, "data": {"batch_size": 256}})
    text = c.to_yaml()
    for k, v in over.items():
        text = text.replace(k, v)
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    cfg = _campaign(tmp)
    out = tmp / "run"
    assert main(["train-supernet", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return cfg, out


def test_train_supernet_writes_resolved_campaign_and_checkpoint(trained_run):
    cfg, out = trained_run
    resolved = Campaign.from_yaml(out / "campaign.yaml")
    assert resolved.supernet.epochs == 1 and resolved.fitness.aeb.alpha == 0.07  # defaults written out
    assert torch.load(out / "supernet.pt", weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("seed: 0", "seed: [0"), "not valid YAML"),
    (lambda t: t.replace("seed: 0", "seed: 0\ncolour: red"), "unknown key 'colour'"),
    (lambda t: t.replace("lr: 0.001", "lr: fast"), "supernet.lr must be a number"),
    (lambda t: t.replace("space: digits-tiny", "space: nowhere.yaml"), "search space file not found"),
    (lambda t: t.replace("name: digits", "name: cifar10").replace("root: null", "root: /nonexistent")
     .replace("space: digits-tiny", "space: spikformer-cifar10"), "not found: expected /nonexistent"),
    (lambda t: t.replace("epochs: 1", "epochs: 2"), "made by another campaign (supernet.epochs"),
])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(trained_run, tmp_path, capsys, edit, message):
    cfg, out = trained_run
    before = _digest(out)
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(cfg.read_text()))
    capsys.readouterr()
    assert main(["train-supernet", str(bad), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("autosnn: error:")
    assert _digest(out) == before


def test_checkpoint_of_another_space_in_the_run_folder(trained_run, tmp_path, capsys):
    cfg, out = trained_run
    other = tmp_path / "other"
    other.mkdir()
    (other / "campaign.yaml").write_text((out / "campaign.yaml").read_text())
    foreign = torch.load(out / "supernet.pt", weights_only=True)
    import json
    space = json.loads(foreign["space"])
    space["dimensions"]["embed_dim"] = [32, 48]
    foreign["space"] = json.dumps(space)
    torch.save(foreign, other / "supernet.pt")
    before = _digest(other)
    assert main(["train-supernet", str(cfg), "--out", str(other), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained for space" in err and len(err.splitlines()) == 1
    assert _digest(other) == before


def test_real_process_exit_status_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsupernet: {epochs: -1}\n")
    r = subprocess.run([sys.executable, "-m", "autosnn.cli", "train-supernet", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"autosnn: error: {bad}: supernet.epochs must be an integer >= 1, got -1"
