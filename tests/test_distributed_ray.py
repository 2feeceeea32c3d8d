"""RayEvaluator on a local Ray (2 CPUs, 2 workers): same answers as the local evaluator,
a worker killed mid-evaluation is replaced and its candidate retried, a candidate that
keeps killing its worker is recorded as failed. One Ray start for the whole module."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

import ray

from autosnn.campaign import Campaign
from autosnn.distributed import RayEvaluator
from autosnn.distributed.testing import fake_factory
from autosnn.fitness.synthetic import SyntheticEvaluator
from autosnn.pipeline import build_evaluator
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.commands import campaign_data


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=128 * 1024 ** 2)
    yield
    ray.shutdown()


def _campaign(**evaluator) -> Campaign:
    return Campaign.from_dict({
        "space": "digits-tiny", "data": {"name": "digits", "batch_size": 128},
        "fitness": {"max_val_batches": 1},
        "evaluator": {"kind": "ray", "workers": 2, "address": None, "max_retries": 1, **evaluator},
    })


@pytest.fixture(scope="module")
def setting(firing):
    campaign = _campaign()
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    torch.manual_seed(0)
    supernet = firing(SpikformerSupernet(space), seed=3)
    rng = np.random.default_rng(5)
    configs = [space.sample(rng) for _ in range(4)]
    return campaign, space, supernet, data, configs


def test_ray_results_equal_local_evaluator(local_ray, setting):
    campaign, space, supernet, data, configs = setting
    local_campaign = _campaign(kind="local")
    local = build_evaluator(local_campaign, space, supernet, data, "cpu")
    expected = local.evaluate(configs)
    assert all(r.ok for r in expected)
    assert len({round(r.energy_mj, 12) for r in expected}) > 1  # the candidates really differ

    ev = build_evaluator(campaign, space, supernet, data, "cpu")   # kind: ray -> RayEvaluator
    try:
        assert isinstance(ev, RayEvaluator)
        assert [i["threads"] for i in ev.infos] == [1, 1]           # 2 CPUs / 2 workers: one torch thread each
        got = ev.evaluate(configs)
    finally:
        ev.close()
    assert [r.config for r in got] == configs                      # input order
    assert len({r.worker for r in got}) == 2                        # both workers were used
    for a, b in zip(expected, got):
        assert b.status == "ok" and b.worker.startswith("ray-")
        assert b.accuracy == a.accuracy
        assert b.energy_mj == pytest.approx(a.energy_mj, rel=1e-9, abs=0)
        assert (b.macs, b.acs, b.params) == (a.macs, a.acs, a.params)
        assert b.firing_rates == pytest.approx(a.firing_rates, rel=1e-9)
        assert b.layers == a.layers
    assert ray.is_initialized()                                     # not ours to shut down


def test_killed_worker_is_replaced_and_candidate_retried(local_ray, setting):
    campaign, space, supernet, data, _ = setting
    rng = np.random.default_rng(11)
    configs = [space.sample(rng) for _ in range(6)]
    ev = RayEvaluator(campaign, space, supernet, data, "cpu", factory=fake_factory(delay_s=0.8))
    try:
        victim = ray.get(ev.actor(0).pid.remote())
        killer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))   # mid-way through its first candidate
        killer.start()
        t0 = time.perf_counter()
        got = ev.evaluate(configs)
        killer.join()
        assert time.perf_counter() - t0 < 30
        assert ev.restarts == 1
        new_pid = ray.get(ev.actor(0).pid.remote())
    finally:
        ev.close()
    assert new_pid != victim
    expected = SyntheticEvaluator(space).evaluate(configs)
    assert [r.status for r in got] == ["ok"] * 6                   # the killed candidate was retried
    assert [r.accuracy for r in got] == [r.accuracy for r in expected]
    assert [r.energy_mj for r in got] == [r.energy_mj for r in expected]
    assert all(f"/{victim}" not in r.worker for r in got)          # nothing came from the dead process
    assert any(r.worker.endswith(f"/{new_pid}") for r in got)      # the replacement did work


def test_candidate_that_keeps_killing_its_worker_is_failed(local_ray, setting):
    campaign, space, supernet, data, _ = setting
    rng = np.random.default_rng(12)
    configs = [space.sample(rng) for _ in range(5)]
    bad = configs[1]
    ev = RayEvaluator(campaign, space, supernet, data, "cpu", factory=fake_factory(0.05, die_on=[bad.id]))
    try:
        got = ev.evaluate(configs)
        assert ev.restarts == 2                                    # first try + max_retries=1 retry
        again = ev.evaluate(configs[2:])                           # the pool still works afterwards
    finally:
        ev.close()
    assert [r.status for r in got] == ["ok", "failed", "ok", "ok", "ok"]
    assert got[1].config == bad and np.isnan(got[1].accuracy)
    assert "worker died 2 time(s)" in got[1].reason and got[1].worker.startswith("ray-")
    assert [r.accuracy for r in again] == [r.accuracy for r in got[2:]]


def test_campaign_search_survives_a_killed_worker(local_ray, setting, tmp_path):
    from autosnn.search.search import run_search

    _, space, supernet, data, _ = setting
    campaign = _campaign()
    campaign.search.population, campaign.search.generations = 4, 2
    ev = RayEvaluator(campaign, space, supernet, data, "cpu", factory=fake_factory(delay_s=0.4))
    try:
        victim = ray.get(ev.actor(1).pid.remote())
        killer = threading.Timer(0.6, os.kill, (victim, signal.SIGKILL))
        killer.start()
        result = run_search(campaign, space, ev, tmp_path / "run", target_mj=0.05, reference_energy_mj=1.0)
        killer.join()
        assert ev.restarts == 1
    finally:
        ev.close()
    rows = result.evaluations
    assert result.generations == 2 and len(rows) == result.new_evaluations >= 5
    assert set(rows["status"]) == {"ok"}                          # the killed candidate was retried
    pids = set(rows["worker"].str.rsplit("/", n=1).str[1])
    assert len(pids) == 3                                         # two workers + the one that replaced the victim
    expected = {c.id: r.accuracy for c, r in ((c, SyntheticEvaluator(space).evaluate([c])[0])
                                               for c in map(_config_of, rows["config"]))}
    assert dict(zip(rows["id"], rows["accuracy"])) == expected


def _config_of(text: str):
    from autosnn.search_spaces.subnet_config import SubnetConfig

    return SubnetConfig.from_json(text)
