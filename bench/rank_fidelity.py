"""Rank fidelity of the supernet: do inherited accuracies rank subnets like stand-alone training?

For a campaign (default ``configs/demo.yaml``: digits, the digits-tiny space), in one run:

1. train one supernet per recipe, every other setting from the campaign's ``supernet``
   section; presets: ``uniform`` = uniform sampling, no distillation (the demo's
   recipe); ``sandwich`` = largest + smallest + 1 random per step, no distillation;
   ``inplace`` = the same sandwich with in-place distillation. Default
   ``uniform:epochs=60,sandwich_random=2 inplace:epochs=40,sandwich_random=1``: 60
   epochs of uniform sampling (the demo's recipe) vs 40 epochs of sandwich + in-place
   distillation (BigNAS; about the same compute: a sandwich step runs three subnets).
   The campaign's own recipe is added when it is none of those;
2. choose K subnets stratified over energy and inherited accuracy (of the FIRST
   recipe's supernet, the baseline, without recalibration): farthest-point sampling in
   rank space over a seeded pool of random subnets, the space's largest and smallest
   always included (``autosnn.fitness.rank_fidelity.stratified_choice``);
3. train each chosen subnet from scratch on its own, with FOUR seeds (``--seeds``, two or
   more: the mean of four is a steadier reference than the mean of two, and the ceiling
   the mean tau over six seed pairs rather than one) and ONE recipe for
   all (``STANDALONE`` below: AdamW lr 2e-3, weight decay 0.06, 2 warm-up epochs then
   cosine, label smoothing 0.1, batch 32, ``--standalone-epochs`` epochs, by default the
   campaign's supernet epochs; the seed sets the initialisation and the batch order) --
   the recipe of ``autosnn retrain --from-scratch`` on the demo campaign;
4. report, for every recipe with and without BatchNorm recalibration, like with like:
   Kendall tau-b, Spearman rho and top-3 overlap of inherited validation accuracy
   against EACH SINGLE stand-alone seed, averaged over the seeds
   (``autosnn.fitness.rank_fidelity.agreement_with_seeds``), beside the seed-to-seed tau
   (one seed against another, averaged over every pair: the noise ceiling,
   ``seed_to_seed``). Both sides compare one noisy estimate with one single seed; the
   tau against the mean of the seeds (a steadier reference than any single seed, so
   not comparable with the ceiling) is kept as ``vs_seed_mean`` for reference. Also the
   inherited-minus-stand-alone gap of every subnet (against the mean of the seeds: a
   gap is best estimated by the mean) and the training-free proxy's (AutoST FLOPs
   proxy) tau on the same subnets, judged the same way.

Goal, judged on the campaign's own recipe (its ``supernet`` section and its
``fitness.bn_recalibration_batches``; ``autosnn.fitness.rank_fidelity.judge``): Kendall
tau >= 0.8, or >= 90 % of the ceiling when the ceiling is below 0.85; and the smallest
subnet's inherited accuracy within 1.5 points of its mean stand-alone accuracy. Prints
PASS or SHORT with the numbers, exits 1 when short. Resumable: supernets, the pool's
evaluation and every stand-alone training are cached under
``bench/.cache/rank_fidelity/`` (a killed run keeps them). Results:
``bench/results/rank_fidelity.json``.

    python bench/rank_fidelity.py [--config configs/demo.yaml] [--recipes uniform:epochs=60,sandwich_random=2 inplace:epochs=40,sandwich_random=1]
        [--k 12] [--standalone-epochs EPOCHS] [--seeds 0,1,2,3] [--pool 80] [--recal-batches 16]
        [--phase all|supernets] [--threads 1]
    python bench/rank_fidelity.py --from-results bench/results/rank_fidelity.json [--seeds 0,1] [--out FILE]

``--from-results`` trains nothing: it judges again the accuracies a results file stores
(per subnet: every seed's stand-alone accuracy and every recipe's inherited accuracy)
and rewrites the file (or ``--out``); ``--seeds`` there keeps only those stored seeds.
A recipe is a preset name with optional overrides, e.g. ``inplace:epochs=40,distillation_temperature=2``.
``--phase supernets`` only trains the supernets (to run beside a ``--phase all`` process).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from autosnn.atomic import write_json
from autosnn.campaign import Campaign, SupernetTrainingConfig
from autosnn.fitness import LocalEvaluator, flops_proxy
from autosnn.fitness.rank_fidelity import (FidelityGoal, agreement_with_seeds, judge, rank_agreement, seed_to_seed,
                                           stratified_choice)
from autosnn.search_spaces import SearchSpace, SubnetConfig
from autosnn.supernet import Spikformer
from autosnn.supernet.commands import campaign_data
from autosnn.supernet.training import accuracy, fit, load_supernet, train_supernet

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "rank_fidelity.json"
CACHE = ROOT / ".cache" / "rank_fidelity"

PRESETS: dict[str, dict] = {
    "uniform": {"sampling": "uniform", "distillation": "none"},
    "sandwich": {"sampling": "sandwich", "sandwich_random": 1, "distillation": "none"},
    "inplace": {"sampling": "sandwich", "sandwich_random": 1, "distillation": "inplace"},
}

#: The one stand-alone recipe (every chosen subnet, every seed); epochs from the command line.
STANDALONE = {"lr": 2.0e-3, "weight_decay": 0.06, "warmup_epochs": 2, "label_smoothing": 0.1, "grad_clip": 5.0}
STANDALONE_BATCH = 32
POOL_SEED = 12345
TAU_GOAL, CEILING_FRACTION, CEILING_LIMIT, SMALLEST_GAP = 0.8, 0.9, 0.85, 0.015


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_recipe(spec: str, base: SupernetTrainingConfig) -> tuple[str, SupernetTrainingConfig]:
    """``name[:key=value,...]`` -> (label, config): the preset over the campaign's section."""
    name, _, rest = spec.partition(":")
    if name not in PRESETS:
        raise SystemExit(f"rank_fidelity: unknown recipe {name!r}; presets: {sorted(PRESETS)}")
    over = dict(PRESETS[name])
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        over[k] = json.loads(v) if v[:1] in "0123456789-.[{tf" else v
    checked = Campaign.from_dict({"supernet": dataclasses.asdict(base) | over}, source=f"recipe {spec}")
    return spec, checked.supernet


