"""`autosnn run` / `autosnn search` with `evaluator.kind: ray` reach the cluster before
anything long starts: a cluster that does not answer ends the command in seconds with one
line and exit status 2, before the supernet is trained and with nothing written."""

from __future__ import annotations

import time

import pytest

from conftest import TINY_CAMPAIGN, run_cli

from autosnn.campaign import Campaign
from autosnn.run_folder import RunFolder

#: Nothing listens on port 1 of the loopback: the connection is refused at once.
DEAD = "127.0.0.1:1"

#: A liveness bound, not a benchmark: the dead address is refused within milliseconds and
#: the probe gives up after 5 s at most, while the supernet the command would otherwise
#: train first (3 epochs of the digits-tiny space on a shared CI core) takes longer than
#: this, and writes campaign.yaml and supernet.pt, which the test also rules out.
BOUND_S = 60.0

RAY_CAMPAIGN = TINY_CAMPAIGN.replace("supernet: {epochs: 1}", "supernet: {epochs: 3}") + (
    f"evaluator: {{kind: ray, workers: 1, address: '{DEAD}'}}\n")


def _one_line_about_the_cluster(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert DEAD in lines[0] and "does not answer" in lines[0], err


def test_run_with_an_unreachable_cluster_fails_fast_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "campaign.yaml"
    config.write_text(RAY_CAMPAIGN)
    out = tmp_path / "run"
    t0 = time.perf_counter()
    code, _, err = run_cli(["run", str(config), "--out", str(out), "--no-progress"], capsys)
    seconds = time.perf_counter() - t0
    assert code == 2
    _one_line_about_the_cluster(err)
    assert seconds < BOUND_S, seconds
    assert not out.exists()                                   # not even campaign.yaml


def test_search_with_an_unreachable_cluster_fails_fast_and_changes_nothing(tmp_path, capsys):
    folder = RunFolder(tmp_path / "run")
    folder.prepare(Campaign.from_yaml(_write(tmp_path / "c.yaml", RAY_CAMPAIGN)))
    before = {p.name: p.read_bytes() for p in folder.path.iterdir()}
    t0 = time.perf_counter()
    code, _, err = run_cli(["search", str(folder.path), "--no-progress"], capsys)
    seconds = time.perf_counter() - t0
    assert code == 2
    _one_line_about_the_cluster(err)
    assert seconds < BOUND_S, seconds
    assert {p.name: p.read_bytes() for p in folder.path.iterdir()} == before   # no supernet.pt, nothing rewritten


@pytest.mark.parametrize("address", [None, "local"])
def test_a_private_local_ray_is_not_reached_before_training(address, monkeypatch):
    """Nothing to reach for a private local Ray: no Ray is started early for it."""
    from autosnn.distributed import cluster

    calls = []
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: calls.append(a))   # None: "not started by us"
    cluster.reach(address)
    assert calls == []
    cluster.reach(DEAD)
    assert calls == [(DEAD,)]


def _write(path, text):
    path.write_text(text)
    return path
