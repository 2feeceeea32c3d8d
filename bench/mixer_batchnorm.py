"""Shared or per-mixer BatchNorm after the token mixer's output projection?

In the ``digits-mixer`` supernet, SSA and the two Q-K attentions share the output
projection conv, but what enters it differs per mixer (SSA: spikes of ``(v k^T) q``
through a neuron; Q-K: ``mask * k``), so the BatchNorm after it sees other statistics for
each mixer. Two supernets are trained side by side with the same recipe, seed, initial
weights, sampled subnets and batches; only the BatchNorm layout differs: one BatchNorm
shared by all mixers (the default), or one per Q-K mixer (SSA keeps its own,
``SpikformerSupernet(per_mixer_bn=True)``). Per training seed, on the same subnets:

* validation accuracy of mixed subnets (at least one Q-K block) and of all-SSA subnets,
  with the supernet's own BatchNorm statistics (the evaluator's default);
* the same after BN recalibration (8 training batches): the gap ``recalibrated - own``
  measures how far the supernet's statistics are from the subnet's own.

Goal (the default layout is justified): the default layout's (``PER_MIXER_BN``) mean
accuracy on mixed subnets >= the other layout's, averaged over the seeds. PASS/SHORT,
exit 1 when short;
results in ``bench/results/mixer_batchnorm.json``. Supernets are those of
``bench/token_mixer.py`` (cached in ``bench/.cache/token_mixer/``).

    .venv/bin/python bench/mixer_batchnorm.py [--seeds 2] [--subnets 24] [--epochs 25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autosnn.atomic import write_json  # noqa: E402
from autosnn.campaign import Campaign  # noqa: E402
from autosnn.fitness import LocalEvaluator  # noqa: E402
from autosnn.supernet.commands import campaign_data  # noqa: E402

from autosnn.supernet.supernet import PER_MIXER_BN  # noqa: E402
from token_mixer import EPOCHS, trained  # noqa: E402  (bench/ is the script's folder)

RECALIBRATION_BATCHES = 8


def subnets(space, n: int, seed: int = 123):
    """``n`` mixed subnets and ``n // 2`` all-SSA subnets, drawn uniformly."""
    rng = np.random.default_rng(seed)
    mixed, ssa = [], []
    while len(mixed) < n or len(ssa) < n // 2:
        c = space.sample(rng)
        if c.all_ssa and len(ssa) < n // 2:
            ssa.append(c)
        elif not c.all_ssa and len(mixed) < n:
            mixed.append(c)
    return {"mixed": mixed, "all_ssa": ssa}


def accuracies(net, data, configs, recalibration: int) -> list[float]:
    ev = LocalEvaluator(net, data, batch_size=512, device="cpu", bn_recalibration_batches=recalibration)
    return [r.accuracy for r in ev.evaluate(configs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--subnets", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mixer_batchnorm.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    base = Campaign.from_yaml(ROOT / "configs" / "demo-mixer.yaml")
    space = base.resolve_space()
    data = campaign_data(base, space)
    groups = subnets(space, args.subnets)
    runs = []
    for seed in range(args.seeds):
        campaign = Campaign.from_dict({**base.to_dict(), "seed": seed})
        nets = {"per_mixer": trained(space, True, campaign, args.epochs, data, "mixer-per-mixer-bn"),
                "shared": trained(space, False, campaign, args.epochs, data, "mixer-shared-bn")}
        row: dict = {"seed": seed}
        for group, configs in groups.items():
            for layout, net in nets.items():
                own = accuracies(net, data, configs, 0)
                recal = accuracies(net, data, configs, RECALIBRATION_BATCHES)
                row[f"{group}/{layout}"] = {
                    "mean": statistics.fmean(own), "median": statistics.median(own),
                    "recalibrated_mean": statistics.fmean(recal),
                    "recalibration_gap": statistics.fmean(r - o for r, o in zip(recal, own)),
                    "per_subnet": own}
                print(f"seed {seed} {group:<7} {layout:<9} accuracy {row[f'{group}/{layout}']['mean']:.4f}  "
                      f"recalibrated {row[f'{group}/{layout}']['recalibrated_mean']:.4f}", flush=True)
            a, b = row[f"{group}/per_mixer"]["per_subnet"], row[f"{group}/shared"]["per_subnet"]
            row[f"{group}/per_mixer_better"] = f"{sum(x > y for x, y in zip(a, b))}/{len(a)} (ties {sum(x == y for x, y in zip(a, b))})"
        runs.append(row)
        del nets

    def avg(key: str, field: str) -> float:
        return statistics.fmean(r[key][field] for r in runs)

    summary = {f"{g}/{layout}": {"mean": avg(f"{g}/{layout}", "mean"),
                                 "recalibrated_mean": avg(f"{g}/{layout}", "recalibrated_mean"),
                                 "recalibration_gap": avg(f"{g}/{layout}", "recalibration_gap")}
               for g in groups for layout in ("per_mixer", "shared")}
    per, shared = summary["mixed/per_mixer"]["mean"], summary["mixed/shared"]["mean"]
    default, other = ("per_mixer", "shared") if PER_MIXER_BN else ("shared", "per_mixer")
    passed = summary[f"mixed/{default}"]["mean"] >= summary[f"mixed/{other}"]["mean"]
    report = {"bench": "mixer_batchnorm", "space": space.name, "dataset": base.data.name,
              "goal": f"the default layout's ({default}) mean validation accuracy on mixed subnets >= the "
                      f"{other} layout's (mean over training seeds)", "default_layout": default, "pass": passed,
              "setting": {"seeds": args.seeds, "supernet_epochs": args.epochs, "mixed_subnets": len(groups["mixed"]),
                          "all_ssa_subnets": len(groups["all_ssa"]), "recalibration_batches": RECALIBRATION_BATCHES},
              "summary": summary, "runs": runs, "seconds": round(time.time() - t0, 1),
              "device": "cpu, 1 thread (2 shared, loaded cores)"}
    write_json(args.out, report)
    print(json.dumps(summary, indent=2))
    print(f"{'PASS' if passed else 'SHORT'}: mixed subnets' mean accuracy per-mixer BN {per:.4f} vs shared BN "
          f"{shared:.4f} (goal: the default, {default}, >= {other}); written {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
