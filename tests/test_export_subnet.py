"""Export, load, evaluate, retrain, and safe loading (issue 6)."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest
import torch

from autosnn.checkpoint import load_checkpoint
from autosnn.errors import CheckpointError, RunDirError
from autosnn.export import evaluate_export, export_subnet, load_subnet, retrain_export
from autosnn.export.files import MODEL_FILE, RETRAINED_FILE, load_weights, write_export
from autosnn.report import summarize
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import Spikformer, SpikformerSupernet
from conftest import run_cli


class _Evil:
    """Unpickling this creates ``path``: the payload a malicious checkpoint would carry."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _evil_checkpoint(path: pathlib.Path, marker: pathlib.Path, kind: str = "autosnn-supernet") -> pathlib.Path:
    torch.save({"kind": kind, "model": _Evil(marker)}, path)
    return path


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "aeb"
    return export_subnet(tiny_run, "aeb", out=out)


def test_export_writes_the_three_files(tiny_run, exported):
    s = summarize(tiny_run)
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    config = json.loads((exported / "config.json").read_text())
    metrics = json.loads((exported / "metrics.json").read_text())
    assert config["id"] == s.pick and config["space"] == "digits-tiny"
    assert config["fixed"] == {"in_channels": 1, "image_size": 16, "num_classes": 10, "patch_size": 4}
    row = s.row(s.pick)
    assert config["config"] == json.loads(row["config"])
    assert metrics["campaign"] == "tiny" and metrics["seed"] == 0
    import hashlib
    assert metrics["supernet_sha256"] == hashlib.sha256((tiny_run / "supernet.pt").read_bytes()).hexdigest()
    assert metrics["recorded"]["accuracy"] == pytest.approx(float(row["accuracy"]))
    assert metrics["recorded"]["energy_mj"] == pytest.approx(float(row["energy_mj"]))
    assert isinstance(metrics["recorded"]["layers"], list) and "genome" not in metrics["recorded"]


def test_load_and_reevaluate_gives_recorded_accuracy(exported):
    metrics = json.loads((exported / "metrics.json").read_text())
    model = load_subnet(exported)
    assert isinstance(model, Spikformer) and not model.training
    assert next(model.parameters()).device.type == "cpu"
    r = evaluate_export(exported, "val")
    assert r["samples"] == 360
    assert r["accuracy"] == metrics["recorded"]["accuracy"]  # exactly: same images, same function
    assert r["energy_mj"] == pytest.approx(metrics["recorded"]["energy_mj"], rel=1e-6)
    assert r["macs"] == pytest.approx(metrics["recorded"]["macs"], rel=1e-6)


def test_export_knee_and_id_and_default_folder(tiny_run, tmp_path):
    s = summarize(tiny_run)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    d = export_subnet(run, "knee")
    assert d == run / "exports" / s.knee
    prefix = s.front["id"].iloc[-1][:6]
    d2 = export_subnet(run, prefix)
    assert d2.name == s.front["id"].iloc[-1]
    # energy_max restricts the pick to cheaper candidates
    cheapest = s.front.sort_values("energy_mj")["energy_mj"].iloc[0]
    d3 = export_subnet(run, "aeb", energy_max=float(cheapest))
    assert json.loads((d3 / "metrics.json").read_text())["recorded"]["energy_mj"] <= cheapest
    with pytest.raises(RunDirError, match="no candidate 'zzzz'"):
        export_subnet(run, "zzzz")
    failed = s.evaluations[s.evaluations["status"] == "failed"]["id"].iloc[0]
    with pytest.raises(RunDirError, match="failed to evaluate"):
        export_subnet(run, failed)
    with pytest.raises(RunDirError, match="another export"):
        export_subnet(run, "knee", out=d2)


