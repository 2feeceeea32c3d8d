"""One torchrun rank for tests/test_torchrun.py (not a test module itself).

``python tests/torchrun_worker.py OUT cli ARGS...`` runs ``autosnn ARGS`` as this rank and
writes ``OUT/rank<r>.json``: the DDP gradient reductions seen per optimiser step (a
counting comm hook: buckets, and reduction rounds = buckets flagged last), the
``find_unused_parameters`` setting, the first BatchNorm's running mean before the ranks'
statistics are averaged (last epoch), and a digest of the rank's torch RNG state at the end.
``AUTOSNN_TEST_FAIL=R:S`` makes rank R raise at its optimiser step S (its record then
holds the time, ``failed_at``).

``python tests/torchrun_worker.py OUT steps BATCH STEPS`` trains the digits-tiny supernet
for STEPS sandwich steps on fixed global batches of BATCH samples (rank r takes positions
r::world of each), BatchNorm frozen (eval mode), and writes rank 0's weights to
``OUT/weights.pt`` (and the initial ones to ``OUT/start.pt``); called in a single process
(:func:`run_steps`) it is the one-rank reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autosnn.supernet import ddp, training  # noqa: E402

RANK = int(os.environ.get("RANK", "0"))


def instrument(record: dict) -> None:
    """Count the gradient buckets DDP reduces at every optimiser step; fail on request."""
    steps: list[dict] = record.setdefault("steps", [])
    real_wrap, real_step, real_average = ddp.wrap, training.Trainer.step, ddp.average_buffers
    fail = os.environ.get("AUTOSNN_TEST_FAIL")
    fail_rank, fail_step = map(int, fail.split(":")) if fail else (-1, -1)

    def counting_hook(state, bucket):
        steps[-1]["buckets"] += 1
        steps[-1]["rounds"] += int(bucket.is_last())
        return allreduce_hook(state, bucket)

    def wrap(supernet, space, device):
        model = real_wrap(supernet, space, device)
        record["find_unused_parameters"] = model.find_unused_parameters
        model.register_comm_hook(None, counting_hook)
        return model

    def step(self, x, y, passes=None, distill=False):
        steps.append({"passes": len(passes or [None]), "buckets": 0, "rounds": 0})
        if RANK == fail_rank and len(steps) == fail_step:
            record["failed_at"] = time.time()
            raise RuntimeError(f"injected failure at step {fail_step}")
        return real_step(self, x, y, passes, distill)

    def average_buffers(module):
        record["bn_before"] = module.patch_embed.stages[0].bn.running_mean.tolist()
        real_average(module)

    ddp.wrap, training.Trainer.step, ddp.average_buffers = wrap, step, average_buffers


def run_cli(out: Path, args: list[str]) -> int:
    from autosnn.cli import main

    record: dict = {"rank": RANK}
    instrument(record)
    try:
        return main(args)
    finally:
        record["rng"] = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()
        (out / f"rank{RANK}.json").write_text(json.dumps(record))


def run_steps(out: Path, batch: int, n_steps: int) -> int:
    """Few sandwich steps with frozen BatchNorm on fixed batches; rank 0 saves its weights."""
    from autosnn.campaign import SupernetTrainingConfig
    from autosnn.data import load_data
    from autosnn.data.splits import collate
    from autosnn.search_spaces import SearchSpace
    from autosnn.supernet.supernet import SpikformerSupernet

    torch.set_num_threads(1)
    space, cpu = SearchSpace.builtin("digits-tiny"), torch.device("cpu")
    data = load_data("digits", image_size=16)
    cfg = SupernetTrainingConfig(epochs=1, lr=2e-3, warmup_epochs=0, sampling="sandwich", sandwich_random=1)
    rng = np.random.default_rng(0)
    with ddp.process_group(cpu) as distributed:
        world = torch.distributed.get_world_size() if distributed else 1
        torch.manual_seed(0)
        supernet = SpikformerSupernet(space)
        model = ddp.wrap(supernet, space, cpu) if distributed else supernet
        trainer = training.Trainer(model, cfg, n_steps, cpu)
        if RANK == 0:
            torch.save(supernet.state_dict(), out / "start.pt")
        model.train()
        for m in supernet.modules():  # BatchNorm frozen: running statistics, not the (per-rank) batch's
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
        for s in range(n_steps):
            positions = list(range(s * batch, (s + 1) * batch))[RANK::world]
            x, y = collate([data.train[i] for i in positions])
            configs = training.subnets_for_step(space, "sandwich", rng, sandwich_random=1)
            trainer.step(x, y, [lambda c=c: supernet.set_config(c) for c in configs])
        if RANK == 0:
            torch.save(supernet.state_dict(), out / "weights.pt")
    return 0


if __name__ == "__main__":
    out, mode, rest = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if mode == "cli":
        sys.exit(run_cli(out, rest))
    sys.exit(run_steps(out, int(rest[0]), int(rest[1])))
