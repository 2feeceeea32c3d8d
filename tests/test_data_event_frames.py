"""Event data: the frames are integrated for every T of the space (by spikingjelly, cached
on disk), and the evaluator and supernet training give each subnet the frames of its own T.

The data sets are fakes in spikingjelly's own format (``root/events_np/...`` of ``.npz``
event files with ``t, x, y, p``; with ``events_np`` present spikingjelly skips download
and extraction), read through the real loaders ``sjd.DVS128Gesture`` / ``sjd.CIFAR10DVS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autosnn.campaign import SupernetTrainingConfig
from autosnn.data import load_data
from autosnn.fitness import LocalEvaluator
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.training import train_supernet

EVENTS = 64   # per sample; divisible by every T below, so split_by='number' cuts at the same events


def _write_events(folder: Path, n: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        np.savez(folder / f"s{k}.npz", t=np.sort(rng.integers(0, 10_000, EVENTS)).astype(np.int64),
                 x=rng.integers(0, 128, EVENTS).astype(np.uint16), y=rng.integers(0, 128, EVENTS).astype(np.uint16),
                 p=rng.integers(0, 2, EVENTS).astype(np.uint8))


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory) -> Path:
    """A fake DVS128 Gesture: 11 classes, 3 training and 2 test samples each."""
    root = tmp_path_factory.mktemp("dvs128")
    rng = np.random.default_rng(0)
    for label in range(11):
        _write_events(root / "events_np" / "train" / str(label), 3, rng)
        _write_events(root / "events_np" / "test" / str(label), 2, rng)
    return root


@pytest.fixture(scope="module")
def gesture(gesture_root):
    return load_data("dvs128-gesture", root=str(gesture_root), image_size=128, in_channels=2, time_steps=[2, 4])


def test_frames_are_integrated_for_every_time_step(gesture_root, gesture):
    d = gesture
    for t in (2, 4):   # spikingjelly's on-disk caches, one per T
        assert len(list((gesture_root / f"frames_number_{t}_split_by_number" / "train").rglob("*.npz"))) == 33
    assert (len(d.train), len(d.val), len(d.test)) == (33, 11, 11)
    two, four = d.for_time_steps(2), d.for_time_steps(4)
    for split in ("train", "val", "test"):
        for i in (0, 5):
            (x2, y2), (x4, y4) = two.split(split)[i], four.split(split)[i]
            assert x2.shape == (2, 2, 128, 128) and x4.shape == (4, 2, 128, 128) and y2 == y4
            assert x4.sum() == x2.sum() == EVENTS                    # the same events ...
            assert np.array_equal(x4.reshape(2, 2, 2, 128, 128).sum(1), x2)   # ... cut into 2 or 4 frames
            multi, y = d.split(split)[i]                             # both T at once, for training
            assert y == y2 and np.array_equal(multi[2], x2) and np.array_equal(multi[4], x4)
    x, y = next(iter(d.loader("train", 8)))
    assert x[2].shape == (2, 8, 2, 128, 128) and x[4].shape == (4, 8, 2, 128, 128) and y.shape == (8,)
    with pytest.raises(ValueError, match="not for T=3"):
        d.for_time_steps(3)
    one = load_data("dvs128-gesture", root=str(gesture_root), image_size=128, in_channels=2, time_steps=4)
    assert one.by_time_steps is None and one.val[0][0].shape == (4, 2, 128, 128)   # one T: plain frames


def test_cifar10_dvs_frames_for_every_time_step(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        _write_events(tmp_path / "events_np" / label, 20, rng)
    d = load_data("cifar10-dvs", root=str(tmp_path), image_size=128, in_channels=2, time_steps=[2, 4])
    assert (len(d.train), len(d.val), len(d.test)) == (180, 10, 10)
    for split in ("train", "val", "test"):
        (x2, y2), (x4, y4) = d.for_time_steps(2).split(split)[3], d.for_time_steps(4).split(split)[3]
        assert (x2.shape[0], x4.shape[0], y2) == (2, 4, y4)
        assert np.array_equal(x4.reshape(2, 2, 2, 128, 128).sum(1), x2)


def _tiny_space() -> SearchSpace:
    return SearchSpace.from_dict({
        "name": "dvs-tiny", "fixed": {"in_channels": 2, "image_size": 128, "num_classes": 11, "patch_size": 16},
        "dimensions": {"depth": [1], "embed_dim": [16], "time_steps": [2, 4], "num_heads": [2], "mlp_ratio": [2.0],
                       "v_threshold": [0.6], "tau": [2.0]}, "defaults": {"v_threshold": 0.6}})


def test_evaluator_and_training_use_the_subnets_own_frames(gesture, monkeypatch):
    import autosnn.supernet.supernet as supernet_module

    seen: list[tuple[int, int]] = []   # (the subnet's T, the T of the frames it was given)
    real = supernet_module.to_sequence

    def spy(x, time_steps):
        out = real(x, time_steps)
        seen.append((time_steps, out.shape[0]))
        return out

    monkeypatch.setattr(supernet_module, "to_sequence", spy)
    space = _tiny_space()
    torch.manual_seed(0)
    supernet = SpikformerSupernet(space)
    small, large = space.smallest(), space.largest()
    assert (small.time_steps, large.time_steps) == (2, 4)

    ev = LocalEvaluator(supernet, gesture, batch_size=11, bn_recalibration_batches=1)
    r2, r4 = ev.evaluate([small, large])
    assert r2.ok and r4.ok
    assert seen == [(2, 2), (2, 2), (4, 4), (4, 4)]   # recalibration, then validation batch, at the subnet's T
    # the T=2 subnet on the T=4 frames would count as many stem MACs as the T=4 one: its own frames were used
    stem_macs = lambda r: sum(l["macs"] for l in r.layers if "patch_embed" in l["name"])  # noqa: E731
    assert stem_macs(r4) == pytest.approx(2 * stem_macs(r2), rel=1e-6)

    seen.clear()
    cfg = SupernetTrainingConfig(epochs=1, warmup_epochs=0, precision="fp32", sampling="sandwich")
    train_supernet(space, gesture, cfg, batch_size=16, seed=0, checkpoint=None, device=torch.device("cpu"),
                   progress=False, log=lambda s: None)
    assert len(seen) == 8                                  # 2 steps x (largest, smallest, 2 sampled)
    assert all(t == frames for t, frames in seen)          # every subnet got the frames of its own T ...
    assert [t for t, _ in seen[:2]] == [4, 2]              # ... the T=4 and T=2 subnets within one step


@pytest.mark.slow
def test_campaign_on_event_data_end_to_end(gesture_root, gesture, tmp_path, capsys):
    """autosnn run on the fake DVS128 Gesture (T in {2, 4}): every stage works on the frames
    of several T; the export, re-measured on the validation split, gives the recorded numbers."""
    import json

    import pandas as pd
    import yaml

    from conftest import run_cli

    (tmp_path / "space.yaml").write_text(yaml.safe_dump({
        "name": "dvs-tiny", "fixed": {"in_channels": 2, "image_size": 128, "num_classes": 11, "patch_size": 16},
        "dimensions": {"depth": [1], "embed_dim": [16, 24], "time_steps": [2, 4], "num_heads": [2],
                       "mlp_ratio": [2.0], "v_threshold": [0.6, 1.0], "tau": [2.0]}}))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "name": "dvs", "space": str(tmp_path / "space.yaml"),
        "data": {"name": "dvs128-gesture", "root": str(gesture_root), "batch_size": 11},
        "supernet": {"epochs": 1, "warmup_epochs": 0, "amp": False},
        "fitness": {"bn_recalibration_batches": 1},
        "search": {"population": 4, "generations": 2}}))
    code, out, err = run_cli(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--device", "cpu",
                              "--no-progress"], capsys)
    assert code == 0, err
    rows = pd.read_parquet(tmp_path / "run" / "evaluations.parquet")
    assert (rows["status"] == "ok").all() and set(rows["time_steps"]) == {2, 4}
    export = next((tmp_path / "run" / "exports").iterdir())
    code, out, err = run_cli(["evaluate", str(export), "--split", "val", "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    measured = json.loads(out)
    recorded = rows.set_index("id").loc[export.name]
    assert measured["accuracy"] == pytest.approx(recorded["accuracy"])
    assert measured["energy_mj"] == pytest.approx(recorded["energy_mj"], rel=1e-6)
