"""Forward throughput of the supernet at the 4-384 CIFAR config, the extracted model and
spikingjelly's Spikformer of that config: images per second, side by side in one process
on the same inputs, as ratios to spikingjelly. Writes bench/results/forward.json.

Goal: the extracted model at least as fast as spikingjelly's Spikformer (ratio >= 1.0),
and the elastic supernet at most 10 % slower (ratio >= 0.9). Prints PASS or SHORT with
the measured ratio and the goal for each, and exits with status 1 when one is short.

    .venv/bin/python bench/forward.py [--batch 16] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
from spikingjelly.activation_based import functional

from autosnn import SearchSpace, SpikformerSupernet
from autosnn.atomic import write_json
from autosnn.supernet.reference import from_reference_state_dict, reference_spikformer

#: Minimum images/s ratio to spikingjelly's Spikformer, per model.
GOALS = {"extracted": 1.0, "supernet": 0.9}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "forward.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    space = SearchSpace.builtin("spikformer-cifar10")
    cfg = space.config(depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0, time_steps=4)
    supernet = SpikformerSupernet(space).eval()
    supernet.set_config(cfg)
    extracted = supernet.extract(cfg).eval()
    reference = reference_spikformer(cfg).eval()
    extracted.load_state_dict(from_reference_state_dict(reference.state_dict()))
    x = torch.randn(args.batch, 3, 32, 32)

    def run_ref() -> torch.Tensor:
        out = reference(x).mean(0)
        functional.reset_net(reference)
        return out

    models = {"supernet": lambda: supernet(x), "extracted": lambda: extracted(x), "spikingjelly": run_ref}
    times = {k: [] for k in models}
    with torch.no_grad():
        for f in models.values():  # warm-up
            f()
        for _ in range(args.rounds):  # interleaved rounds: the same machine load for all three
            for name, f in models.items():
                t = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t)
    ips = {k: args.batch / sorted(v)[len(v) // 2] for k, v in times.items()}  # median
    ratios = {k: ips[k] / ips["spikingjelly"] for k in ips}
    result = {"config": str(cfg), "batch": args.batch, "rounds": args.rounds, "threads": args.threads,
              "device": "cpu", "machine": platform.processor() or platform.machine(),
              "images_per_second": ips, "ratio_to_spikingjelly": ratios}
    for k in models:
        print(f"{k:<13} {ips[k]:8.2f} img/s   x{ratios[k]:.3f} of spikingjelly")
    checks = [{"name": f"{k} images/s vs spikingjelly", "measured": ratios[k], "goal": f">= {goal}",
               "pass": bool(ratios[k] >= goal)} for k, goal in GOALS.items()]
    result["goals"] = checks
    result["pass"] = all(c["pass"] for c in checks)
    out = args.out
    write_json(out, result)
    for c in checks:
        print(f"{'PASS' if c['pass'] else 'SHORT'}  {c['name']}: measured x{c['measured']:.3f}, goal {c['goal']}")
    print(f"wrote {out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