# ------------------------------------------------------------------ supernets
def supernet_file(cfg: SupernetTrainingConfig, campaign: Campaign, space: SearchSpace) -> Path:
    return CACHE / "supernets" / f"{_key(dataclasses.asdict(cfg), campaign.seed, campaign.data.batch_size, campaign.data.name, space.fingerprint)}.pt"


def train_one_supernet(label: str, cfg: SupernetTrainingConfig, campaign: Campaign, space: SearchSpace, data) -> float:
    """Train (or resume) the supernet of ``cfg``; returns its training seconds (measured
    when it was trained, kept beside the checkpoint)."""
    path = supernet_file(cfg, campaign, space)
    seconds_file = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _wait_or_claim(seconds_file, wait=True):
        return json.loads(seconds_file.read_text())["seconds"]
    try:
        return _train_supernet(label, cfg, campaign, space, data, path, seconds_file)
    finally:
        seconds_file.with_suffix(".lock").unlink(missing_ok=True)


def _train_supernet(label, cfg, campaign, space, data, path: Path, seconds_file: Path) -> float:
    _log(f"training supernet '{label}' ({cfg.epochs} epochs, {cfg.sampling}, distillation {cfg.distillation}) -> {path}")
    start = time.perf_counter()
    done_before = torch.load(path, weights_only=True)["epoch"] if path.exists() else 0
    train_supernet(space, data, cfg, batch_size=campaign.data.batch_size, seed=campaign.seed, checkpoint=path,
                   device=torch.device("cpu"), progress=False, log=_log)
    seconds = time.perf_counter() - start
    # a resumed training only timed its last epochs: scale to the whole
    seconds *= cfg.epochs / max(1, cfg.epochs - done_before)
    write_json(seconds_file, {"seconds": seconds, "label": label, "resumed_at_epoch": done_before,
                              "recipe": dataclasses.asdict(cfg)})
    _log(f"supernet '{label}' trained in {seconds:.0f} s")
    return seconds


# ------------------------------------------------------------------ the subnets
def candidate_pool(space: SearchSpace, n: int) -> list[SubnetConfig]:
    """The largest and smallest subnets, then ``n`` distinct seeded random subnets."""
    rng = np.random.default_rng(POOL_SEED)
    pool = {space.largest(): None, space.smallest(): None}
    while len(pool) < n + 2:
        pool[space.sample(rng)] = None
    return list(pool)


