"""What NeuroBench's benchmark costs beside autosnn's own ``evaluate`` on an export's
validation split (no goal this round), and where NeuroBench's time goes.

Side by side in one process, interleaved and repeated: (a) autosnn's evaluation (one pass,
accuracy + sops energy hooks: ``autosnn evaluate``), (b) NeuroBench 2.3's ``Benchmark`` on
the same samples and batches (``run_neurobench``: what ``autosnn evaluate --neurobench``
adds), (c) the whole ``--neurobench`` work (both, plus autosnn's tap counts). Then one
profiled NeuroBench run, its time split per metric (each metric's ``__call__`` timed), the
model's forward passes (with NeuroBench's hooks storing every layer input and neuron
output) and the rest of its loop.

    PYTHONPATH=. python bench/experiments/neurobench_cost.py EXPORT_DIR [--repeats 3]

Writes ``bench/results/neurobench_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autosnn.atomic import write_json  # noqa: E402
from autosnn.export.evaluate import evaluate_export, export_data, measure  # noqa: E402
from autosnn.export.files import load_subnet  # noqa: E402
from autosnn.export.neurobench import (STATIC_METRICS, WORKLOAD_METRICS, neurobench_export,  # noqa: E402
                                       require_neurobench, run_neurobench)

OUT = ROOT / "bench" / "results" / "neurobench_cost.json"


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _nb_loader(export: Path):
    from torch.utils.data import DataLoader, Subset, default_collate

    cfg, config, metrics, campaign, data = export_data(export)
    ev = metrics.get("evaluation") or {}
    bs = int(ev.get("batch_size") or campaign.data.batch_size)
    cap = ev.get("max_val_batches")
    ds = data.split("val")
    n = min(len(ds), cap * bs) if cap else len(ds)
    return DataLoader(Subset(ds, list(range(n))), batch_size=bs, collate_fn=default_collate), n, bs


def profile_neurobench(model, loader) -> dict[str, float]:
    """Seconds per part of one NeuroBench run: every metric's ``__call__``, the forward
    passes of the wrapped model, and the rest."""
    from neurobench.metrics import static, workload

    from autosnn.export.neurobench_model import SpikingJellyModel

    spent: dict[str, float] = {}
    patched = []

    def wrap(cls, key):
        real = cls.__call__

        def timed(self, *a, **k):
            t = time.perf_counter()
            try:
                return real(self, *a, **k)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t
        cls.__call__ = timed
        patched.append((cls, real))

    for name in STATIC_METRICS:
        wrap(getattr(static, name), name)
    for name in WORKLOAD_METRICS:
        wrap(getattr(workload, name), name)
    wrap(SpikingJellyModel, "forward passes (hooks storing inputs and outputs)")
    try:
        total, _ = _timed(lambda: run_neurobench(model, loader))
    finally:
        for cls, real in patched:
            cls.__call__ = real
    spent["rest of NeuroBench's loop (hooks reset, data, setup)"] = total - sum(spent.values())
    spent["total"] = total
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export", type=Path, help="an export folder (e.g. runs/demo/exports/<id>)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    version = require_neurobench()
    torch.set_num_threads(1)
    export = args.export
    model = load_subnet(export)
    loader, samples, bs = _nb_loader(export)
    _, _, metrics, campaign, data = export_data(export)
    cap = (metrics.get("evaluation") or {}).get("max_val_batches")
    cpu = torch.device("cpu")
    ours_pass = lambda: measure(model, data.loader("val", bs), cpu, campaign, max_batches=cap)  # noqa: E731

    evaluate_export(export, "val")          # warm-up: data, caches, first-call costs
    run_neurobench(model, loader)
    times = {"autosnn evaluate": [], "autosnn pass only (measure)": [], "NeuroBench Benchmark.run": [],
             "evaluate --neurobench (whole)": []}
    for _ in range(args.repeats):           # interleaved: the machine's load hits all of them alike
        times["autosnn evaluate"].append(_timed(lambda: evaluate_export(export, "val"))[0])
        times["autosnn pass only (measure)"].append(_timed(ours_pass)[0])
        times["NeuroBench Benchmark.run"].append(_timed(lambda: run_neurobench(model, loader))[0])
        times["evaluate --neurobench (whole)"].append(_timed(lambda: neurobench_export(export, "val", write=False))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    parts = profile_neurobench(model, loader)
    ratio = med["NeuroBench Benchmark.run"] / med["autosnn evaluate"]
    ratio_pass = med["NeuroBench Benchmark.run"] / med["autosnn pass only (measure)"]
    whole = med["evaluate --neurobench (whole)"] / med["autosnn evaluate"]
    print(f"export {export} ({samples} validation samples, batches of {bs}), NeuroBench {version}, "
          f"{args.repeats} interleaved repeats, medians:")
    for k, v in med.items():
        print(f"  {k:<34} {v:8.2f} s")
    print(f"  ratio NeuroBench / autosnn evaluate: {ratio:.1f}x (/ its pass alone: {ratio_pass:.1f}x); "
          f"whole --neurobench / evaluate: {whole:.1f}x")
    print("where one NeuroBench run's time goes:")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        if k != "total":
            print(f"  {k:<52} {v:8.2f} s  {100 * v / parts['total']:5.1f}%")
    write_json(OUT, {"export": str(export), "samples": samples, "batch_size": bs, "neurobench_version": version,
                     "repeats": args.repeats, "seconds": times, "median_s": med, "ratio_neurobench_to_evaluate": ratio,
                     "ratio_neurobench_to_pass": ratio_pass,
                     "ratio_whole_to_evaluate": whole, "neurobench_profile_s": parts})
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
