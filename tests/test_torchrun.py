"""Supernet training under torchrun: the device rule (on the CPU, CUDA faked), and two real
2-rank gloo jobs on the CPU (tests/torchrun_worker.py is each rank)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import run_cli, same_weights
from torchrun_worker import run_steps

from autosnn.device import select_device
from autosnn.errors import ConfigError
from autosnn.supernet import ddp
from autosnn.supernet.training import load_supernet

WORKER = Path(__file__).with_name("torchrun_worker.py")
ROOT = WORKER.parents[1]


# ----------------------------------------------------------------------------- the device rule
@pytest.fixture
def four_gpus(monkeypatch):
    """A machine with 4 CUDA devices, as torch sees it; records ``set_device`` calls."""
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: current.append(torch.device(d)))
    return current


def _torchrun_env(monkeypatch, local_rank: int, world: int = 4) -> None:
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(local_rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))


@pytest.mark.parametrize("preference", ["auto", "cuda"])
def test_under_torchrun_auto_and_cuda_mean_the_local_rank_gpu(four_gpus, monkeypatch, preference):
    _torchrun_env(monkeypatch, 2)
    assert select_device(preference) == torch.device("cuda", 2)
    assert four_gpus == [torch.device("cuda", 2)]


def test_under_torchrun_an_explicit_gpu_is_refused_in_one_line(four_gpus, monkeypatch):
    _torchrun_env(monkeypatch, 1)
    with pytest.raises(ConfigError) as exc:
        select_device("cuda:0")
    assert "all 4 ranks on one GPU" in str(exc.value) and "\n" not in str(exc.value)
    assert four_gpus == []


def test_under_torchrun_a_local_rank_without_its_gpu_is_refused(four_gpus, monkeypatch):
    _torchrun_env(monkeypatch, 5, world=8)
    with pytest.raises(ConfigError, match=r"LOCAL_RANK 5\): this machine has 4 CUDA device"):
        select_device("cuda")


def test_a_single_process_keeps_its_choice(four_gpus, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("LOCAL_RANK", "3")  # ignored outside torchrun
    assert select_device("cuda:1") == torch.device("cuda", 1)
    assert select_device("auto").type == "cuda" and select_device("cpu") == torch.device("cpu")
    assert four_gpus == []


def test_under_torchrun_without_cuda_auto_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _torchrun_env(monkeypatch, 1, world=2)
    assert select_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("command", ["run", "search"])
def test_run_and_search_refuse_torchrun_in_one_line_before_writing(tmp_path, monkeypatch, capsys, command):
    from conftest import TINY_CAMPAIGN

    (tmp_path / "c.yaml").write_text(TINY_CAMPAIGN)
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("WORLD_SIZE", "2")
    args = ["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out")] if command == "run" else \
        ["search", str(tmp_path / "run")]
    code, out, err = run_cli(args, capsys)
    assert code == 2 and err.count("\n") == 1 and "not under torchrun" in err and "train-supernet" in err
    assert not (tmp_path / "out").exists() and not any((tmp_path / "run").iterdir())


# ----------------------------------------------------------------------------- the process group's life
@pytest.fixture
def one_rank_group(monkeypatch):
    """torchrun's variables for a group of one rank (it starts at once), which
    :func:`ddp.process_group` is made to own as if ``WORLD_SIZE`` were 2."""
    for key, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(ddp, "world_size", lambda: 2)


@pytest.mark.parametrize("leave", [None, ValueError, KeyboardInterrupt])
def test_the_process_group_is_destroyed_on_every_exit_path(one_rank_group, leave):
    def body():
        with ddp.process_group(torch.device("cpu")) as active:
            assert active and torch.distributed.is_initialized()
            if leave:
                raise leave("stop")

    if leave:
        with pytest.raises(leave):
            body()
    else:
        body()
    assert not torch.distributed.is_initialized()


def test_torchruns_sigterm_ends_the_rank_in_one_line_and_destroys_the_group(one_rank_group, capsys):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        with ddp.process_group(torch.device("cpu")):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
    assert exc.value.code == 143 and not torch.distributed.is_initialized()
    err = capsys.readouterr().err
    assert err.startswith("autosnn: error: rank 0 of 2 stopped: terminated (SIGTERM") and err.count("\n") == 1
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_collective_failing_for_a_lost_peer_ends_the_rank_in_one_line(one_rank_group, capsys):
    lost = RuntimeError("Got the following error when running the callback: RuntimeError: [/__w/pytorch/third_party/"
                        "gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:35226: Connection reset by peer. "
                        "This is typically caused by a remote worker hanging")
    with pytest.raises(SystemExit) as exc:
        with ddp.process_group(torch.device("cpu")):
            raise lost
    assert exc.value.code == 1 and not torch.distributed.is_initialized()
    assert capsys.readouterr().err == ("autosnn: error: rank 0 of 2 stopped: another rank failed "
                                       "(Read error [127.0.0.1]:35226: Connection reset by peer)\n")
    with pytest.raises(RuntimeError, match="a bug of this rank"):  # anything else keeps its traceback
        with ddp.process_group(torch.device("cpu")):
            raise RuntimeError("a bug of this rank")


def test_find_unused_parameters_only_where_some_subnet_leaves_parameters_without_gradients():
    from autosnn.search_spaces import SearchSpace
    from autosnn.supernet.supernet import SpikformerSupernet

    def gradient_less(space, config) -> int:
        """Parameters left without a gradient by one training pass of ``config``."""
        net = SpikformerSupernet(space).train()
        net.set_config(config)
        net(torch.rand(4, 1, 16, 16)).sum().backward()
        return sum(p.grad is None for p in net.parameters())

    tiny = SearchSpace.builtin("digits-tiny")  # depth 1 or 2
    assert ddp.has_unused_parameters(tiny, SpikformerSupernet(tiny))
    assert gradient_less(tiny, tiny.smallest()) > 0 and gradient_less(tiny, tiny.largest()) == 0
    one_depth = SearchSpace.from_dict({**tiny.to_dict(), "name": "one-depth",
                                       "dimensions": {**tiny.to_dict()["dimensions"], "depth": [2]}})
    assert not ddp.has_unused_parameters(one_depth, SpikformerSupernet(one_depth))
    assert gradient_less(one_depth, one_depth.smallest()) == 0  # sliced weights still get (zero-padded) gradients


# ----------------------------------------------------------------------------- real 2-rank jobs
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, *args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 tests/torchrun_worker.py OUT ARGS`` on 127.0.0.1 (gloo)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(WORKER), str(out), *args]
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)


#: 2 epochs of 4 steps (2 ranks x 128 of digits' 1077 training samples), 3 passes a step.
TWO_RANK_CAMPAIGN = """name: tiny
seed: 0
space: digits-tiny
data: {name: digits, batch_size: 128}
supernet: {epochs: 2, warmup_epochs: 0, sampling: sandwich, sandwich_random: 1}
fitness: {max_val_batches: 2}
search: {population: 4, generations: 2}
"""


def _ranks(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_two_ranks_train_fail_resume_equal_the_straight_run_and_search(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TWO_RANK_CAMPAIGN)
    train = ["cli", "train-supernet", str(config), "--device", "cpu", "--no-progress", "--out"]

    straight = torchrun(tmp_path / "a", *train, str(tmp_path / "a" / "run"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    ranks = _ranks(tmp_path / "a")
    steps = ranks[0]["steps"]
    # sandwich with one random subnet: 3 passes a step, and one reduction round per step
    assert len(steps) >= 4 and all(s["passes"] == 3 and s["rounds"] == 1 for s in steps), steps
    assert ranks[0]["find_unused_parameters"] is True  # digits-tiny's depth 1 leaves block 2 without gradients
    assert ranks[0]["rng"] == ranks[1]["rng"]  # so rank 0's RNG state, in the checkpoint, is every rank's
    per_epoch = len(steps) // 2

    # rank 1 dies in epoch 2 (after rank 0 wrote epoch 1's checkpoint): the job ends, not hangs
    crashed = torchrun(tmp_path / "b", *train, str(tmp_path / "b" / "run"),
                       env={"AUTOSNN_TEST_FAIL": f"1:{per_epoch + 2}"})
    ended = time.time()
    assert crashed.returncode != 0
    assert "RuntimeError: injected failure at step" in crashed.stderr
    lines = [line for line in crashed.stderr.splitlines() if "autosnn: error: rank 0 of 2 stopped" in line]
    assert len(lines) == 1, crashed.stderr[-3000:]
    # its collective fails first, or (a slow rank 0, still computing) torchrun's SIGTERM comes first
    assert ("another rank failed" in lines[0] or "terminated (SIGTERM" in lines[0]) and "[rank0]: Traceback" not in \
        crashed.stderr
    # seconds from failure to end (measured: 10 at load 14 on 2 cores); a hang would last the 10-min timeout
    assert ended - _ranks(tmp_path / "b")[1]["failed_at"] < 120
    ckpt = torch.load(tmp_path / "b" / "run" / "supernet.pt", weights_only=True)
    assert ckpt["epoch"] == 1

    resumed = torchrun(tmp_path / "b", *train, str(tmp_path / "b" / "run"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming supernet training at epoch 2/2" in resumed.stdout
    assert resumed.stdout.count("supernet: ") == 1  # rank 0 alone reports
    a, _ = load_supernet(tmp_path / "a" / "run" / "supernet.pt")
    b, _ = load_supernet(tmp_path / "b" / "run" / "supernet.pt")
    assert same_weights(a, b)
    # the saved BatchNorm statistics are the mean of the ranks' (before averaging, they differ)
    before = [torch.tensor(r["bn_before"]) for r in _ranks(tmp_path / "b")]
    saved = b.state_dict()["patch_embed.stages.0.bn.running_mean"]
    assert (before[0] - before[1]).abs().max() > 1e-5 and (saved - before[0]).abs().max() > 1e-5  # values ~1e-3
    torch.testing.assert_close(saved, (before[0] + before[1]) / 2, rtol=1e-5, atol=1e-9)

    # the 2-rank supernet is searched by one process
    code, out, err = run_cli(["search", str(tmp_path / "b" / "run"), "--device", "cpu", "--no-progress"], capsys)
    assert code == 0, err
    assert (tmp_path / "b" / "run" / "evaluations.parquet").exists()


@pytest.mark.slow
def test_two_ranks_at_half_the_batch_follow_one_rank_at_the_whole_batch(tmp_path):
    """4 sandwich steps (3 passes each), BatchNorm frozen, fp32: 2 ranks x 32 vs 1 rank x 64."""
    two = torchrun(tmp_path / "two", "steps", "64", "4")
    assert two.returncode == 0, two.stderr[-3000:]
    (tmp_path / "one").mkdir()
    run_steps(tmp_path / "one", 64, 4)  # this process, no process group: one rank
    w2 = torch.load(tmp_path / "two" / "weights.pt", weights_only=True)
    w1 = torch.load(tmp_path / "one" / "weights.pt", weights_only=True)
    start = torch.load(tmp_path / "one" / "start.pt", weights_only=True)
    moved = max((w1[k].float() - start[k].float()).abs().max().item() for k in w1)
    diff = max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1)
    assert moved > 1e-3  # the steps did move the weights (lr 2e-3, AdamW)
    assert diff < 1e-6, diff  # measured: 1.5e-8