def inherited(supernet, configs: list[SubnetConfig], data, batch_size: int, recal: int) -> list[tuple[float, float]]:
    """(validation accuracy, energy mJ) of each config read off ``supernet``."""
    ev = LocalEvaluator(supernet, data, batch_size=batch_size, bn_recalibration_batches=recal)
    out = []
    for r in ev.evaluate(configs):
        if not r.ok:
            raise RuntimeError(f"evaluation of {r.config} failed: {r.reason}")
        out.append((r.accuracy, r.energy_mj))
    return out


def choose_subnets(ref_path: Path, campaign: Campaign, space: SearchSpace, data, k: int, pool_size: int) -> list[dict]:
    """K subnets stratified over energy and the reference supernet's inherited accuracy (cached)."""
    cache = CACHE / f"choice-{_key(ref_path.name, k, pool_size, POOL_SEED)}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    pool = candidate_pool(space, pool_size)
    _log(f"evaluating a pool of {len(pool)} subnets on the reference supernet")
    supernet, _ = load_supernet(ref_path, space)
    scores = inherited(supernet, pool, data, 256, 0)
    acc, energy = [s[0] for s in scores], [s[1] for s in scores]
    picked = stratified_choice(energy, acc, k, include=[0, 1])
    chosen = [{"config": pool[i].to_dict(), "pool_index": i, "ref_accuracy": acc[i], "energy_mj": energy[i]}
              for i in picked]
    write_json(cache, chosen)
    return chosen


