"""NSGA-II + ESNN against random search with the same number of evaluations, on the
trained ``digits-tiny`` supernet of the demo campaign.

For every seed both searches run from scratch (``population x generations``
evaluations each); the final hypervolume (reference: accuracy 0, 1.1 x the largest
subnet's energy; normalised to [0, 1]) is compared: mean, spread, median and their
ratio, written to ``bench/results/search_quality.json``.

The supernet is ``--supernet`` when given, else ``bench/.cache/supernet.pt`` (trained
with the demo recipe the first time, resumable). Evaluations are memoised across runs
(the same subnet of the same supernet gives the same result), and each uses
``--max-val-batches`` validation batches to keep the bench within minutes on a CPU.

    .venv/bin/python bench/search_quality.py [--seeds 5] [--population 10] [--generations 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autosnn.atomic import write_json  # noqa: E402
from autosnn.campaign import Campaign  # noqa: E402
from autosnn.fitness import LocalEvaluator, default_target_mj  # noqa: E402
from autosnn.search import run_search  # noqa: E402
from autosnn.search.search import REFERENCE_FACTOR  # noqa: E402
from autosnn.supernet.commands import campaign_data  # noqa: E402
from autosnn.supernet.training import load_supernet, train_supernet  # noqa: E402


class MemoEvaluator:
    """Caches results by config id across searches (one supernet, deterministic eval)."""

    def __init__(self, inner) -> None:
        self.inner, self.memo, self.computed = inner, {}, 0

    def evaluate(self, configs):
        todo = [c for c in dict.fromkeys(configs) if c.id not in self.memo]
        if todo:
            for cfg, res in zip(todo, self.inner.evaluate(todo)):
                self.memo[cfg.id] = res
            self.computed += len(todo)
        return [self.memo[c.id] for c in configs]

    def close(self) -> None:
        self.inner.close()


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--population", type=int, default=10)
    ap.add_argument("--generations", type=int, default=6)
    ap.add_argument("--max-val-batches", type=int, default=1)
    ap.add_argument("--val-batch-size", type=int, default=256)
    ap.add_argument("--supernet", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_quality.json")
    args = ap.parse_args()
    torch.set_num_threads(1)

    campaign = Campaign.from_yaml(ROOT / "configs" / "demo.yaml")
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    path = args.supernet or ROOT / "bench" / ".cache" / "supernet.pt"
    if args.supernet is None:
        t = time.time()
        train_supernet(space, data, campaign.supernet, batch_size=campaign.data.batch_size, seed=campaign.seed,
                       checkpoint=path, device=torch.device("cpu"), progress=False)
        print(f"supernet ready in {time.time() - t:.0f} s: {path}")
    supernet, ckpt = load_supernet(path, space)
    supernet.eval()
    evaluator = MemoEvaluator(LocalEvaluator(supernet, data, batch_size=args.val_batch_size, device="cpu",
                                             max_val_batches=args.max_val_batches))
    largest = default_target_mj(evaluator, space)
    results: dict[str, list[dict]] = {"nsga2": [], "random": []}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for algorithm in ("nsga2", "random"):
                c = Campaign.from_dict({**campaign.to_dict(), "seed": seed,
                                        "search": {**campaign.to_dict()["search"], "algorithm": algorithm,
                                                   "population": args.population,
                                                   "generations": args.generations}})
                t = time.time()
                res = run_search(c, space, evaluator, Path(tmp) / f"{algorithm}-{seed}", target_mj=largest,
                                 reference_energy_mj=REFERENCE_FACTOR * largest, log=lambda m: None)
                results[algorithm].append({
                    "seed": seed, "hypervolume": res.hypervolume, "evaluations": len(res.evaluations),
                    "front_size": len(res.front), "best_accuracy": float(res.evaluations["accuracy"].max()),
                    "best_f_aeb": float(res.evaluations["f_aeb"].max()),
                    "hypervolume_per_generation": res.history["hypervolume"].tolist(),
                    "seconds": round(time.time() - t, 1)})
                print(f"seed {seed} {algorithm:<6} hv {res.hypervolume:.5f} front {len(res.front):>2} "
                      f"({time.time() - t:.0f} s)", flush=True)
    hv = {a: [r["hypervolume"] for r in rs] for a, rs in results.items()}
    summary = {a: spread(v) for a, v in hv.items()}
    wins = sum(n > r for n, r in zip(hv["nsga2"], hv["random"]))
    report = {
        "bench": "search_quality", "space": space.name, "dataset": campaign.data.name,
        "supernet": str(path), "supernet_epochs": int(ckpt["epoch"]),
        "setting": {"seeds": args.seeds, "population": args.population, "generations": args.generations,
                    "evaluations_per_run": args.population * args.generations,
                    "max_val_batches": args.max_val_batches, "val_batch_size": args.val_batch_size,
                    "reference_energy_mj": REFERENCE_FACTOR * largest,
                    "hypervolume": "normalised: fraction of [0,1] x [0, 1.1 E_largest] dominated"},
        "hypervolume": summary,
        "ratio_mean_nsga2_over_random": summary["nsga2"]["mean"] / summary["random"]["mean"],
        "ratio_median_nsga2_over_random": summary["nsga2"]["median"] / summary["random"]["median"],
        "nsga2_wins": f"{wins}/{args.seeds} seeds",
        "nsga2_ahead_on_median_seed": summary["nsga2"]["median"] > summary["random"]["median"],
        "runs": results, "distinct_evaluations": evaluator.computed,
        "seconds": round(time.time() - t0, 1), "device": "cpu, 1 thread",
    }
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("hypervolume", "ratio_mean_nsga2_over_random",
                                             "ratio_median_nsga2_over_random", "nsga2_wins")}, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
