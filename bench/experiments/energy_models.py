"""Experiment: the demo campaign's Pareto front and F_AEB pick under each energy model.

One digits-tiny supernet, trained once with the demo campaign's recipe and seed but few
epochs (``--epochs``, default 8 instead of the demo's 60, so that it runs on a shared CPU),
is priced under the three energy models (sops, simple, lemaire):

* a candidate pool of the demo space (its largest and smallest subnets and ``--pool``
  subnets drawn with the demo's seed) is evaluated ONCE per subnet on the validation
  split, with three energy meters attached to the same accuracy pass; so every model sees
  exactly the same candidates and accuracies, and only the energy differs;
* per model: the exact Pareto front of the pool (accuracy vs that model's energy) and the
  F_AEB pick with the demo's alpha = beta = 0.07 and ``E_target`` = that model's energy of
  the largest subnet (the campaign default), and the pick priced under the other models;
* which architecture choices each model rewards: Spearman rank correlation of energy with
  each choice (depth, embedding width, T, mean MLP ratio, mean heads, mean threshold,
  mean tau) over the pool, the mean choices on each front against the pool's, the share
  of each energy component, and the rank agreement between the models.

With ``--search`` it also runs the demo's NSGA-II + ESNN search once per model (same
supernet, same seed; ``runs/energy-models/<model>/``) and reports each run's front and
pick; that takes the demo's 8 generations x 16 candidates per model (about 15 minutes per
model on a loaded 2-core machine), so it is off by default.

An experiment, not a pass/fail benchmark: it has no goal and exits 0 once written.
Results: ``bench/results/energy_models.json``.

    python bench/experiments/energy_models.py [--epochs 8] [--pool 60] [--threads 2] [--search]
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
from autosnn.fitness import EnergyMeter, f_aeb
from autosnn.fitness.energy import energy_model_from_config
from autosnn.fitness.energy_models import PER_INFERENCE
from autosnn.pipeline import run_pipeline
from autosnn.report.front import pareto_mask
from autosnn.report.summary import summarize
from autosnn.run_folder import RunFolder
from autosnn.search_spaces import SubnetConfig
from autosnn.supernet.commands import campaign_data, ensure_supernet

ROOT = Path(__file__).resolve().parents[2]
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


def front_and_pick(df: pd.DataFrame, energy: str, target: float, alpha: float, beta: float) -> tuple[pd.DataFrame, int]:
    """The non-dominated rows of ``df`` (max accuracy, min ``energy``) and the index of the F_AEB pick."""
    mask = pareto_mask(df["accuracy"].to_numpy(float), df[energy].to_numpy(float))
    front = df[mask].sort_values(energy)
    score = f_aeb(front["accuracy"].to_numpy(float), front[energy].to_numpy(float), target, alpha, beta)
    return front, int(front.index[int(np.argmax(score))])


def search_runs(base: Campaign, root: Path, out: dict) -> None:
    """The demo's NSGA-II search once per model on the shared supernet (``--search``)."""
    out["search_runs"] = {}
    for model in MODELS:
        campaign = campaign_for(base, model)
        folder = RunFolder(root / model)
        folder.prepare(campaign)
        if not folder.supernet.exists():
            shutil.copyfile(RunFolder(root / "supernet").supernet, folder.supernet)
        run_pipeline(campaign, folder, device="cpu", progress=False)
        s = summarize(folder.path)
        pick = _cfg(s.row(s.pick)["config"])
        out["search_runs"][model] = {
            "evaluations": int((s.evaluations["status"] == "ok").sum()), "front_size": int(len(s.front)),
            "pick": {"id": s.pick, "config": str(pick), "choices": choices(pick),
                     "accuracy": float(s.row(s.pick)["accuracy"]), "energy_mj": float(s.row(s.pick)["energy_mj"])},
            "front_mean_choices": pd.DataFrame([choices(_cfg(c)) for c in s.front["config"]]).mean().to_dict()}
        print(f"search under {model}: pick {pick}, {out['search_runs'][model]['pick']['energy_mj']:.4g} mJ")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8, help="supernet epochs (the demo trains 60)")
    ap.add_argument("--pool", type=int, default=60, help="random subnets in the candidate pool")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--search", action="store_true", help="also run the demo search once per model (slow)")
    ap.add_argument("--root", type=Path, default=ROOT / "runs" / "energy-models")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = Campaign.from_yaml(ROOT / "configs" / "demo.yaml")
    base = dataclasses.replace(base, supernet=dataclasses.replace(base.supernet, epochs=args.epochs))
    space = base.resolve_space()
    aeb = base.fitness.aeb
    t0 = time.perf_counter()

    # one supernet, trained once (resumable) with the demo's recipe and seed
    campaign = campaign_for(base, "sops")
    folder = RunFolder(args.root / "supernet")
    folder.prepare(campaign)
    data = campaign_data(campaign, space)
    torch.manual_seed(base.seed)
    net = ensure_supernet(campaign, space, folder, data, torch.device("cpu"), progress=False)
    loader = list(data.loader("val", 128))
    costs = {m: energy_model_from_config(campaign_for(base, m).fitness.energy) for m in MODELS}
    print(f"supernet ready ({time.perf_counter() - t0:.0f} s); pricing the pool", flush=True)

    rng = np.random.default_rng(base.seed)
    pool = [space.largest(), space.smallest()]
    while len(pool) < args.pool + 2:
        cfg = space.sample(rng)
        if cfg not in pool:
            pool.append(cfg)
    records = []
    for k, cfg in enumerate(pool):
        acc, reps = price(net, cfg, loader, costs)
        rec = {"config": str(cfg), "accuracy": acc, **choices(cfg)}
        for m, r in reps.items():
            rec[f"E_{m}"] = r.energy_mj
            for c, v in r.components_mj.items():
                rec[f"{m}:{c}"] = v
        records.append(rec)
        if (k + 1) % 10 == 0:
            print(f"  priced {k + 1}/{len(pool)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(records)

    out: dict = {"what": __doc__.split("\n\n")[0], "per_inference": PER_INFERENCE, "supernet_epochs": args.epochs,
                 "campaign": "configs/demo.yaml (supernet.epochs overridden)", "seed": base.seed,
                 "pool": {"subnets": len(pool), "drawn": args.pool, "plus": ["largest", "smallest"]},
                 "supernet_val_accuracy": {"largest": float(df["accuracy"][0]), "smallest": float(df["accuracy"][1])},
                 "energy_models": {m: {"params": c.params(), "describe": c.describe()} for m, c in costs.items()},
                 "fronts": {}}
    print("\n== per model: exact front of the pool and F_AEB pick (mJ per inference)")
    for m in MODELS:
        target = float(df[f"E_{m}"][0])  # the largest subnet: the campaign's default E_target
        front, pick = front_and_pick(df, f"E_{m}", target, aeb.alpha, aeb.beta)
        p = df.loc[pick]
        out["fronts"][m] = {
            "target_mj": target, "front_size": int(len(front)),
            "front": [{"config": r["config"], "accuracy": float(r["accuracy"]), "energy_mj": float(r[f"E_{m}"])}
                      for _, r in front.iterrows()],
            "pick": {"config": p["config"], "accuracy": float(p["accuracy"]),
                     "choices": {c: float(p[c]) for c in CHOICES},
                     "energy_mj_under": {o: float(p[f"E_{o}"]) for o in MODELS},
                     "energy_rank_under": {o: int((df[f"E_{o}"] < p[f"E_{o}"]).sum()) + 1 for o in MODELS}},
            "front_mean_choices": {c: float(front[c].mean()) for c in CHOICES},
        }
        print(f"{m:<8} front {len(front):>2}/{len(df)} | pick {p['config']} acc {p['accuracy']:.4f} | "
              + " | ".join(f"{o} {p[f'E_{o}']:.4g}" for o in MODELS))
        print("         front mean: " + ", ".join(f"{c} {front[c].mean():.2f}" for c in CHOICES))
    print("         pool  mean: " + ", ".join(f"{c} {df[c].mean():.2f}" for c in CHOICES))
    out["pool_mean_choices"] = {c: float(df[c].mean()) for c in CHOICES}

    rho = {m: {c: float(df[f"E_{m}"].corr(df[c], method="spearman")) for c in CHOICES} for m in MODELS}
    agree = {f"{a} vs {b}": float(df[f"E_{a}"].corr(df[f"E_{b}"], method="spearman"))
             for i, a in enumerate(MODELS) for b in MODELS[i + 1:]}
    shares = {m: {c.split(":", 1)[1]: float((df[c] / df[f"E_{m}"]).mean()) for c in df.columns if c.startswith(f"{m}:")}
              for m in MODELS}
    print("\n== Spearman rho(energy, choice) over the pool, and mean component shares")
    for m in MODELS:
        print(f"{m:<8} " + " ".join(f"{c} {rho[m][c]:+.2f}" for c in CHOICES)
              + " | " + ", ".join(f"{c} {v:.0%}" for c, v in shares[m].items()))
    print("rank agreement of energies between models: " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    out["choice_analysis"] = {"spearman_energy_vs_choice": rho, "component_shares": shares,
                              "spearman_between_models": agree,
                              "energy_ratio_max_over_min": {m: float(df[f"E_{m}"].max() / df[f"E_{m}"].min())
                                                           for m in MODELS}}
    out["pool_table"] = records
    if args.search:
        search_runs(base, args.root, out)
    out["seconds"] = time.perf_counter() - t0
    write_json(args.out, out)
    print(f"wrote {args.out} ({out['seconds']:.0f} s)")
    return 0


def _cfg(value) -> SubnetConfig:
    """A SubnetConfig from the evaluations table's JSON column."""
    return SubnetConfig.from_json(value) if isinstance(value, str) else SubnetConfig.from_dict(value)


if __name__ == "__main__":
    sys.exit(main())
