"""Run benchmarks one after another and summarise their verdicts (``make bench``).

Every script runs to its end, whatever the others gave: its output goes to the terminal
as it comes, and its verdict is read from its exit status and its own lines -- PASS (exit
0), SKIP (exit 0 and a line starting with SKIP, e.g. no GPU here), SHORT (exit 1 and a
SHORT line), ERROR (any other ending: a crash, a bad argument). At the end one line per
benchmark (verdict, minutes, its last verdict line) and, when any was SHORT or failed, a
last line naming them; the exit status is 1 then, else 0.

    python bench/tools/run_all.py [SCRIPT ...]     # default: every bench/*.py, in name order
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
VERDICT = re.compile(r"\b(PASS|SHORT|SKIP)\b")


@dataclass
class Outcome:
    script: str
    status: str        # PASS, SKIP, SHORT or ERROR
    minutes: float
    line: str          # the benchmark's own last verdict line (or how it ended)


def _verdict(returncode: int, lines: list[str]) -> tuple[str, str]:
    said = [line.strip() for line in lines if VERDICT.search(line)]
    shorts = [line for line in said if re.search(r"\bSHORT\b", line)]
    if returncode == 0:
        skipped = [line for line in lines if line.lstrip().startswith("SKIP")]
        if skipped and not any(re.search(r"\bPASS\b", line) for line in said):
            return "SKIP", skipped[-1].strip()
        return "PASS", said[-1] if said else "(exit 0, no verdict line)"
    if returncode == 1 and shorts:
        return "SHORT", shorts[-1]
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return "ERROR", f"exit {returncode}: {last}"


def run_one(script: Path) -> Outcome:
    """Run ``script`` with this Python from the repository root, echoing its output."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
    status, said = _verdict(proc.returncode, lines)
    return Outcome(_name(script), status, (time.perf_counter() - start) / 60, said)


def _name(script: Path) -> str:
    try:
        return str(script.resolve().relative_to(ROOT))
    except ValueError:
        return str(script)


def summary(outcomes: list[Outcome]) -> list[str]:
    """The closing lines: one per benchmark, then what was SHORT or failed."""
    total = sum(o.minutes for o in outcomes)
    width = max(len(o.script) for o in outcomes)
    out = [f"benchmarks: {len(outcomes)} in {total:.0f} min"]
    for o in outcomes:
        out.append(f"  {o.status:<5}  {o.script:<{width}}  {o.minutes:5.1f} min  {o.line[:110]}")
    bad = [o for o in outcomes if o.status in ("SHORT", "ERROR")]
    if bad:
        out.append("NOT MET: " + ", ".join(f"{o.script} ({o.status})" for o in bad))
    else:
        out.append("all met (" + ", ".join(f"{sum(o.status == s for o in outcomes)} {s}" for s in ("PASS", "SKIP")) + ")")
    return out


def main(argv: list[str]) -> int:
    scripts = [Path(a).resolve() for a in argv] or sorted(BENCH.glob("*.py"))
    missing = [str(s) for s in scripts if not s.is_file()]
    if missing:
        print(f"run_all: no such benchmark: {', '.join(missing)}", file=sys.stderr)
        return 2
    outcomes: list[Outcome] = []
    try:
        for i, script in enumerate(scripts, 1):
            print(f"\n=== [{i}/{len(scripts)}] {_name(script)} ({time.strftime('%H:%M')})", flush=True)
            outcomes.append(run_one(script))
    except KeyboardInterrupt:
        print("\ninterrupted: the summary covers the benchmarks that finished", flush=True)
    if not outcomes:
        return 130
    print("\n" + "\n".join(summary(outcomes)))
    return 1 if any(o.status in ("SHORT", "ERROR") for o in outcomes) or len(outcomes) < len(scripts) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
