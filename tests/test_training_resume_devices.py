"""Checkpoints resume on any device: loaded to the CPU first (a checkpoint written on a GPU
resumes here), RNG states of the CPU and of every CUDA device kept (restored where they
fit), the loss scaler's state in every enabled/disabled combination, and a resumed run
(supernet, ``fit`` / ``retrain``, a Tune trial) equal to the uninterrupted one."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

from conftest import kill_after_first_checkpoint, same_weights

from autosnn import SearchSpace, Spikformer
from autosnn.campaign import Campaign, SupernetTrainingConfig
from autosnn.checkpoint import load_checkpoint
from autosnn.supernet import resume
from autosnn.supernet.training import Trainer, fit, train_supernet

SPACE = SearchSpace.builtin("digits-tiny")
CPU = torch.device("cpu")
CFG = SupernetTrainingConfig(epochs=2, lr=2e-3, warmup_epochs=1, precision="fp32")


@pytest.fixture(scope="module")
def small(data):
    """The digits with 512 training images (2 steps of 256 per epoch)."""
    return dataclasses.replace(data, train=Subset(data.train, range(512)))


@contextlib.contextmanager
def _storages_tagged(location: str):
    """``torch.save`` inside the block tags every CPU storage with ``location`` (``cuda:0``):
    the file is what a GPU run writes, byte for byte in its tensor locations."""
    from torch import serialization

    entry = (-1000, lambda s: location if s.device.type == "cpu" else None, lambda s, loc: None)
    serialization._package_registry.insert(0, entry)
    try:
        yield
    finally:
        serialization._package_registry.remove(entry)


def _as_if_written_on_cuda(path: Path) -> None:
    """Rewrite a CPU checkpoint as a CUDA fp16 run would have written it: every tensor on
    ``cuda:0``, two CUDA generator states, an enabled GradScaler's state."""
    ckpt = torch.load(path, weights_only=True)
    ckpt["cuda_rng"] = [torch.randint(0, 255, (16,), dtype=torch.uint8) for _ in range(2)]
    ckpt["trainer"]["scaler"] = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12).state_dict()
    buf = io.BytesIO()
    with _storages_tagged("cuda:0"):
        torch.save(ckpt, buf)
    path.write_bytes(buf.getvalue())
    if not torch.cuda.is_available():   # the file really holds CUDA locations
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)


def _train(data, ckpt):
    return train_supernet(SPACE, data, CFG, batch_size=256, seed=0, checkpoint=ckpt, device=CPU, progress=False,
                          log=lambda s: None)


def test_a_supernet_checkpoint_written_on_cuda_resumes_on_the_cpu(small, tmp_path, monkeypatch):
    data = small
    straight = _train(data, tmp_path / "a.pt")
    kill_after_first_checkpoint(lambda: _train(data, tmp_path / "b.pt"), tmp_path / "b.pt", monkeypatch)
    saved = load_checkpoint(tmp_path / "b.pt", kind="autosnn-supernet")
    assert saved["torch_rng"].device == CPU and saved["torch_rng"].dtype == torch.uint8
    assert saved["cuda_rng"] == [] and "sampler_rng" in saved            # the CPU writes no CUDA states
    _as_if_written_on_cuda(tmp_path / "b.pt")
    resumed = _train(data, tmp_path / "b.pt")
    assert same_weights(straight, resumed)


def test_fit_resumes_to_the_uninterrupted_result(small, tmp_path, monkeypatch):
    """``autosnn retrain`` trains through ``fit``: killed after its first epoch and run
    again, it ends where the uninterrupted run ends (also from a CUDA-written checkpoint)."""
    def run(ckpt):
        torch.manual_seed(5)
        model = Spikformer(SPACE.smallest())
        return fit(model, small, CFG, batch_size=256, seed=0, device=CPU, checkpoint=ckpt, progress=False,
                   log=lambda s: None)

    straight = run(tmp_path / "a.pt")
    kill_after_first_checkpoint(lambda: run(tmp_path / "b.pt"), tmp_path / "b.pt", monkeypatch)
    shutil.copy(tmp_path / "b.pt", tmp_path / "c.pt")
    assert same_weights(straight, run(tmp_path / "b.pt"))
    _as_if_written_on_cuda(tmp_path / "c.pt")
    assert same_weights(straight, run(tmp_path / "c.pt"))


