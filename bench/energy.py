"""Cost of counting energy, per energy model: plain forward vs. our counted forward vs. spikingjelly's estimator.

For a digits-tiny subnet (real digits images) and for the 4-384 CIFAR-10 config (random
32x32 inputs), on subnets extracted from a supernet whose neurons fire, in one process on
one device, and for each energy model (``sops``, ``simple``, ``lemaire``), time

  (a) a plain eval forward,
  (b) the same forward with :class:`autosnn.fitness.EnergyMeter` attached under that model,
  (c) spikingjelly 2.0's own estimator of that model on the same batch
      (sops: ``SynOpCounter`` + ``MACCounter`` under ``DispatchCounterMode``; simple:
      ``estimate_simple_energy``; lemaire: ``estimate_lemaire_energy``, non-strict),

and print the ratios to (a) and the largest relative disagreement of the energy components
with spikingjelly's estimator (per inference: the estimator on one sample at a time, over
the first ``--check-samples`` samples). Then the throughput of the training-free scorer
(candidates / second) on digits-tiny. Writes ``bench/results/energy.json``.

Goal: (b) / (a) <= 1.15 for every model and config. Prints PASS or SHORT with both
numbers per row, and exits with status 1 when any row is short. The plain forward and the
three counted ones run round-robin (``--rounds`` rounds) and each keeps its fastest round,
so that load from other processes hits all alike. On a CPU with one torch thread the ratio
is judged on the process's CPU time (what the counting costs; a shared machine's wall clock
mostly measures the neighbours), and the wall-clock ratio is reported beside it; on an
accelerator, on wall-clock time after synchronisation.

    python bench/energy.py [--device cpu] [--rounds 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from autosnn.atomic import write_json
from autosnn.data import load_data
from autosnn.fitness import EnergyCosts, EnergyMeter, LemaireCosts, SimpleCosts, TrainingFreeEvaluator
from autosnn.fitness.sj_reference import excite, spikingjelly_counts, spikingjelly_energy
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

RESULTS = Path(__file__).parent / "results" / "energy.json"
GOAL = 1.15
MODELS = (EnergyCosts(), SimpleCosts(), LemaireCosts())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _round_robin(fns: dict, device: torch.device, rounds: int) -> tuple[dict, dict]:
    """Fastest (wall, CPU) seconds of every ``fns[k]()`` over ``rounds`` round-robin rounds."""
    for fn in fns.values():
        fn()
    wall = {k: float("inf") for k in fns}
    cpu = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            _sync(device)
            t, c = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            cpu[k] = min(cpu[k], time.process_time() - c)
            wall[k] = min(wall[k], time.perf_counter() - t)
    return wall, cpu


def _sj_estimator(model, x, em):
    """spikingjelly's own estimator of ``em`` on the whole batch (timing only)."""
    from spikingjelly.activation_based.op_counter import (LemaireEnergyConfig, estimate_lemaire_energy,
                                                          estimate_simple_energy)

    if em.name == "sops":
        return lambda: spikingjelly_counts(model, x)
    if em.name == "simple":
        return lambda: estimate_simple_energy(model, x)

    def lemaire():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return estimate_lemaire_energy(model, x, config=LemaireEnergyConfig(strict=False))
    return lemaire


def _disagreement(model, x, em, check: int) -> float:
    """Largest relative difference of any energy component from spikingjelly's estimator
    (per inference), on the first ``check`` samples."""
    xs = x[:check]
    with torch.no_grad(), EnergyMeter(model, energy_model=em) as meter:
        model(xs)
    ours = meter.report()
    if em.name == "sops":
        macs, acs = spikingjelly_counts(model, xs)
        return max(abs(ours.macs - macs) / max(macs, 1.0), abs(ours.acs - acs) / max(acs, 1.0))
    theirs = spikingjelly_energy(model, xs, em)
    return max(abs(v - theirs[k]) / max(abs(theirs[k]), 1e-30) for k, v in ours.components_mj.items())


