"""Token-mixer search: the front of ``digits-mixer`` (every block picks SSA, token or
channel Q-K attention) against the front of the same space restricted to SSA
(``digits-tiny``: the same dimensions without ``attention``), on the embedded digits.

Both spaces get their own supernet, trained once with the same recipe (the demo's, for
``--epochs`` epochs), the same seed and the same batches; then NSGA-II + ESNN runs on each
with the same population, generations and seeds (>= 3). A third search, ``ssa@mixer``,
searches the SSA-only restriction on the mixer supernet's weights (what the mixer
dimension adds with the weights held fixed). Compared per seed:

* hypervolume of the final fronts in ONE normalised box: objectives ``(-accuracy,
  energy_mJ)`` scaled to [0, 1] between the ideal and the nadir point of the union of all
  final fronts (both spaces, all seeds), reference point 1.1 on both axes, divided by 1.21
  (so 1.0 = the whole box);
* the energy the mixer search needs to reach the best accuracy of the SSA front (the
  cheapest mixer evaluation at least as accurate), against the SSA front's own cost;
* what the mixer search picks per block (counts over its front members).

Goal: the mixer front's hypervolume >= the SSA front's on the median seed (medians over
the seeds). PASS or SHORT is printed with both numbers; exit status 1 when short.

The shared vs per-mixer output-projection BatchNorm is measured by
``bench/mixer_batchnorm.py`` (which reuses this file's supernets).

Trained supernets are cached in ``bench/.cache/token_mixer/`` (a rerun resumes from
them). Results: ``bench/results/token_mixer.json``.

    .venv/bin/python bench/token_mixer.py [--seeds 3] [--population 12] [--generations 5] [--epochs 10]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autosnn.atomic import write_bytes, write_json  # noqa: E402
from autosnn.campaign import Campaign  # noqa: E402
from autosnn.fitness import LocalEvaluator, default_target_mj  # noqa: E402
from autosnn.search import run_search  # noqa: E402
from autosnn.search.search import REFERENCE_FACTOR  # noqa: E402
from autosnn.search_spaces import SearchSpace  # noqa: E402
from autosnn.search_spaces.subnet_config import SubnetConfig  # noqa: E402
from autosnn.supernet import SpikformerSupernet  # noqa: E402
from autosnn.supernet.supernet import PER_MIXER_BN  # noqa: E402
from autosnn.supernet.commands import campaign_data  # noqa: E402
from autosnn.supernet.training import Trainer, subnets_for_step, train_loader  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "token_mixer"
#: Supernet training epochs (the demo recipe otherwise); shared with bench/mixer_batchnorm.py.
EPOCHS = 25


class MemoEvaluator:
    """Caches results by config id across searches of one space (deterministic evaluation)."""

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


def trained(space: SearchSpace, per_mixer_bn: bool, campaign: Campaign, epochs: int, data, tag: str) -> SpikformerSupernet:
    """The supernet of ``space`` after ``epochs`` epochs of the campaign's recipe, seeded by
    ``campaign.seed`` (cached; the same seed gives the same init, subnets and batches)."""
    path = CACHE / f"{tag}-e{epochs}-s{campaign.seed}.pt"
    torch.manual_seed(campaign.seed)
    rng = np.random.default_rng(campaign.seed)
    net = SpikformerSupernet(space, per_mixer_bn=per_mixer_bn)
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        print(f"{tag}: cached supernet {path.relative_to(ROOT)}", flush=True)
        return net.eval()
    recipe = replace(campaign.supernet, epochs=epochs)
    bs, seed = campaign.data.batch_size, campaign.seed
    trainer = Trainer(net, recipe, len(train_loader(data, bs, seed, 0, 0)), torch.device("cpu"))
    t = time.time()
    for epoch in range(epochs):
        passes = lambda: [lambda c=c: net.set_config(c) for c in subnets_for_step(space, recipe.sampling, rng)]  # noqa: E731
        loss = trainer.epoch(train_loader(data, bs, seed, epoch, 0), tag, False, passes)
        print(f"{tag}: epoch {epoch + 1}/{epochs} loss {loss:.3f} ({time.time() - t:.0f} s)", flush=True)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    write_bytes(path, buf.getvalue())
    return net.eval()


def points(front) -> np.ndarray:
    return np.stack([-front["accuracy"].to_numpy(float), front["energy_mj"].to_numpy(float)], axis=1)


def hypervolume(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    from pymoo.indicators.hv import HV

    scale = np.where(nadir > ideal, nadir - ideal, 1.0)
    return float(HV(ref_point=np.array([1.1, 1.1]))((F - ideal) / scale)) / 1.21


def cheapest_reaching(evaluations, accuracy: float) -> float | None:
    ok = evaluations[evaluations["accuracy"].astype(float) >= accuracy - 1e-12]
    return float(ok["energy_mj"].astype(float).min()) if len(ok) else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--mixer-epochs", type=int, default=None,
                    help="epochs of the mixer supernet (default: --epochs, the same budget as the SSA one)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "token_mixer.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()

    campaign = Campaign.from_yaml(ROOT / "configs" / "demo-mixer.yaml")
    mixer_space = campaign.resolve_space()
    ssa_space = SearchSpace.builtin("digits-tiny")
    assert {k: v for k, v in mixer_space.choices.items() if k != "attention"} == dict(ssa_space.choices)
    data = campaign_data(campaign, mixer_space)

    mixer_epochs = args.mixer_epochs or args.epochs
    layout = "per-mixer-bn" if PER_MIXER_BN else "shared-bn"  # the supernet's default BatchNorm layout
    sup_mix = trained(mixer_space, PER_MIXER_BN, campaign, mixer_epochs, data, f"mixer-{layout}")
    sup_ssa = trained(ssa_space, True, campaign, args.epochs, data, "ssa")

    restricted = SearchSpace.from_dict({**mixer_space.to_dict(), "name": "digits-mixer-ssa-only",
                                        "dimensions": {**mixer_space.to_dict()["dimensions"], "attention": ["ssa"]}})
    on_mix = MemoEvaluator(LocalEvaluator(sup_mix, data, batch_size=512, device="cpu"))
    evaluators = {"ssa": MemoEvaluator(LocalEvaluator(sup_ssa, data, batch_size=512, device="cpu")),
                  "mixer": on_mix, "ssa@mixer": on_mix}
    spaces = {"ssa": ssa_space, "mixer": mixer_space, "ssa@mixer": restricted}
    target = default_target_mj(evaluators["ssa"], ssa_space)  # the same F_AEB target for all searches
    results: dict[str, list] = {name: [] for name in spaces}
    with tempfile.TemporaryDirectory() as tmp:
        space_file = Path(tmp) / "restricted.yaml"
        space_file.write_text(json.dumps(restricted.to_dict()))
        for seed in range(args.seeds):
            for name in spaces:
                space_ref = str(space_file) if name == "ssa@mixer" else spaces[name].name
                c = Campaign.from_dict({**campaign.to_dict(), "seed": seed, "space": space_ref,
                                        "search": {**campaign.to_dict()["search"], "population": args.population,
                                                   "generations": args.generations}})
                t = time.time()
                res = run_search(c, spaces[name], evaluators[name], Path(tmp) / f"{name}-{seed}", target_mj=target,
                                 reference_energy_mj=REFERENCE_FACTOR * target, log=lambda m: None)
                results[name].append(res)
                print(f"seed {seed} {name:<9} front {len(res.front):>2}, best accuracy "
                      f"{res.evaluations['accuracy'].max():.4f}, {len(res.evaluations)} evaluations "
                      f"({time.time() - t:.0f} s)", flush=True)

    fronts = {k: [points(r.front) for r in rs] for k, rs in results.items()}
    union = np.concatenate([F for fs in fronts.values() for F in fs])
    ideal, nadir = union.min(0), union.max(0)
    hv = {k: [hypervolume(F, ideal, nadir) for F in fs] for k, fs in fronts.items()}
    reach = []
    for r_ssa, r_mix, r_restricted in zip(results["ssa"], results["mixer"], results["ssa@mixer"]):
        best = float(r_ssa.front["accuracy"].astype(float).max())
        e_ssa, e_mix = cheapest_reaching(r_ssa.evaluations, best), cheapest_reaching(r_mix.evaluations, best)
        reach.append({"ssa_best_accuracy": best, "ssa_energy_mj": e_ssa, "mixer_energy_mj": e_mix,
                      "mixer_over_ssa": (e_mix / e_ssa) if e_mix is not None else None,
                      "ssa@mixer_best_accuracy": float(r_restricted.front["accuracy"].astype(float).max()),
                      "mixer_best_accuracy": float(r_mix.front["accuracy"].astype(float).max())})
    picks: dict[str, Counter] = {}
    members = []
    for seed, r in enumerate(results["mixer"]):
        for _, row in r.front.iterrows():
            cfg = SubnetConfig.from_json(row["config"])
            members.append({"seed": seed, "accuracy": float(row["accuracy"]), "energy_mj": float(row["energy_mj"]),
                            "arch": cfg.arch_string, "attention": cfg.attention_string})
            for b, m in enumerate(cfg.attention):
                picks.setdefault(f"block{b}", Counter())[m] += 1
    med = {k: statistics.median(v) for k, v in hv.items()}
    passed = med["mixer"] >= med["ssa"]
    report = {
        "bench": "token_mixer", "dataset": campaign.data.name,
        "spaces": {"mixer": mixer_space.name, "ssa": ssa_space.name,
                   "ssa@mixer": "digits-mixer restricted to ssa, on the mixer supernet"},
        "goal": "median over seeds of the mixer front's hypervolume >= the SSA front's (each on its own supernet)",
        "pass": passed,
        "setting": {"seeds": args.seeds, "population": args.population, "generations": args.generations,
                    "supernet_epochs": {"ssa": args.epochs, "mixer": mixer_epochs}, "f_aeb_target_mj": target,
                    "mixer_proj_batchnorm": layout,
                    "hypervolume": "objectives (-accuracy, energy_mJ) normalised between the ideal and nadir of the "
                                   "union of all final fronts (both spaces, all seeds), reference point (1.1, 1.1), "
                                   "divided by 1.21",
                    "box": {"ideal": ideal.tolist(), "nadir": nadir.tolist()}},
        "hypervolume": {k: {"per_seed": v, "median": med[k], "mean": statistics.fmean(v)} for k, v in hv.items()},
        "mixer_wins": f"{sum(m >= s for m, s in zip(hv['mixer'], hv['ssa']))}/{args.seeds} seeds",
        "mixer_wins_over_ssa@mixer": f"{sum(m >= s for m, s in zip(hv['mixer'], hv['ssa@mixer']))}/{args.seeds} seeds",
        "energy_to_reach_ssa_best_accuracy": reach,
        "mixer_picks_per_block": {b: dict(c) for b, c in sorted(picks.items())},
        "mixer_front": members,
        "ssa_front": [{"seed": s, "accuracy": float(row["accuracy"]), "energy_mj": float(row["energy_mj"]),
                       "arch": SubnetConfig.from_json(row["config"]).arch_string}
                      for s, r in enumerate(results["ssa"]) for _, row in r.front.iterrows()],
        "evaluations_per_run": {k: [len(r.evaluations) for r in rs] for k, rs in results.items()},
        "seconds": round(time.time() - t0, 1), "device": "cpu, 1 thread (2 shared, loaded cores)",
    }
    write_json(args.out, report)
    print(json.dumps({"hypervolume": report["hypervolume"], "energy_to_reach_ssa_best_accuracy": reach,
                      "mixer_picks_per_block": report["mixer_picks_per_block"]}, indent=2))
    verdict = "PASS" if passed else "SHORT"
    print(f"(same weights: SSA-only search on the mixer supernet, median hypervolume {med['ssa@mixer']:.4f})")
    print(f"{verdict}: median hypervolume mixer {med['mixer']:.4f} vs SSA {med['ssa']:.4f} "
          f"(goal: mixer >= SSA); written {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