@pytest.mark.parametrize("saved_enabled, now_enabled", [(False, True), (True, False), (True, True), (False, False)])
def test_loss_scaler_states_resume_in_every_combination(saved_enabled, now_enabled):
    def trainer(enabled: bool) -> Trainer:
        t = Trainer(torch.nn.Linear(2, 2), SupernetTrainingConfig(precision="fp32"), 1, CPU)
        t.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16, enabled=enabled)
        return t

    old = trainer(saved_enabled)
    if saved_enabled:
        old.scaler.scale(torch.ones(()))
        old.scaler.update(2.0 ** 7)   # a scale learnt during training
    state = old.state_dict()
    assert (state["scaler"] == {}) is (not saved_enabled)     # a disabled scaler writes {}
    new = trainer(now_enabled)
    new.load_state_dict(state)
    if now_enabled:
        assert new.scaler.get_scale() == (2.0 ** 7 if saved_enabled else 2.0 ** 16)   # {}: start from the initial scale
    else:
        assert not new.scaler.is_enabled()


def test_cuda_generator_states_are_restored_where_they_fit(monkeypatch):
    """Two saved CUDA states on a machine with one device: the first is restored to it,
    the second ignored; the CPU state always."""
    calls = []
    cpu = torch.get_rng_state()
    torch.rand(3)                                             # move the CPU generator on
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((state.clone(), device)))
    states = [torch.full((4,), 1, dtype=torch.uint8), torch.full((4,), 2, dtype=torch.uint8)]
    resume.restore_rng({"torch_rng": cpu, "cuda_rng": states})
    assert torch.equal(torch.get_rng_state(), cpu)
    assert len(calls) == 1 and torch.equal(calls[0][0], states[0]) and calls[0][1] == 0
    calls.clear()
    resume.restore_rng({"torch_rng": cpu})                    # an older checkpoint: CPU state only
    assert calls == []


def test_a_tune_trial_resumes_from_its_ray_tune_checkpoint(tmp_path, firing):
    """A trial restarted by Tune (``tune.get_checkpoint()``) continues from its last epoch
    and ends with the weights and metrics of the uninterrupted trial."""
    from ray import tune

    from autosnn.distributed.tune import _run_trial
    from autosnn.export.files import load_weights, write_export

    campaign = Campaign.from_dict({"space": "digits-tiny", "data": {"name": "digits", "batch_size": 128},
                                   "supernet": {"precision": "fp32"}})
    torch.manual_seed(0)
    export = write_export(tmp_path / "exp", firing(Spikformer(SPACE.smallest()), seed=2), SPACE,
                          {"campaign_config": campaign.to_dict()})
    config = {"lr": 3e-3, "weight_decay": 0.01, "epochs": 2, "gpu": False}

    def trial(restored, stop_after: int | None = None):
        reports = []

        def report(metrics, directory):
            keep = tmp_path / f"ckpt{len(list(tmp_path.glob('ckpt*')))}"
            shutil.copytree(directory, keep)
            reports.append((metrics, keep))
            if stop_after is not None and len(reports) == stop_after:
                raise KeyboardInterrupt   # the worker dies after its first report

        with contextlib.suppress(KeyboardInterrupt):
            _run_trial(config, str(export), 0, 1, restored=restored, report=report)
        return reports

    straight = trial(None)
    first = trial(None, stop_after=1)
    resumed = trial(tune.Checkpoint.from_directory(str(first[0][1])))
    assert [m["epoch"] for m, _ in straight] == [1, 2] and [m["epoch"] for m, _ in resumed] == [2]
    assert resumed[0][0] == straight[1][0]                   # same val accuracy and training loss
    a, _ = load_weights(straight[1][1] / "model.safetensors")
    b, _ = load_weights(resumed[0][1] / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