def bench_model(label: str, space: SearchSpace, config, x: torch.Tensor, device: torch.device, rounds: int,
                check: int, cpu_clock: bool) -> list[dict]:
    torch.manual_seed(0)
    net = SpikformerSupernet(space).to(device).eval()
    with torch.no_grad():
        excite(net, x)  # neurons that fire, as after training
    net.set_config(config)
    model = net.extract(config).eval()

    @torch.no_grad()
    def plain():
        model(x)

    def counted(em):
        def run():
            with torch.no_grad(), EnergyMeter(model, energy_model=em) as meter:
                model(x)
            return meter.report()
        return run

    fns = {"plain": plain, **{em.name: counted(em) for em in MODELS}}
    wall, cpu = _round_robin(fns, device, rounds)
    clock = cpu if cpu_clock else wall
    rows = []
    for em in MODELS:
        t_sj = _time(_sj_estimator(model, x, em), device, max(1, rounds // 4))
        rep = fns[em.name]()
        ratio = clock[em.name] / clock["plain"]
        row = {
            "model": label, "energy_model": em.name, "params": em.params(), "config": config.arch_string,
            "time_steps": config.time_steps, "batch": int(x.shape[0]), "input": list(x.shape[1:]),
            "clock": "process CPU time" if cpu_clock else "wall",
            "seconds": {"plain": clock["plain"], "ours": clock[em.name], "plain_wall": wall["plain"],
                        "ours_wall": wall[em.name], "spikingjelly_wall": t_sj},
            "ratio_to_plain": {"ours": ratio, "ours_wall": wall[em.name] / wall["plain"],
                               "spikingjelly_wall": t_sj / wall["plain"]},
            "per_sample": {"energy_mj": rep.energy_mj, "macs": rep.macs, "acs": rep.acs,
                           "components_mj": rep.components_mj},
            "max_rel_diff_vs_spikingjelly": _disagreement(model, x, em, check),
            "checked_samples": min(check, int(x.shape[0])),
            "mean_firing_rate": float(np.mean(list(rep.firing_rates.values()))),
            "status": "PASS" if ratio <= GOAL else "SHORT",
        }
        print(f"{row['status']:<5} {label:<26} {em.name:<7} plain {clock['plain'] * 1e3:7.1f} ms | ours "
              f"{clock[em.name] * 1e3:7.1f} ms ({ratio:.3f}x {'CPU' if cpu_clock else 'wall'}, goal <= {GOAL}; wall "
              f"{row['ratio_to_plain']['ours_wall']:.3f}x) | spikingjelly {t_sj * 1e3:7.1f} ms wall "
              f"({row['ratio_to_plain']['spikingjelly_wall']:.2f}x) | {rep.energy_mj:.4g} mJ, components differ by "
              f"<= {row['max_rel_diff_vs_spikingjelly']:.1e}", flush=True)
        rows.append(row)
    return rows


def bench_training_free(device: torch.device, n: int) -> dict:
    space = SearchSpace.builtin("digits-tiny")
    data = load_data("digits", image_size=space.image_size)
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(n)]
    scorer = TrainingFreeEvaluator(space, data, batch_size=64, device=device, seed=0)
    scorer.evaluate(configs[:2])  # warm-up
    t = time.perf_counter()
    results = scorer.evaluate(configs)
    dt = time.perf_counter() - t
    ok = sum(r.ok for r in results)
    print(f"training-free scorer, digits-tiny, batch 64: {n / dt:.1f} candidates/s ({ok}/{n} ok)")
    return {"space": "digits-tiny", "batch": 64, "candidates": n, "seconds": dt, "candidates_per_s": n / dt}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cifar-batch", type=int, default=4)
    ap.add_argument("--check-samples", type=int, default=4, help="samples checked against spikingjelly per row")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    digits = SearchSpace.builtin("digits-tiny")
    data = load_data("digits", image_size=digits.image_size)
    xd, _ = next(iter(data.loader("val", 256)))
    d_cfg = digits.config(depth=2, embed_dim=48, num_heads=4, mlp_ratio=3.0, time_steps=4)
    cifar = SearchSpace.builtin("spikformer-cifar10")
    c_cfg = cifar.config(depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0, time_steps=4)
    xc = torch.randn(args.cifar_batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    cpu_clock = device.type == "cpu" and args.threads == 1
    rows = bench_model("digits-tiny d2-e48 (b256)", digits, d_cfg, xd.to(device), device, args.rounds,
                       args.check_samples, cpu_clock)
    rows += bench_model(f"cifar10 4-384 T4 (b{args.cifar_batch})", cifar, c_cfg, xc.to(device), device,
                        args.rounds, min(args.check_samples, 1), cpu_clock)
    tf = bench_training_free(device, 40)
    short = [r for r in rows if r["status"] != "PASS"]
    out = {"device": str(device), "torch_threads": args.threads, "torch": torch.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
           "goal": f"ours / plain <= {GOAL} for every energy model",
           "clock": "process CPU time (1 thread)" if cpu_clock else "wall",
           "status": "SHORT" if short else "PASS", "models": rows, "training_free": tf}
    write_json(Path(args.out), out)
    print(f"{out['status']}: worst ours / plain {max(r['ratio_to_plain']['ours'] for r in rows):.3f}x "
          f"(goal <= {GOAL}); wrote {args.out}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
