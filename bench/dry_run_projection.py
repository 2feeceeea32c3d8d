"""How well ``autosnn run CONFIG --dry-run`` projects the real run, stage by stage.

In one process: the dry run of CONFIG (its projections kept), then the real campaign
(``run_pipeline`` into a fresh temporary folder), with the stages timed by wrappers that
change nothing they wrap: supernet training (``ensure_supernet``), the extremes check
(``print_extremes``) and the search (``Search.run``: the two extremes, then the
population's evaluations). Each stage's projected and measured times are compared on
both clocks: wall time (what a user waits; stretched by whatever else the machine runs)
and this process's CPU time (what the work costs; one torch thread makes it a wall time
on an idle core). The load average is recorded before and after each part.

Goal: every stage within 25 % of the measured time (wall clock; the CPU-time rows are
also judged). PASS or SHORT per line with both numbers; exits 1 when any row is short;
writes ``bench/results/dry_run_projection.json`` (one entry per repeat, appended).

    python bench/dry_run_projection.py [--config configs/demo.yaml] [--steps 3] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import autosnn.pipeline.run as pipeline_run
from autosnn.atomic import write_json
from autosnn.pipeline.dry_run import DryRun, check_ray
from autosnn.pipeline.projection import size_features
from autosnn.run_folder import RunFolder
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.commands import campaign_data, load_campaign

RESULTS = Path(__file__).parent / "results" / "dry_run_projection.json"
GOAL = 0.25
STAGES = ("supernet training", "extremes check", "search")


def _now() -> np.ndarray:
    return np.array([time.perf_counter(), time.process_time()])


def _load() -> float:
    return os.getloadavg()[0]


def real_run(config: Path, measured: dict[str, np.ndarray], keep: Path | None = None) -> dict:
    """The campaign end to end in a fresh folder (``keep``, or a temporary one), its
    stages timed into ``measured``; returns what its search evaluated (count, mean size)."""
    def timed(stage, fn):
        def wrapper(*args, **kwargs):
            t0 = _now()
            try:
                return fn(*args, **kwargs)
            finally:
                measured[stage] = measured.get(stage, 0) + (_now() - t0)
        return wrapper

    class TimedSearch(pipeline_run.Search):
        run = timed("search", pipeline_run.Search.run)

    saved = (pipeline_run.ensure_supernet, pipeline_run.print_extremes, pipeline_run.Search)
    pipeline_run.ensure_supernet = timed("supernet training", pipeline_run.ensure_supernet)
    pipeline_run.print_extremes = timed("extremes check", pipeline_run.print_extremes)
    pipeline_run.Search = TimedSearch
    try:
        with tempfile.TemporaryDirectory() as tmp:
            campaign = load_campaign(config)
            folder = RunFolder(keep if keep is not None else Path(tmp) / "run")
            t0 = _now()
            pipeline_run.run_pipeline(campaign, folder, device="cpu", progress=False)
            measured["whole run"] = _now() - t0
            evaluations = pd.read_parquet(folder.evaluations)
            sizes = np.mean([size_features(SubnetConfig.from_json(c)) for c in evaluations["config"]], axis=0)
            return {"evaluations": len(evaluations), "mean_size": sizes.tolist(),
                    "mean_seconds": float(evaluations["seconds"].mean())}
    finally:
        pipeline_run.ensure_supernet, pipeline_run.print_extremes, pipeline_run.Search = saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("configs/demo.yaml"))
    ap.add_argument("--steps", type=int, default=3, help="the dry run's --dry-run-steps")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="run the real campaign in this (new) folder and keep it")
    ap.add_argument("--dry-only", action="store_true",
                    help="only the dry run: record its projections (to set beside a real run measured elsewhere)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    short = False
    for rep in range(args.repeats):
        entry: dict = {"config": str(args.config), "steps": args.steps, "threads": args.threads,
                       "cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        campaign = load_campaign(args.config)
        space = pipeline_run.checked_space(campaign, RunFolder(Path(tempfile.gettempdir()) / "no-such-run"))
        data = campaign_data(campaign, space)
        entry["load_before_dry_run"] = _load()
        t0 = _now()
        dry = DryRun(campaign, space, data, torch.device("cpu"), steps=args.steps, progress=False)
        with torch.random.fork_rng(devices=[]):
            dry.measure()
        dry.report(RunFolder(Path("(not written)")), check_ray(campaign))
        entry["dry_run_seconds"] = (_now() - t0).tolist()
        entry["load_after_dry_run"] = _load()
        projected = {clock: {p.stage: p.seconds for p in dry.projections(clock)} for clock in ("wall", "cpu")}
        entry["projected"] = projected
        entry["dry_run_expected_candidate_size"] = dry.expected_candidate_size.tolist()
        if args.dry_only:
            print(json.dumps(projected, indent=1))
            _append(entry)
            continue
        measured: dict[str, np.ndarray] = {}
        entry["load_before_run"] = _load()
        entry["search_evaluated"] = real_run(args.config, measured, args.keep)
        entry["load_after_run"] = _load()
        entry["measured"] = {k: v.tolist() for k, v in measured.items()}
        rows = []
        print(f"\nrepeat {rep + 1}: load {entry['load_before_dry_run']:.2f} -> {entry['load_after_dry_run']:.2f} "
              f"(dry run, {entry['dry_run_seconds'][0]:.1f} s), {entry['load_before_run']:.2f} -> "
              f"{entry['load_after_run']:.2f} (real run, {measured['whole run'][0]:.1f} s)")
        for k, clock in enumerate(("wall", "cpu")):
            for stage in STAGES + ("total",):
                if stage == "total":
                    proj = sum(projected[clock].values())
                    meas = sum(float(measured[s][k]) for s in STAGES)
                else:
                    proj, meas = projected[clock][stage], float(measured[stage][k])
                err = proj / meas - 1
                ok = abs(err) <= GOAL
                short |= not ok
                rows.append({"clock": clock, "stage": stage, "projected_s": proj, "measured_s": meas, "error": err,
                             "pass": ok})
                print(f"{'PASS' if ok else 'SHORT'}  {clock:<4} {stage:<18} projected {proj:8.1f} s  measured "
                      f"{meas:8.1f} s  ({err:+.0%}; goal within {GOAL:.0%})")
        entry["rows"] = rows
        _append(entry)
    return 1 if short else 0


def _append(entry: dict) -> None:
    entries = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    write_json(RESULTS, entries + [entry])


if __name__ == "__main__":
    sys.exit(main())
