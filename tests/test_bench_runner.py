"""``make bench``'s runner: every benchmark runs whatever the others gave, each verdict is
listed at the end, and the exit status says whether any was SHORT or failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[1] / "bench" / "tools" / "run_all.py"

SCRIPTS = {
    "a_pass.py": "print('PASS  speed: measured x1.20, goal 1.0')",
    "b_short.py": "print('PASS  first check')\nprint('SHORT: tau 0.20 (goal >= 0.57)')\nraise SystemExit(1)",
    "c_crash.py": "raise RuntimeError('out of memory')",
    "d_skip.py": "print('SKIP: no CUDA device here')",
    "e_pass.py": "print('all good: PASS')",
}


def _run(tmp_path: Path, names: list[str]) -> subprocess.CompletedProcess:
    for name, code in SCRIPTS.items():
        (tmp_path / name).write_text(code + "\n")
    return subprocess.run([sys.executable, str(RUNNER), *(str(tmp_path / n) for n in names)], capture_output=True,
                          text=True, timeout=120)


def test_every_benchmark_runs_and_the_summary_names_what_was_short(tmp_path):
    proc = _run(tmp_path, list(SCRIPTS))
    assert proc.returncode == 1
    out = proc.stdout
    assert "all good: PASS" in out                       # the benchmarks after a SHORT one still ran
    tail = out[out.index("benchmarks: 5 in"):].splitlines()
    status = {line.split()[1].rsplit("/", 1)[-1]: line.split()[0] for line in tail[1:6]}
    assert status == {"a_pass.py": "PASS", "b_short.py": "SHORT", "c_crash.py": "ERROR", "d_skip.py": "SKIP",
                      "e_pass.py": "PASS"}
    assert "SHORT: tau 0.20 (goal >= 0.57)" in tail[2]  # the benchmark's own verdict line
    assert "exit 1: RuntimeError: out of memory" in tail[3]
    assert tail[-1].startswith("NOT MET: ") and "b_short.py (SHORT)" in tail[-1] and "c_crash.py (ERROR)" in tail[-1]
    assert "a_pass.py" not in tail[-1]


def test_all_met_exits_0(tmp_path):
    proc = _run(tmp_path, ["a_pass.py", "d_skip.py"])
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "all met (1 PASS, 1 SKIP)"
    assert _run(tmp_path, ["nowhere.py"]).returncode == 2
