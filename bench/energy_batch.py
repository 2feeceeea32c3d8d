"""Benchmark: a sample's energy does not depend on its batch-mates.

The case of issue 21: on ``spikformer-cifar10-dvs``'s smallest subnet (a seeded random
supernet whose BatchNorms are set so that its neurons fire, :func:`~autosnn.fitness.sj_reference.excite`),
a sample A of binary event frames (every pixel an event with probability 0.1, seeded) and
a copy B with one pixel set to 3 (an event count above 1, the normal case on DVS data).
Each model (sops, simple, lemaire) prices A alone, B alone and the batch [A, B]; the goal
is that the batch's energy per inference is the mean of the two prices alone (relative
difference <= 1e-9), with the meter's device-side (sync-free) decisions and without.

Before per-sample binary decisions (binary-ness decided once per batch) the batch cost
+15.8 % (sops), +5.5 % (simple), +2.6 % (lemaire) more than the samples alone.

    python bench/energy_batch.py [--p 0.1] [--threads 2]

Prints one PASS / SHORT line per model and mode; exits 1 if any is SHORT. Results:
``bench/results/energy_batch.json``. About a minute on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from autosnn.atomic import write_json
from autosnn.fitness import measure_energy
from autosnn.fitness.energy_models import ENERGY_MODELS
from autosnn.fitness.sj_reference import excite
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "energy_batch.json"
GOAL = 1e-9
SPACE = "spikformer-cifar10-dvs"


def mixed_pair(space: SearchSpace, time_steps: int, p: float, seed: int = 0) -> torch.Tensor:
    """Frames ``[T, 2, C, H, W]``: sample A (0/1 events, rate ``p``) and B = A with one
    pixel (the centre of polarity 0 at t = 0) set to 3."""
    shape = (time_steps, 1, space.in_channels, space.image_size, space.image_size)
    a = (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).float()
    b = a.clone()
    b[0, 0, 0, space.image_size // 2, space.image_size // 2] = 3.0
    return torch.cat([a, b], dim=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=float, default=0.1, help="event probability of sample A")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    space = SearchSpace.builtin(SPACE)
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    cfg = space.smallest()
    net.set_config(cfg)
    frames = mixed_pair(space, cfg.time_steps, args.p)
    excite(net, frames, seed=2)
    rows, short = [], []
    for model in ENERGY_MODELS:
        for sync_free in (False, True):
            alone = [measure_energy(net, frames[:, i:i + 1], energy_model=model, sync_free=sync_free).energy_mj
                     for i in range(2)]
            together = measure_energy(net, frames, energy_model=model, sync_free=sync_free).energy_mj
            mean = sum(alone) / 2
            rel = together / mean - 1
            ok = abs(rel) <= GOAL
            label = f"{model:8s} {'sync-free' if sync_free else 'host     '}"
            print(f"{'PASS' if ok else 'SHORT'}  {label} alone {alone[0]:.4f} / {alone[1]:.4f} mJ (mean {mean:.4f}), "
                  f"together {together:.4f} mJ per inference: {100 * rel:+.2f} % (relative {rel:+.1e}; goal |diff| <= {GOAL:g})")
            rows.append({"model": model, "sync_free": sync_free, "alone_mj": alone, "alone_mean_mj": mean,
                         "together_mj": together, "relative_difference": rel, "pass": ok})
            if not ok:
                short.append(f"{model} {'sync-free' if sync_free else 'host'}")
    write_json(RESULTS, {"space": SPACE, "config": cfg.arch_string, "event_probability": args.p,
                         "goal_relative_difference": GOAL, "rows": rows, "short": short})
    if short:
        print(f"SHORT: {', '.join(short)}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
