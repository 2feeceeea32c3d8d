"""Experiment: an evaluation's accuracy and energy counts in bf16 vs fp32 on the CPU.

One digits-tiny supernet (the demo campaign's space, recipe and seed) is trained briefly
in fp32 (``--epochs``, default 4 instead of the demo's 60, so that it runs on a shared
CPU; ``--epochs 0``: random weights, BatchNorm set so that the neurons fire). Then the same candidates (the space's largest and smallest subnets and ``--pool``
subnets drawn with the demo's seed) are evaluated by the campaign's evaluator
(:class:`~autosnn.fitness.LocalEvaluator`: the demo's 16 BatchNorm recalibration batches,
the whole validation split, the sops energy model) twice, with ``precision="fp32"`` and
with ``precision="bf16"`` (CPU bf16 autocast: convolutions, linear maps, BatchNorm and the
LIF neurons run in bf16; the spikes are counted exactly), same inputs. Reported per
subnet and summarised: the accuracy difference, the relative difference of ACs (spikes
moved by bf16 rounding of the membrane potentials) and of energy, MACs (shape-only,
equal), the Kendall tau between the two rankings by accuracy and by energy, and the
seconds of each evaluation (side by side in one process).

An experiment, not a pass/fail benchmark: it has no goal and exits 0 once written.
Results: ``bench/results/bf16_evaluation.json``.

    python bench/experiments/bf16_evaluation.py [--epochs 4] [--pool 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from autosnn.atomic import write_json
from autosnn.campaign import Campaign
from autosnn.fitness import LocalEvaluator
from autosnn.fitness.energy import energy_model_from_config
from autosnn.fitness.sj_reference import excite
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.commands import campaign_data
from autosnn.supernet.training import train_supernet

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "bf16_evaluation.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    campaign = Campaign.from_yaml(ROOT / "configs" / "demo.yaml")
    campaign.supernet = dataclasses.replace(campaign.supernet, epochs=args.epochs, precision="fp32")
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    cpu = torch.device("cpu")
    t0 = time.perf_counter()
    if args.epochs > 0:
        supernet = train_supernet(space, data, campaign.supernet, batch_size=campaign.data.batch_size,
                                  seed=campaign.seed, checkpoint=None, device=cpu, progress=False, log=print)
        what = f"digits-tiny, demo recipe and seed, {args.epochs} epochs in fp32"
    else:   # a random supernet whose neurons fire (BatchNorm set from one training batch)
        torch.manual_seed(campaign.seed)
        supernet = SpikformerSupernet(space)
        excite(supernet, next(iter(data.loader("train", 64, shuffle=True, seed=campaign.seed)))[0], seed=campaign.seed)
        what = "digits-tiny, random weights (seed 0), BatchNorm excited on one training batch (no training)"
    train_s = time.perf_counter() - t0
    rng = np.random.default_rng(campaign.seed)
    configs = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(args.pool)]
    costs = energy_model_from_config(campaign.fitness.energy)
    results, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        evaluator = LocalEvaluator(supernet, data, costs=costs, batch_size=campaign.data.batch_size, device=cpu,
                                   bn_recalibration_batches=campaign.fitness.bn_recalibration_batches,
                                   max_val_batches=campaign.fitness.max_val_batches, precision=precision)
        t0 = time.perf_counter()
        results[precision] = evaluator.evaluate(configs)
        seconds[precision] = time.perf_counter() - t0
    rows = []
    for cfg, a, b in zip(configs, results["fp32"], results["bf16"]):
        assert a.status == b.status == "ok", (a.reason, b.reason)
        rows.append({"config": str(cfg), "fp32": {"accuracy": a.accuracy, "energy_mj": a.energy_mj, "acs": a.acs,
                                                   "macs": a.macs},
                     "bf16": {"accuracy": b.accuracy, "energy_mj": b.energy_mj, "acs": b.acs, "macs": b.macs},
                     "accuracy_diff_points": 100 * (b.accuracy - a.accuracy),
                     "acs_rel_diff": (b.acs - a.acs) / a.acs if a.acs else 0.0,
                     "energy_rel_diff": (b.energy_mj - a.energy_mj) / a.energy_mj})
    acc32 = [r["fp32"]["accuracy"] for r in rows]
    acc16 = [r["bf16"]["accuracy"] for r in rows]
    e32 = [r["fp32"]["energy_mj"] for r in rows]
    e16 = [r["bf16"]["energy_mj"] for r in rows]
    summary = {
        "supernet": f"{what} ({train_s:.0f} s)",
        "candidates": len(rows), "validation_images": len(data.val),
        "max_val_batches": campaign.fitness.max_val_batches,
        "bn_recalibration_batches": campaign.fitness.bn_recalibration_batches,
        "accuracy_diff_points": {"mean": float(np.mean([r["accuracy_diff_points"] for r in rows])),
                                 "max_abs": float(np.max(np.abs([r["accuracy_diff_points"] for r in rows])))},
        "acs_rel_diff": {"mean": float(np.mean([r["acs_rel_diff"] for r in rows])),
                         "max_abs": float(np.max(np.abs([r["acs_rel_diff"] for r in rows])))},
        "energy_rel_diff": {"mean": float(np.mean([r["energy_rel_diff"] for r in rows])),
                            "max_abs": float(np.max(np.abs([r["energy_rel_diff"] for r in rows])))},
        "macs_equal": all(r["fp32"]["macs"] == r["bf16"]["macs"] for r in rows),
        "kendall_tau_accuracy": float(kendalltau(acc32, acc16).statistic),
        "kendall_tau_energy": float(kendalltau(e32, e16).statistic),
        "seconds": seconds, "threads": args.threads,
    }
    for r in rows:
        print(f"{r['config'][:60]:<60} acc {r['fp32']['accuracy']:.4f} -> {r['bf16']['accuracy']:.4f}  "
              f"ACs {r['acs_rel_diff']:+.2%}  energy {r['energy_rel_diff']:+.2%}")
    print({k: v for k, v in summary.items() if k != "supernet"})
    write_json(RESULTS, {"summary": summary, "rows": rows})
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
