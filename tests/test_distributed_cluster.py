"""A real Ray cluster started with ``ray start --head``: a campaign with ``address: auto``
(``autosnn run`` in a fresh process, as a user runs it) joins it and ends with the result
of the same campaign evaluated locally.

The cluster is this test's own: free ports, its own ``--temp-dir`` (so ``auto`` can only
mean it: ``RAY_ADDRESS`` is set to its address, and Ray writes its address file into that
temp dir, not into a user's ``/tmp/ray``), 2 CPUs. It is stopped by the fixture's
finaliser even when the test fails, and only it: never ``ray stop`` (which stops every Ray
of the user); the ``ray start --block`` process group is terminated, then every process
whose command line names this cluster's temp dir is killed by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autosnn.campaign import Campaign
from autosnn.pipeline import run_pipeline
from autosnn.run_folder import RunFolder

REPO = Path(__file__).resolve().parents[1]
RAY_CLI = "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _processes_naming(text: str) -> list[int]:
    """Pids of this user's processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            if text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _stop_cluster(proc: subprocess.Popen, temp_dir: str) -> None:
    """Stop this cluster and nothing else: its ``ray start --block`` process group, then
    any leftover process (raylet, GCS, workers) that names its temp dir."""
    for sig, wait_s in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    deadline = time.time() + 10
    while (left := _processes_naming(temp_dir)) and time.time() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _ray_env(**extra: str) -> dict[str, str]:
    """The environment of the cluster's and the driver's processes: this checkout importable,
    no inherited RAY_ADDRESS, and no token authentication (Ray 2.5x turns it on for
    `ray start` when ~/.ray/auth_token exists, but a driver given an explicit address does
    not send the token: this throw-away cluster on this machine runs without)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", **extra)
    return env


@pytest.fixture
def ray_head():
    """``ray start --head`` on free ports with its own temp dir and 2 CPUs; yields
    ``(gcs_address, temp_dir)``; stopped (only it) when the test ends, pass or fail."""
    port, client_port, agent_port = _free_ports(3)
    temp_dir = tempfile.mkdtemp(prefix="asnn-ray-", dir="/tmp")  # short: Ray's socket paths live under it
    env = _ray_env()
    log = open(Path(temp_dir) / "ray-start.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-c", RAY_CLI, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}",
         "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
         f"--ray-client-server-port={client_port}", f"--dashboard-agent-listen-port={agent_port}",
         f"--object-store-memory={128 * 1024 ** 2}", "--block"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        address_file = Path(temp_dir) / "ray_current_cluster"
        deadline = time.time() + 90
        while not address_file.is_file() or not address_file.read_text().strip():
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"ray start --head did not come up: {(Path(temp_dir) / 'ray-start.log').read_text()[-2000:]}")
            time.sleep(0.2)
        address = address_file.read_text().strip()
        assert address.endswith(f":{port}")
        yield address, temp_dir
    finally:
        _stop_cluster(proc, temp_dir)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _campaign(**evaluator) -> Campaign:
    return Campaign.from_dict({
        "name": "cluster-test", "seed": 3, "space": "digits-tiny", "data": {"name": "digits", "batch_size": 64},
        "supernet": {"epochs": 1, "warmup_epochs": 0, "amp": False},
        "fitness": {"max_val_batches": 2},
        "search": {"population": 4, "generations": 2},
        "evaluator": {"kind": "local", **evaluator},
    })


@pytest.mark.slow
def test_campaign_on_a_real_ray_cluster_equals_the_local_one(ray_head, tmp_path):
    address, temp_dir = ray_head
    local = RunFolder(tmp_path / "local")
    campaign = _campaign()
    local.prepare(campaign)
    assert run_pipeline(campaign, local, device="cpu", progress=False) == 0

    on_cluster = RunFolder(tmp_path / "cluster")
    campaign = _campaign(kind="ray", workers=2, address="auto", max_retries=1)
    on_cluster.prepare(campaign)
    shutil.copy(local.supernet, on_cluster.supernet)     # the same trained supernet: evaluation is what differs
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump(campaign.to_dict()))
    # a fresh driver process, as a user runs it; `auto` means this cluster, whatever else runs here
    proc = subprocess.run([sys.executable, "-m", "autosnn.cli", "run", str(config), "--out", str(on_cluster.path),
                           "--device", "cpu", "--no-progress"], env=_ray_env(RAY_ADDRESS=address),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert _processes_naming(temp_dir)                    # the cluster is still up (not the driver's to stop)

    a = pd.read_parquet(local.evaluations)
    b = pd.read_parquet(on_cluster.evaluations)
    assert len(a) >= 5 and (a["status"] == "ok").all() and (b["status"] == "ok").all()
    assert b["id"].tolist() == a["id"].tolist()
    assert b["accuracy"].tolist() == a["accuracy"].tolist()
    assert b["energy_mj"].tolist() == pytest.approx(a["energy_mj"].tolist(), rel=1e-9, abs=0)
    assert (a["worker"] == "local").all() and b["worker"].str.startswith("ray-").all()
    # the workers were processes of THAT cluster: their logs are in its temp dir
    logs = "\n".join(p.name for p in Path(temp_dir).glob("session_*/logs/*"))
    pids = set(b["worker"].str.rsplit("/", n=1).str[1])
    assert len(pids) == 2 and all(f"{pid}." in logs or f"_{pid}" in logs for pid in pids), (pids, logs[:500])
    assert pd.read_csv(on_cluster.pareto_csv)["id"].tolist() == pd.read_csv(local.pareto_csv)["id"].tolist()
