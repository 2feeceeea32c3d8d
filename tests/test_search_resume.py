"""``kill -9`` a real search process mid-generation, run it again: it continues from the
last finished generation, re-evaluates nothing recorded, and ends with the front of an
uninterrupted run with the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from autosnn.campaign import Campaign
from autosnn.search import run_search
from autosnn.fitness.synthetic import SyntheticEvaluator

SEARCH = {"algorithm": "nsga2", "population": 8, "generations": 10}

SCRIPT = """
import sys
from autosnn.campaign import Campaign
from autosnn.search import run_search
from autosnn.fitness.synthetic import SyntheticEvaluator
c = Campaign.from_dict({"name": "k", "seed": 5, "search": %r})
space = c.resolve_space()
run_search(c, space, SyntheticEvaluator(space, delay=0.02, log=sys.argv[2]), sys.argv[1], log=print)
""" % (SEARCH,)


def _start(run_dir: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_after(proc: subprocess.Popen, state: Path, generation: int, extra: float) -> None:
    deadline = time.time() + 60
    while not (state / f"gen_{generation:04d}.json").exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(extra)  # into the next generation's evaluations
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _ids(path: Path) -> list[str]:
    return pd.read_parquet(path)["id"].tolist() if path.exists() else []


def test_kill_9_then_resume_gives_the_uninterrupted_front(tmp_path):
    c = Campaign.from_dict({"name": "k", "seed": 5, "search": SEARCH})
    space = c.resolve_space()
    whole = run_search(c, space, SyntheticEvaluator(space), tmp_path / "whole", log=lambda m: None)

    run_dir = tmp_path / "killed"
    table = run_dir / "evaluations.parquet"
    _kill_after(_start(run_dir, tmp_path / "log0"), run_dir / "search_state", 3, 0.07)
    done = max(int(p.stem[4:]) for p in (run_dir / "search_state").glob("gen_*.json"))
    assert 3 <= done < SEARCH["generations"]
    before = set(_ids(table))
    proc = _start(run_dir, tmp_path / "log_final")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "resuming the search at generation" in out
    # the resumed process evaluated nothing the table already held
    resumed = (tmp_path / "log_final").read_text().split()
    assert resumed and not (set(resumed) & before)
    final = pd.read_parquet(table)
    assert final["id"].is_unique
    assert final["id"].tolist() == whole.evaluations["id"].tolist()
    key = lambda df: sorted(zip(df["id"], df["objective"], df["energy_mj"]))  # noqa: E731
    from autosnn.search import pareto_front
    assert key(pareto_front(final)) == key(whole.front)
    hist = pd.read_csv(run_dir / "history.csv")
    assert hist["hypervolume"].tolist() == whole.history["hypervolume"].tolist()
    # and once finished, the same command does nothing and says so
    said, again = [], SyntheticEvaluator(space)
    run_search(c, space, again, run_dir, log=said.append)
    assert "nothing to do" in said[-1] and again.calls == []
