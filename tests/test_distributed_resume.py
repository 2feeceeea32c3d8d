"""A campaign evaluated on Ray resumes after ``kill -9`` of its driver like a local one:
it continues from the last finished generation, re-evaluates nothing recorded, and ends
with the front of an uninterrupted (local) run with the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from autosnn.campaign import Campaign
from autosnn.search import pareto_front, run_search
from autosnn.fitness.synthetic import SyntheticEvaluator
from test_search_resume import _ids, _kill_after

SEARCH = {"algorithm": "nsga2", "population": 6, "generations": 5}

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from autosnn.campaign import Campaign
from autosnn.data import load_data
from autosnn.distributed import RayEvaluator
from autosnn.distributed.testing import fake_factory
from autosnn.search import run_search
from autosnn.supernet import SpikformerSupernet
c = Campaign.from_dict({"name": "k", "seed": 5, "search": %r, "evaluator": {"kind": "ray", "workers": 2}})
space = c.resolve_space()
ev = RayEvaluator(c, space, SpikformerSupernet(space), load_data("digits"), "cpu", factory=fake_factory(0.05),
                  init_kwargs={"num_cpus": 2, "include_dashboard": False})
try:
    run_search(c, space, ev, sys.argv[1], target_mj=0.05, reference_energy_mj=1.0, log=print)
finally:
    ev.close()
""" % (SEARCH,)


@pytest.mark.slow
def test_ray_campaign_resumes_after_kill_9(tmp_path):
    c = Campaign.from_dict({"name": "k", "seed": 5, "search": SEARCH})
    space = c.resolve_space()
    whole = run_search(c, space, SyntheticEvaluator(space), tmp_path / "whole", target_mj=0.05,
                       reference_energy_mj=1.0, log=lambda m: None)
    run_dir = tmp_path / "killed"
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:  # its own process group: Ray's helpers of a killed driver go with it
        procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True))
        return procs[-1]

    try:
        _kill_after(start(), run_dir / "search_state", 2, 0.1)
        before = _ids(run_dir / "evaluations.parquet")
        proc = start()
        out, _ = proc.communicate(timeout=240)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == 0, out[-2000:]
    assert "resuming the search at generation" in out
    final = pd.read_parquet(run_dir / "evaluations.parquet")
    assert final["id"].is_unique and final["id"].tolist()[: len(before)] == before
    assert final["id"].tolist() == whole.evaluations["id"].tolist()
    assert final["worker"].str.startswith("ray-").all()
    key = lambda df: sorted(zip(df["id"], df["objective"], df["energy_mj"]))  # noqa: E731
    assert key(pareto_front(final)) == key(whole.front)
