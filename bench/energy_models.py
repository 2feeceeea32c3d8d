"""Experiment: the demo campaign's Pareto front and F_AEB pick under each energy model.

One digits-tiny supernet, trained once with the demo campaign's recipe but few epochs
(``--epochs``, default 8 instead of the demo's 60, so that it runs on a shared CPU), is
searched three times with the demo's NSGA-II + ESNN settings and seed, once per energy
model (``fitness.energy.model``: sops, simple, lemaire; every other setting equal). Then

1. each run's front and F_AEB pick (the pick's config, accuracy and energy), and the three
   picks priced under all three models (one validation pass each, three meters attached);
2. which architecture choices each model rewards: a fixed random sample of subnets
   (``--sample``) is priced under the three models in one pass per subnet, and for each
   model we report the Spearman rank correlation of energy with each choice (depth,
   embedding width, T, mean MLP ratio, mean heads, mean threshold, mean tau), the share of
   each energy component, and the rank agreement between models;
3. the mean of each choice over each model's front, against the mean over all evaluations.

An experiment, not a pass/fail benchmark: it has no goal and always exits 0 once written.
Runs live in ``runs/energy-models/<model>/`` (resumable: a finished run is reused) and the
results in ``bench/results/energy_models.json``.

    python bench/energy_models.py [--epochs 8] [--sample 48] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from autosnn.atomic import write_json
from autosnn.campaign import Campaign
from autosnn.fitness import EnergyMeter
from autosnn.fitness.energy import energy_model_from_config
from autosnn.fitness.energy_models import PER_INFERENCE
from autosnn.pipeline import run_pipeline
from autosnn.report.summary import summarize
from autosnn.run_folder import RunFolder
from autosnn.search_spaces import SubnetConfig
from autosnn.supernet.commands import campaign_data, ensure_supernet

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "energy_models.json"
MODELS = ("sops", "simple", "lemaire")
CHOICES = ("depth", "embed_dim", "time_steps", "mlp_ratio", "num_heads", "v_threshold", "tau")


def choices(cfg: SubnetConfig) -> dict[str, float]:
    """The architecture choices of a subnet, per-block ones averaged over its blocks."""
    out = {}
    for k in CHOICES:
        v = getattr(cfg, k)
        out[k] = float(np.mean(v)) if isinstance(v, (tuple, list)) else float(v)
    return out


@torch.no_grad()
def price(net, cfg: SubnetConfig, loader, costs: dict) -> tuple[float, dict]:
    """Accuracy of ``cfg`` on ``loader`` and its energy report under every model, from ONE pass."""
    net.set_config(cfg)
    net.eval()
    meters = {name: EnergyMeter(net, energy_model=em) for name, em in costs.items()}
    correct = seen = 0
    with contextlib.ExitStack() as stack:
        for m in meters.values():
            stack.enter_context(m)
        for x, y in loader:
            correct += int((net(x).argmax(1) == y).sum())
            seen += int(y.numel())
    return correct / seen, {name: m.report(samples=seen) for name, m in meters.items()}


def campaign_for(base: Campaign, model: str) -> Campaign:
    energy = dataclasses.replace(base.fitness.energy, model=model)
    return dataclasses.replace(base, name=f"demo-{model}", fitness=dataclasses.replace(base.fitness, energy=energy))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8, help="supernet epochs (the demo trains 60)")
    ap.add_argument("--sample", type=int, default=48, help="random subnets priced for the choice analysis")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", type=Path, default=ROOT / "runs" / "energy-models")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = Campaign.from_yaml(ROOT / "configs" / "demo.yaml")
    base = dataclasses.replace(base, supernet=dataclasses.replace(base.supernet, epochs=args.epochs))
    space = base.resolve_space()
    t0 = time.perf_counter()

    runs: dict[str, dict] = {}
    for i, model in enumerate(MODELS):
        campaign = campaign_for(base, model)
        folder = RunFolder(args.root / model)
        folder.prepare(campaign)
        if i and not folder.supernet.exists():  # the same supernet for every model
            shutil.copyfile(RunFolder(args.root / MODELS[0]).supernet, folder.supernet)
        print(f"== {model}: search ({time.perf_counter() - t0:.0f} s)", flush=True)
        run_pipeline(campaign, folder, device="cpu", progress=False)
        s = summarize(folder.path)
        front = s.front
        runs[model] = {"summary": s, "front": front}

    # the supernet and validation split shared by the three runs
    campaign = campaign_for(base, MODELS[0])
    data = campaign_data(campaign, space)
    net = ensure_supernet(campaign, space, RunFolder(args.root / MODELS[0]), data, torch.device("cpu"), progress=False)
    loader = list(data.loader("val", 128))
    costs = {m: energy_model_from_config(campaign_for(base, m).fitness.energy) for m in MODELS}

    out: dict = {"what": __doc__.split("\n\n")[0], "per_inference": PER_INFERENCE,
                 "supernet_epochs": args.epochs, "campaign": "configs/demo.yaml (supernet.epochs overridden)",
                 "search": {"algorithm": base.search.algorithm, "population": base.search.population,
                            "generations": base.search.generations, "seed": base.seed},
                 "energy_models": {m: {"params": c.params(), "describe": c.describe()} for m, c in costs.items()},
                 "runs": {}, "picks_cross_priced": {}}
    print("\n== fronts and F_AEB picks")
    for model in MODELS:
        s, front = runs[model]["summary"], runs[model]["front"]
        pick = s.row(s.pick)
        pick_cfg = _cfg(pick["config"])
        rows = [{"id": r["id"], "config": r["config"], "accuracy": float(r["accuracy"]),
                 "energy_mj": float(r["energy_mj"]), "f_aeb": float(r["f_aeb"])} for _, r in front.iterrows()]
        all_ok = s.evaluations[s.evaluations["status"] == "ok"]
        front_choices = pd.DataFrame([choices(_cfg(r["config"])) for r in rows]).mean().to_dict()
        all_choices = pd.DataFrame([choices(_cfg(c)) for c in all_ok["config"]]).mean().to_dict()
        out["runs"][model] = {
            "evaluations": int(len(all_ok)), "front_size": len(rows), "front": rows,
            "target_mj": s.target.target_mj,
            "pick": {"id": s.pick, "config": str(pick_cfg), "choices": choices(pick_cfg),
                     "accuracy": float(pick["accuracy"]), "energy_mj": float(pick["energy_mj"])},
            "front_mean_choices": front_choices, "all_evaluated_mean_choices": all_choices,
        }
        p = out["runs"][model]["pick"]
        print(f"{model:<8} front {len(rows):>2} of {len(all_ok)} | pick {p['config']}: accuracy {p['accuracy']:.4f}, "
              f"{p['energy_mj']:.4g} mJ | front mean: " + ", ".join(f"{k} {v:.2f}" for k, v in front_choices.items()))

    print("\n== the three picks priced under every model (mJ per inference)")
    for model in MODELS:
        cfg = _cfg(runs[model]["summary"].row(runs[model]["summary"].pick)["config"])
        acc, reps = price(net, cfg, loader, costs)
        out["picks_cross_priced"][model] = {"config": str(cfg),
                                            "accuracy": acc,
                                            "energy_mj": {m: r.energy_mj for m, r in reps.items()},
                                            "components_mj": {m: r.components_mj for m, r in reps.items()}}
        print(f"pick of {model:<8} acc {acc:.4f} | " + " | ".join(f"{m} {r.energy_mj:.4g}" for m, r in reps.items()))

    print(f"\n== which choices each model rewards: {args.sample} random subnets, Spearman rho(energy, choice)")
    rng = np.random.default_rng(base.seed)
    records = []
    for k in range(args.sample):
        cfg = space.sample(rng)
        acc, reps = price(net, cfg, loader, costs)
        rec = {"accuracy": acc, **choices(cfg)}
        for m, r in reps.items():
            rec[f"E_{m}"] = r.energy_mj
            for c, v in r.components_mj.items():
                rec[f"{m}:{c}"] = v
        records.append(rec)
        if (k + 1) % 12 == 0:
            print(f"  priced {k + 1}/{args.sample} ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(records)
    rho = {m: {c: float(df[f"E_{m}"].corr(df[c], method="spearman")) for c in CHOICES} for m in MODELS}
    agree = {f"{a} vs {b}": float(df[f"E_{a}"].corr(df[f"E_{b}"], method="spearman"))
             for i, a in enumerate(MODELS) for b in MODELS[i + 1:]}
    shares = {m: {c.split(":", 1)[1]: float((df[c] / df[f"E_{m}"]).mean()) for c in df.columns if c.startswith(f"{m}:")}
              for m in MODELS}
    for m in MODELS:
        print(f"{m:<8} " + " ".join(f"{c} {rho[m][c]:+.2f}" for c in CHOICES)
              + " | shares " + ", ".join(f"{c} {v:.0%}" for c, v in shares[m].items()))
    print("rank agreement between models: " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    out["choice_analysis"] = {"subnets": args.sample, "spearman_energy_vs_choice": rho, "component_shares": shares,
                              "spearman_between_models": agree,
                              "energy_ratio_max_over_min": {m: float(df[f"E_{m}"].max() / df[f"E_{m}"].min())
                                                           for m in MODELS}}
    out["seconds"] = time.perf_counter() - t0
    write_json(args.out, out)
    print(f"wrote {args.out} ({out['seconds']:.0f} s)")
    return 0


def _cfg(value) -> SubnetConfig:
    """A SubnetConfig from the evaluations table's JSON column."""
    return SubnetConfig.from_json(value) if isinstance(value, str) else SubnetConfig.from_dict(value)


if __name__ == "__main__":
    sys.exit(main())
