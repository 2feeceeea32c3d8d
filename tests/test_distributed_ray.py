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


@pytest.mark.slow
def test_workers_rebuild_a_per_mixer_bn_supernet(local_ray, firing):
    campaign = Campaign.from_dict({**_campaign().to_dict(), "space": "digits-mixer"})
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    torch.manual_seed(0)
    supernet = firing(SpikformerSupernet(space, per_mixer_bn=True), seed=4)
    configs = [space.config(depth=1, embed_dim=48, num_heads=4, attention=["qk_channel"])]
    expected = build_evaluator(Campaign.from_dict({**campaign.to_dict(), "evaluator": {"kind": "local"}}), space,
                               supernet, data, "cpu").evaluate(configs)
    ev = build_evaluator(campaign, space, supernet, data, "cpu")
    try:
        got = ev.evaluate(configs)
    finally:
        ev.close()
    for a, b in zip(expected, got):
        assert a.ok and b.status == "ok", b.reason
        assert (b.accuracy, b.energy_mj, b.firing_rates) == (a.accuracy, pytest.approx(a.energy_mj, rel=1e-9),
                                                             pytest.approx(a.firing_rates, rel=1e-9))


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
        assert time.perf_counter() - t0 < 300  # liveness only (a lost candidate waits forever); 38 s seen on a loaded machine
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


def test_hung_candidates_are_cancelled_retried_then_failed(local_ray, setting, tmp_path):
    """evaluator.timeout_s: an actor that is alive but silent is killed and replaced and its
    candidate retried (max_retries=1): one that hangs only the first time then succeeds, one
    that hangs every time is recorded failed; the others are unaffected."""
    _, space, supernet, data, _ = setting
    campaign = _campaign(timeout_s=1.5)
    rng = np.random.default_rng(13)
    configs = [space.sample(rng) for _ in range(5)]
    stuck, once = configs[2], configs[0]
    ev = RayEvaluator(campaign, space, supernet, data, "cpu", factory=fake_factory(
        0.05, hang_on=[stuck.id], hang_once_on=[once.id], marks_dir=tmp_path))
    try:
        pids = {ray.get(ev.actor(i).pid.remote()) for i in range(2)}
        t0 = time.perf_counter()
        got = ev.evaluate(configs)
        waited = time.perf_counter() - t0
        assert ev.restarts == 3                                    # once: 1 hang; stuck: first try + one retry
        new_pids = {ray.get(ev.actor(i).pid.remote()) for i in range(2)}
        again = ev.evaluate(configs[:2])                           # the pool still works afterwards
    finally:
        ev.close()
    assert 3.0 <= waited < 600                                      # 1.5 s timeouts, not the hour it sleeps
    assert [r.status for r in got] == ["ok", "ok", "failed", "ok", "ok"]
    assert (tmp_path / once.id).is_file()                          # `once` did hang, then succeeded on retry
    assert got[2].config == stuck and np.isnan(got[2].accuracy)
    assert "no answer within evaluator.timeout_s=1.5 s, 2 time(s)" in got[2].reason
    expected = SyntheticEvaluator(space).evaluate(configs)
    assert [r.accuracy for i, r in enumerate(got) if i != 2] == [r.accuracy for i, r in enumerate(expected) if i != 2]
    assert not pids & new_pids                                      # hung workers were replaced (both slots here)
    assert [r.accuracy for r in again] == [r.accuracy for r in expected[:2]]


def test_campaign_goes_on_past_a_hung_candidate(local_ray, setting, tmp_path):
    from autosnn.search.search import run_search

    _, space, supernet, data, _ = setting
    campaign = _campaign(timeout_s=1.0, max_retries=0)
    campaign.search.population, campaign.search.generations = 4, 2
    kw = dict(target_mj=0.05, reference_energy_mj=1.0, log=lambda m: None)
    plain = run_search(campaign, space, SyntheticEvaluator(space), tmp_path / "plain", **kw)
    stuck = plain.evaluations["id"].iloc[1]                         # a candidate of the first generation
    ev = RayEvaluator(campaign, space, supernet, data, "cpu", factory=fake_factory(0.02, hang_on=[stuck]))
    try:
        result = run_search(campaign, space, ev, tmp_path / "run", **kw)
    finally:
        ev.close()
    rows = result.evaluations.set_index("id")
    assert result.generations == 2 and len(rows) >= 5
    assert rows.index[rows["status"] == "failed"].tolist() == [stuck]
    assert rows.loc[stuck, "reason"].startswith("no answer within evaluator.timeout_s=1 s, 1 time(s)")
    ok = rows[rows["status"] == "ok"]
    synthetic = SyntheticEvaluator(space)
    assert ok["accuracy"].tolist() == [synthetic.metrics(_config_of(c))[0] for c in ok["config"]]


def test_timeout_must_be_positive():
    from autosnn.errors import ConfigError

    for bad in (0, -1.0):
        with pytest.raises(ConfigError, match=r"evaluator\.timeout_s must be a finite number > 0"):
            _campaign(timeout_s=bad)
    assert _campaign(timeout_s=2).evaluator.timeout_s == 2.0
    with pytest.raises(ConfigError, match=r"evaluator\.timeout_s"):   # NaN: refused before Ray is touched
        campaign = _campaign(timeout_s=float("nan"))
        space = campaign.resolve_space()
        RayEvaluator(campaign, space, SpikformerSupernet(space), None, "cpu")
    assert _campaign().evaluator.timeout_s is None