# ------------------------------------------------------------------ stand-alone training
def _claim(lock: Path) -> bool:
    """Take ``lock`` for this process (False while another live process holds it)."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):  # its holder died: take it over
            lock.unlink(missing_ok=True)
            return _claim(lock)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def _wait_or_claim(done: Path, wait: bool) -> bool:
    """True when this process now holds ``done``'s lock (and must release it); False
    when ``done`` exists, or (without ``wait``) while another process holds the lock."""
    lock = done.with_suffix(".lock")
    while not done.exists():
        if _claim(lock):
            return True
        if not wait:
            return False
        time.sleep(10)
    return False


def standalone(config: SubnetConfig, seed: int, epochs: int, data, data_name: str, wait: bool = True) -> dict | None:
    """Train ``config`` from scratch with the one recipe and ``seed``; validation and
    test accuracy (cached; a killed training resumes from its checkpoint). Several
    processes may share the work: one being trained elsewhere is waited for (``wait``)
    or skipped (``None``)."""
    recipe = SupernetTrainingConfig(epochs=epochs, **STANDALONE)
    key = _key(config.to_json(), seed, dataclasses.asdict(recipe), STANDALONE_BATCH, data_name)
    result = CACHE / "standalone" / f"{key}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    if not _wait_or_claim(result, wait):
        return None if not result.exists() else json.loads(result.read_text())
    try:
        return json.loads(result.read_text()) if result.exists() else _train_standalone(config, seed, recipe, data, result)
    finally:
        result.with_suffix(".lock").unlink(missing_ok=True)


def _train_standalone(config: SubnetConfig, seed: int, recipe: SupernetTrainingConfig, data, result: Path) -> dict:
    epochs = recipe.epochs
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = Spikformer(config)
    model = fit(model, data, recipe, batch_size=STANDALONE_BATCH, seed=seed, device=torch.device("cpu"),
                checkpoint=result.with_suffix(".pt"), progress=False, kind="autosnn-rank-fidelity", log=_log)
    out = {"config": str(config), "seed": seed, "epochs": epochs,
           "val_accuracy": accuracy(model, data.loader("val", 256), torch.device("cpu")),
           "test_accuracy": accuracy(model, data.loader("test", 256), torch.device("cpu")),
           "seconds": time.perf_counter() - start}
    write_json(result, out)
    result.with_suffix(".pt").unlink(missing_ok=True)
    _log(f"  trained {config} seed {seed}: val {out['val_accuracy']:.4f} ({out['seconds']:.0f} s)")
    return out


# ------------------------------------------------------------------ report
GOAL = FidelityGoal()
GOAL_TEXT = ("Kendall tau of inherited accuracy against each single stand-alone seed (mean over seeds) >= 0.8, or "
             ">= 90% of the seed-to-seed tau (mean over seed pairs) when that is < 0.85; smallest subnet's inherited "
             "accuracy within 1.5 points of its mean stand-alone accuracy")


def row(label: str, recal: int, inh: list[float], val: np.ndarray, smallest: int, largest: int) -> dict:
    """One estimate's figures: agreement with each single seed (mean over seeds), the old
    figure against the mean of the seeds (``vs_seed_mean``, for reference), and the gaps to
    the mean stand-alone accuracy."""
    gaps = np.asarray(inh) - val.mean(1)
    return {"recipe": label, "recalibration_batches": recal, **agreement_with_seeds(inh, val),
            "vs_seed_mean": rank_agreement(inh, val.mean(1)),
            "smallest_gap": float(gaps[smallest]), "largest_gap": float(gaps[largest]),
            "mean_abs_gap": float(np.abs(gaps).mean()), "gaps": [float(g) for g in gaps]}


def report(raw: dict) -> tuple[dict, bool]:
    """Judge and print the measured numbers ``raw`` (what the results file stores: its
    ``subnets``, ``recipes``, ``judged_key``, ``setup``); returns the results and the verdict.
    Used on a fresh run and on a stored file (``--from-results``) alike."""
    subnets, setup = raw["subnets"], raw["setup"]
    seeds = setup["seeds"]
    val = np.array([s["standalone_val"] for s in subnets])
    smallest, largest = setup["smallest_index"], setup["largest_index"]
    order = raw.get("recipe_order") or list(raw["recipes"])  # the command line's order
    rows = []
    for key in sorted(subnets[0]["inherited"], key=lambda k: (order.index(k.rsplit("/recal=", 1)[0]),
                                                              int(k.rsplit("=", 1)[1]))):
        label, recal = key.rsplit("/recal=", 1)
        inh = [s["inherited"][key] for s in subnets]
        rows.append(row(label, int(recal), inh, val, smallest, largest) | raw["recipes"][label])
    ceiling = seed_to_seed(val)
    training_free = agreement_with_seeds([s["training_free_score"] for s in subnets], val)
    judged_label, judged_recal = raw["judged_key"].rsplit("/recal=", 1)
    judged = next(r for r in rows if r["recipe"] == judged_label and r["recalibration_batches"] == int(judged_recal))
    verdict = judge(judged["kendall_tau"], ceiling["kendall_tau"], judged["smallest_gap"], GOAL)
    ok = verdict["verdict"] == "PASS"

    over_pairs = " (mean over seed pairs)" if len(seeds) > 2 else ""
    print(f"\n{len(subnets)} subnets, stand-alone {setup['standalone_recipe']['epochs']} epochs x {len(seeds)} seeds; "
          f"taus are against each single seed (mean over seeds); seed-to-seed ceiling{over_pairs}: tau "
          f"{ceiling['kendall_tau']:.3f}, rho {ceiling['spearman_rho']:.3f}, top-3 {ceiling['top_overlap']:.2f}")
    print(f"training-free proxy vs stand-alone: tau {training_free['kendall_tau']:.3f}, "
          f"rho {training_free['spearman_rho']:.3f}, top-3 {training_free['top_overlap']:.2f}")
    print(f"{'recipe':<36}{'recal':>6}{'tau':>8}{'rho':>8}{'top3':>6}{'tau/mean':>9}{'small gap':>11}"
          f"{'large gap':>11}{'mean|gap|':>11}{'train s':>9}")
    for r in rows:
        print(f"{r['recipe']:<36}{r['recalibration_batches']:>6}{r['kendall_tau']:>8.3f}{r['spearman_rho']:>8.3f}"
              f"{r['top_overlap']:>6.2f}{r['vs_seed_mean']['kendall_tau']:>9.3f}{100 * r['smallest_gap']:>+10.1f}p"
              f"{100 * r['largest_gap']:>+10.1f}p{100 * r['mean_abs_gap']:>10.1f}p{r['supernet_seconds']:>9.0f}")
    keys = list(subnets[0]["inherited"])
    print("\nsubnet".ljust(44) + "".join(f"val s{s}  " for s in seeds)
          + "  ".join(k.split("/")[0][:8].rjust(8) + ("+bn" if not k.endswith("=0") else "   ") for k in keys))
    for s in subnets:
        print(f"{s['config']:<43} " + "".join(f"{v:.3f}   " for v in s["standalone_val"]) + " "
              + "  ".join(f"{s['inherited'][k]:>8.3f}   " for k in keys))

    summary = (f"{verdict['verdict']}: recipe '{judged_label}' (recal {judged_recal}): Kendall tau "
               f"{judged['kendall_tau']:.3f} against single stand-alone seeds (goal >= {verdict['tau_needed']:.3f}: "
               f"0.8, or 90 % of the seed-to-seed tau {ceiling['kendall_tau']:.3f} when it is < 0.85); smallest subnet "
               f"gap {100 * judged['smallest_gap']:+.1f} points (goal within 1.5)")
    print("\n" + summary)
    results = {
        "goal": GOAL_TEXT, "verdict": verdict["verdict"], "summary": summary,
        "judged": {k: v for k, v in judged.items() if k != "gaps"} | {k: v for k, v in verdict.items() if k != "verdict"},
        "ceiling": ceiling, "training_free_proxy": training_free, "rows": rows,
        "subnets": subnets, "setup": setup, "machine": raw["machine"],
        "raw": {"recipes": raw["recipes"], "recipe_order": order, "judged_key": raw["judged_key"]},
    }
    return results, ok


def from_results(path: Path, seeds: list[int] | None) -> dict:
    """The measured numbers a results file stores (older files too: they lack ``raw`` and
    the subnets' indices, which the pool's order gives: the largest first, the smallest
    second), restricted to ``seeds`` when given."""
    old = json.loads(path.read_text())
    setup = dict(old["setup"])
    setup.setdefault("largest_index", 0)
    setup.setdefault("smallest_index", 1)
    subnets = [dict(s) for s in old["subnets"]]
    if seeds is not None:
        missing = [s for s in seeds if s not in setup["seeds"]]
        if missing:
            raise SystemExit(f"rank_fidelity: {path} has no stand-alone seeds {missing} (it has {setup['seeds']})")
        cols = [setup["seeds"].index(s) for s in seeds]
        for s in subnets:
            s["standalone_val"] = [s["standalone_val"][c] for c in cols]
            s["standalone_test"] = [s["standalone_test"][c] for c in cols]
        setup["seeds"] = seeds
    raw = old.get("raw") or {
        "recipes": {r["recipe"]: {"supernet_seconds": r["supernet_seconds"], "recipe_config": r["recipe_config"]}
                    for r in old["rows"]},
        "recipe_order": list(dict.fromkeys(r["recipe"] for r in old["rows"])),
        "judged_key": f"{old['judged']['recipe']}/recal={old['judged']['recalibration_batches']}"}
    setup["rejudged"] = (f"python bench/rank_fidelity.py --from-results {path}"
                         + (f" --seeds {','.join(map(str, seeds))}" if seeds is not None else ""))
    return {"subnets": subnets, "setup": setup, "machine": old["machine"], **raw}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=ROOT.parent / "configs" / "demo.yaml")
    p.add_argument("--recipes", nargs="+",
                   default=["uniform:epochs=60,sandwich_random=2", "inplace:epochs=40,sandwich_random=1"],
                   help="recipes: PRESET[:key=value,...] each; the first is the reference of the stratified choice")
    p.add_argument("--k", type=int, default=12)
    p.add_argument("--standalone-epochs", type=int, default=None,
                   help="epochs of every stand-alone training (default: the campaign's supernet epochs, what "
                        "'autosnn retrain --from-scratch' trains)")
    p.add_argument("--seeds", default=None,
                   help="stand-alone seeds, two or more (default 0,1,2,3: two seeds' ceiling moved from 0.64 to 0.33 "
                        "between seed pairs on the demo); with --from-results: judge on these of the stored seeds")
    p.add_argument("--pool", type=int, default=80)
    p.add_argument("--recal-batches", type=int, default=16,
                   help="recalibration batches of the 'with recalibration' rows when the campaign sets none")
    p.add_argument("--phase", choices=["all", "supernets", "standalone"], default="all",
                   help="supernets: only train the supernets; standalone: only help with the stand-alone "
                        "trainings (once the first recipe's supernet exists); all: everything, then the report")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--from-results", type=Path, default=None, metavar="RESULTS.json",
                   help="train nothing: judge again the numbers a results file stores (and rewrite it, or --out)")
    p.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS.relative_to(ROOT.parent)}; "
                                                          "with --from-results: that file)")
    args = p.parse_args()
    if args.k < 12:
        raise SystemExit("rank_fidelity: --k must be >= 12")
    seeds = [int(s) for s in (args.seeds or "0,1,2,3").split(",")]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise SystemExit("rank_fidelity: --seeds needs two or more different seeds")
    if args.from_results is not None:
        results, ok = report(from_results(args.from_results, seeds if args.seeds else None))
        write_json(args.out or args.from_results, results)
        return 0 if ok else 1
    args.out = args.out or RESULTS
    torch.set_num_threads(args.threads)

    campaign = Campaign.from_yaml(args.config)
    space = campaign.resolve_space()
    if args.standalone_epochs is None:
        args.standalone_epochs = campaign.supernet.epochs
    data = campaign_data(campaign, space)
    recipes = [parse_recipe(s, campaign.supernet) for s in args.recipes]
    if not any(cfg == campaign.supernet for _, cfg in recipes):
        recipes.append(("campaign", campaign.supernet))
    judged_label = next(label for label, cfg in recipes if cfg == campaign.supernet)
    recal_with = campaign.fitness.bn_recalibration_batches or args.recal_batches

    if args.phase == "supernets":  # the reference last: a '--phase all' process starts with it
        for label, cfg in recipes[1:] + recipes[:1]:
            train_one_supernet(label, cfg, campaign, space, data)
        return 0

    seconds = {recipes[0][0]: train_one_supernet(*recipes[0], campaign, space, data)}
    chosen = choose_subnets(supernet_file(recipes[0][1], campaign, space), campaign, space, data, args.k, args.pool)
    configs = [SubnetConfig.from_dict(c["config"]) for c in chosen]
    _log(f"{len(configs)} subnets chosen; stand-alone training, {args.standalone_epochs} epochs x seeds {seeds}")
    for c in configs:  # first pass: train what no other process is training
        for s in seeds:
            standalone(c, s, args.standalone_epochs, data, campaign.data.name, wait=False)
    if args.phase == "standalone":
        return 0
    trained = []
    for i, c in enumerate(configs):
        runs = []
        for s in seeds:
            r = standalone(c, s, args.standalone_epochs, data, campaign.data.name)
            _log(f"  [{i + 1}/{len(configs)}] {c} seed {s}: val {r['val_accuracy']:.4f} ({r['seconds']:.0f} s)")
            runs.append(r)
        trained.append(runs)
    val = np.array([[r["val_accuracy"] for r in runs] for runs in trained])
    test = np.array([[r["test_accuracy"] for r in runs] for runs in trained])

    for label, cfg in recipes[1:]:
        seconds[label] = train_one_supernet(label, cfg, campaign, space, data)
    inherited_table = {}
    for label, cfg in recipes:
        supernet, _ = load_supernet(supernet_file(cfg, campaign, space), space)
        for recal in (0, recal_with):
            inherited_table[f"{label}/recal={recal}"] = [
                a for a, _ in inherited(supernet, configs, data, campaign.data.batch_size, recal)]
    proxy = [flops_proxy(c, space) for c in configs]
    judged_recal = recal_with if campaign.fitness.bn_recalibration_batches else 0
    raw = {
        "subnets": [{"config": str(c), "energy_mj": chosen[i]["energy_mj"], "standalone_val": val[i].tolist(),
                     "standalone_test": test[i].tolist(), "training_free_score": proxy[i],
                     "inherited": {k: v[i] for k, v in inherited_table.items()}} for i, c in enumerate(configs)],
        "recipes": {label: {"supernet_seconds": seconds[label], "recipe_config": dataclasses.asdict(cfg)}
                    for label, cfg in recipes},
        "recipe_order": [label for label, _ in recipes],
        "judged_key": f"{judged_label}/recal={judged_recal}",
        "setup": {"campaign": str(args.config), "space": space.name, "data": campaign.data.name, "k": len(configs),
                  "pool": args.pool, "pool_seed": POOL_SEED, "seeds": seeds,
                  "smallest_index": configs.index(space.smallest()), "largest_index": configs.index(space.largest()),
                  "stratified_on": f"energy and inherited accuracy of '{recipes[0][0]}' (no recalibration)",
                  "standalone_recipe": {"epochs": args.standalone_epochs, "batch_size": STANDALONE_BATCH, **STANDALONE},
                  "recalibration_batches_with": recal_with, "threads": args.threads,
                  "command": "python bench/rank_fidelity.py " + " ".join(sys.argv[1:])},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "note": "2 CPU cores shared with other jobs: training seconds are indicative only"},
    }
    results, ok = report(raw)
    write_json(args.out, results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
