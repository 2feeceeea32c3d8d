"""Cost of counting energy: plain forward vs. our counted forward vs. spikingjelly's counters.

For a digits-tiny subnet (real digits images) and for the 4-384 CIFAR-10 config (random
32x32 inputs), in one process on one device, time

  (a) a plain eval forward,
  (b) the same forward with :class:`autosnn.fitness.EnergyMeter` attached (our counting),
  (c) spikingjelly 2.0's ``SynOpCounter`` + ``MACCounter`` under ``DispatchCounterMode``,

print the ratios to (a) and the relative disagreement of the counts, then the throughput
of the training-free scorer (candidates / second) on digits-tiny. Writes
``bench/results/energy.json``. Goal: (b) / (a) <= 1.10.

    python bench/energy.py [--device cpu] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from autosnn.data import load_data
from autosnn.fitness import EnergyMeter, TrainingFreeEvaluator
from autosnn.fitness.sj_reference import excite, spikingjelly_counts
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

RESULTS = Path(__file__).parent / "results" / "energy.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_model(label: str, space: SearchSpace, config, x: torch.Tensor, device: torch.device, repeats: int) -> dict:
    torch.manual_seed(0)
    net = SpikformerSupernet(space).to(device).eval()
    with torch.no_grad():
        excite(net, x)  # neurons that fire, as after training
    net.set_config(config)
    model = net.extract(config).eval()

    @torch.no_grad()
    def plain():
        model(x)

    def counted():
        with torch.no_grad(), EnergyMeter(model) as meter:
            model(x)
        return meter.report()

    # interleave (a) and (b) so that load from other processes hits both alike
    ta, tb = [], []
    for _ in range(3):
        ta.append(_time(plain, device, repeats))
        tb.append(_time(counted, device, repeats))
    t_plain, t_ours = min(ta), min(tb)
    t_sj = _time(lambda: spikingjelly_counts(model, x), device, max(1, repeats // 3))
    ours = counted()
    sj_macs, sj_acs = spikingjelly_counts(model, x)
    row = {
        "model": label, "config": config.arch_string, "time_steps": config.time_steps,
        "batch": int(x.shape[0]), "input": list(x.shape[1:]),
        "seconds": {"plain": t_plain, "ours": t_ours, "spikingjelly": t_sj},
        "ratio_to_plain": {"ours": t_ours / t_plain, "spikingjelly": t_sj / t_plain},
        "per_sample": {"macs": ours.macs, "acs": ours.acs, "energy_mj": ours.energy_mj,
                       "sj_macs": sj_macs, "sj_acs": sj_acs},
        "rel_diff": {"macs": abs(ours.macs - sj_macs) / max(sj_macs, 1.0),
                     "acs": abs(ours.acs - sj_acs) / max(sj_acs, 1.0)},
        "mean_firing_rate": float(np.mean(list(ours.firing_rates.values()))),
    }
    print(f"{label:<28} plain {t_plain * 1e3:8.1f} ms | ours {t_ours * 1e3:8.1f} ms ({row['ratio_to_plain']['ours']:.3f}x)"
          f" | spikingjelly {t_sj * 1e3:8.1f} ms ({row['ratio_to_plain']['spikingjelly']:.2f}x)"
          f" | counts differ by MAC {row['rel_diff']['macs']:.2e}, AC {row['rel_diff']['acs']:.2e}")
    return row


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cifar-batch", type=int, default=4)
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

    rows = [bench_model("digits-tiny d2-e48 (b256)", digits, d_cfg, xd.to(device), device, args.repeats),
            bench_model(f"cifar10 4-384 T4 (b{args.cifar_batch})", cifar, c_cfg, xc.to(device), device,
                        max(3, args.repeats // 2))]
    tf = bench_training_free(device, 40)
    out = {"device": str(device), "torch_threads": args.threads, "torch": torch.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
           "goal": "ours / plain <= 1.10", "models": rows, "training_free": tf}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