def test_cifar_4_384_export_has_9310906_parameters(tmp_path):
    space = SearchSpace.builtin("spikformer-cifar10")
    cfg = space.config(depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0)
    torch.manual_seed(0)
    model = SpikformerSupernet(space).extract(cfg).eval()
    write_export(tmp_path / "c10", model, space)
    loaded = load_subnet(tmp_path / "c10")
    assert loaded.num_parameters() == 9_310_906
    assert loaded.config == cfg
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_crafted_pickle_is_never_run(tiny_run, exported, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    # the payload is real: a plain unpickling runs it
    probe = _evil_checkpoint(tmp_path / "probe.pt", tmp_path / "probe-marker")
    torch.load(probe, weights_only=False)
    assert (tmp_path / "probe-marker").exists()

    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil, kind="autosnn-supernet")
    # as an export's weights
    d = tmp_path / "export"
    shutil.copytree(exported, d)
    shutil.copy(evil, d / MODEL_FILE)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_subnet(d)
    # as a run's supernet.pt, through the CLI: one line, exit status 2
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copy(evil, run / "supernet.pt")
    code, out, err = run_cli(["export", str(run)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refused" in err
    # as a retraining checkpoint
    d2 = tmp_path / "export2"
    shutil.copytree(exported, d2)
    _evil_checkpoint(d2 / "retrain.pt", marker, kind="autosnn-retrain")
    code, out, err = run_cli(["retrain", str(d2), "--epochs", "1", "--no-progress"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refused" in err
    assert not marker.exists()


def test_truncated_and_foreign_weights_are_refused(tiny_run, exported, tmp_path, capsys):
    d = tmp_path / "trunc"
    shutil.copytree(exported, d)
    data = (d / MODEL_FILE).read_bytes()
    (d / MODEL_FILE).write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(["evaluate", str(d)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a valid safetensors file" in err

    # weights of another subnet of the same space
    s = summarize(tiny_run)
    other = export_subnet(tiny_run, s.front["id"].iloc[-1], out=tmp_path / "other")
    d2 = tmp_path / "swapped"
    shutil.copytree(exported, d2)
    shutil.copy(other / MODEL_FILE, d2 / MODEL_FILE)
    with pytest.raises(CheckpointError, match="another subnet"):
        load_subnet(d2)

    # a supernet of another space in the run folder
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    from autosnn.checkpoint import save_checkpoint
    cifar = SearchSpace.builtin("spikformer-cifar10")
    save_checkpoint({"kind": "autosnn-supernet", "model": {}, "space": json.dumps(cifar.to_dict())}, run / "supernet.pt")
    code, out, err = run_cli(["export", str(run)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not for 'digits-tiny'" in err

    # a truncated supernet.pt
    (run / "supernet.pt").write_bytes((tiny_run / "supernet.pt").read_bytes()[:5000])
    code, out, err = run_cli(["export", str(run)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "truncated" in err


@pytest.mark.parametrize("args, needle", [
    (["export", "/nonexistent/run"], "not a run folder"),
    (["export", "{run}", "--pick", "nope"], "no candidate 'nope'"),
    (["export", "{run}", "--energy-max", "0"], "no successful evaluation"),
    (["evaluate", "/nonexistent/export"], "export folder not found"),
    (["evaluate", "{run}"], "not an autosnn export"),
    (["retrain", "{run}", "--epochs", "1"], "not an autosnn export"),
])
def test_cli_bad_inputs_one_line(tiny_run, args, needle, capsys):
    code, out, err = run_cli([a.replace("{run}", str(tiny_run)) for a in args], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and needle in err, err


def test_cli_export_evaluate_test_and_retrain(tiny_run, tmp_path, capsys):
    s = summarize(tiny_run)
    smallest = s.front.sort_values("params")["id"].iloc[0]  # the cheapest to train
    out = tmp_path / "e"
    code, text, err = run_cli(["export", str(tiny_run), "--pick", smallest, "--out", str(out)], capsys)
    assert code == 0 and f"exported {smallest}" in text
    code, text, err = run_cli(["evaluate", str(out), "--split", "test", "--json"], capsys)
    assert code == 0
    r = json.loads(text)
    assert r["split"] == "test" and r["samples"] == 360 and 0.0 <= r["accuracy"] <= 1.0 and r["energy_mj"] > 0

    section = retrain_export(out, epochs=1, progress=False)
    assert section["epochs"] == 1 and 0.0 <= section["test_accuracy"] <= 1.0 and section["test_energy_mj"] > 0
    assert section["inherited_test_accuracy"] == pytest.approx(r["accuracy"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["retrained"]["test_accuracy"] == section["test_accuracy"]
    assert metrics["recorded"]["accuracy"] == pytest.approx(float(s.row(smallest)["accuracy"]))  # kept beside
    ckpt = load_checkpoint(out / "retrain.pt", kind="autosnn-retrain")
    assert ckpt["epoch"] == 1
    # the retrained weights are trained ones: every learnable tensor of the inherited model
    # moved (BatchNorm statistics excluded: they move in train mode even at lr 0), and the
    # file holds exactly what the training checkpoint holds
    inherited_w, _ = load_weights(out / MODEL_FILE)
    retrained_w, meta = load_weights(out / RETRAINED_FILE)
    assert meta["retrained"] == "true" and inherited_w.keys() == retrained_w.keys()
    learnable = [k for k in inherited_w if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(learnable) > 10
    moved = [k for k in learnable if not torch.equal(inherited_w[k], retrained_w[k])]
    assert len(moved) == len(learnable), sorted(set(learnable) - set(moved))
    assert all(torch.equal(retrained_w[k], ckpt["model"][k]) for k in retrained_w)
    retrained = evaluate_export(out, "test", retrained=True)
    assert retrained["accuracy"] == section["test_accuracy"]
    # running again resumes the finished checkpoint: no training, same numbers
    again = retrain_export(out, epochs=1, progress=False)
    assert again["test_accuracy"] == section["test_accuracy"]
    # another setting with the checkpoint still there is refused
    with pytest.raises(CheckpointError, match="from_scratch"):
        retrain_export(out, epochs=1, from_scratch=True, progress=False)
