"""bench/device_check.py's CPU-side logic: the verdicts, the wheel list and its budget,
argument handling, and the no-CUDA path (it says so, measures nothing, exits 0)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "bench" / "device_check.py"


@pytest.fixture(scope="module")
def dc():
    spec = importlib.util.spec_from_file_location("device_check", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module
    spec.loader.exec_module(module)
    return module


def test_verdicts_compare_with_the_goal_in_the_right_direction(dc):
    assert dc.at_least("fwd", 1.02, 1.0).status == "PASS"
    assert dc.at_least("fwd", 0.98, 1.0).status == "SHORT"
    assert dc.at_most("diff", 0.0, 0.0).status == "PASS"
    assert dc.at_most("diff", 1e-7, 0.0).status == "SHORT"
    line = dc.at_least("training images/s vs spikingjelly", 0.873, 0.9)
    assert str(line) == "SHORT  training images/s vs spikingjelly: measured 0.873, goal >= 0.900"
    lines = [dc.at_least("a", 2, 1), dc.skip("ray", "too big")]
    assert dc.exit_status(lines) == 0  # SKIP does not fail the check
    assert dc.exit_status(lines + [dc.at_most("b", 3, 1)]) == 1


def test_wheel_list_pins_this_venvs_versions_and_leaves_ray_behind(dc):
    reqs = dict(r.split("==") for r in dc.wheel_requirements())
    assert reqs["spikingjelly"] == importlib.metadata.version("spikingjelly") == "2.0.0"
    for name in ("deap", "pymoo", "mlxtend", "moocore"):
        assert reqs[name] == importlib.metadata.version(name)
    assert "ray" not in reqs and "torch" not in reqs and "numpy" not in reqs  # the device's own are used
    assert "79 MB" in dc.STAY_BEHIND["ray"]
    cmd = dc.download_command("deap==1.4.4", Path("/tmp/w"))
    assert cmd[-1] == "deap==1.4.4" and "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12" and cmd[cmd.index("--implementation") + 1] == "cp"
    assert "manylinux_2_28_x86_64" in cmd


def test_download_refuses_wheels_over_the_budget(dc, tmp_path, monkeypatch, capsys):
    sizes = iter([30, 15])  # MiB per download: 45 in all, over 40

    def fake_pip(cmd):
        name = cmd[-1].split("==")[0]
        size = next(sizes, 0)
        (tmp_path / f"{name}-1-py3-none-any.whl").write_bytes(b"\0" * (size * 2**20))
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(dc.subprocess, "run", fake_pip)
    assert dc.download_wheels(tmp_path) == 2
    assert "over the 40 MiB budget" in capsys.readouterr().err

    sizes = iter([1])
    for w in tmp_path.glob("*.whl"):
        w.unlink()
    assert dc.download_wheels(tmp_path) == 0


def test_without_cuda_it_says_so_measures_nothing_and_exits_0(dc, tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "device_check.json"
    assert dc.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no CUDA device" in printed
    assert printed.count("\nSKIP ") == 5  # the lines make bench reads its SKIP verdict from
    result = json.loads(out.read_text())
    assert result["cuda"] is False and result["pass"] is True
    assert {line["status"] for line in result["lines"]} == {"SKIP"}


def test_an_empty_wheel_folder_is_one_line(dc, tmp_path):
    with pytest.raises(SystemExit, match="no wheels in"):
        dc.install_wheels(tmp_path)
