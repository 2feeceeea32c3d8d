"""The CIFAR data path, new (uint8 tensors, batched augmentation keyed per sample) vs old
(torchvision's dataset, per-image PIL transforms through a DataLoader), side by side in one
process on a full-size fake CIFAR-10 folder (50,000 + 10,000 random images in the python
format, written once to bench/.cache/ and checked against its own md5s).

* ``train``: augmented images per second delivered to the training step (batch = the
  campaign's, 128; the old path with the campaign's ``num_workers`` capped at the machine's
  cores). Goal: new >= 5x old.
* ``evaluator``: candidates per second of :class:`~autosnn.fitness.LocalEvaluator` on the
  full validation split (5,000 images) with a small CIFAR-shaped subnet (so the data path
  shows), new vs old (old: per-image transforms through a ``DataLoader`` with
  ``num_workers=0``, as the evaluator loaded before). Goal: new >= 1.25x old. Most of a
  candidate is the model's pass (with the energy meter), not the data, so the gain of a
  whole candidate is bounded; the validation split's batches alone (reported, not judged)
  are made far faster.

Prints PASS or SHORT per line with both numbers; exits 1 when one is short. Writes
bench/results/data_pipeline.json.

    .venv/bin/python bench/data_pipeline.py [--batches 40] [--candidates 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from autosnn.atomic import write_json
from autosnn.data import cifar_files, load_data
from autosnn.data.fake_cifar import write_fake_cifar
from autosnn.data.splits import DataSplits, collate, holdout_indices, subset
from autosnn.fitness import LocalEvaluator
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

GOALS = {"train": 5.0, "evaluator": 1.25}
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cifar10.yaml"
CACHE = Path(__file__).parent / ".cache" / "fake-cifar10"
MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
#: a CIFAR-shaped space whose subnets are small enough that the data path shows on a CPU
SMALL_SPACE = {"name": "cifar-small", "fixed": {"in_channels": 3, "image_size": 32, "num_classes": 10, "patch_size": 4},
               "dimensions": {"depth": [1], "embed_dim": [16], "time_steps": [1], "num_heads": [2],
                              "mlp_ratio": [2.0], "v_threshold": [1.0], "tau": [2.0]}}


def fake_cifar10() -> Path:
    """The full-size fake folder (written on first use); its md5s put in CHECKSUMS."""
    sums_file = CACHE / "md5.json"
    if not sums_file.exists():
        print(f"writing a full-size fake CIFAR-10 to {CACHE} ...", flush=True)
        sums = write_fake_cifar(CACHE, "cifar10", train_per_class=5000, test_per_class=1000)
        sums_file.write_text(json.dumps(sums))
    cifar_files.CHECKSUMS["cifar10"] = json.loads(sums_file.read_text())
    return CACHE


def old_splits(root: Path) -> DataSplits:
    """The loader as it was: torchvision's CIFAR10, per-image PIL transforms."""
    import torchvision
    import torchvision.transforms as T

    # torchvision checks every file's md5 as it did; its list is the real files', ours the fakes'
    cls, sums = torchvision.datasets.CIFAR10, cifar_files.CHECKSUMS["cifar10"]
    cls.train_list = [[f, sums[f]] for f, _ in cls.train_list]
    cls.test_list = [[f, sums[f]] for f, _ in cls.test_list]
    cls.meta = {**cls.meta, "md5": cifar_files.file_md5(root / "cifar-10-batches-py" / cls.meta["filename"])}
    norm = [T.ToTensor(), T.Normalize(*MEAN_STD)]
    train_aug = torchvision.datasets.CIFAR10(str(root), train=True, download=False, transform=T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] + norm))
    train_plain = torchvision.datasets.CIFAR10(str(root), train=True, download=False, transform=T.Compose(norm))
    test = torchvision.datasets.CIFAR10(str(root), train=False, download=False, transform=T.Compose(norm))
    keep, val = holdout_indices(np.asarray(train_aug.targets), 0.1)
    return DataSplits("cifar10", subset(train_aug, keep), subset(train_plain, val), test, 10)


def images_per_second(loader, batches: int) -> float:
    """Images/s over ``batches`` batches after the first (start-up and warm-up excluded)."""
    it = iter(loader)
    next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
        n += len(x)
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=40, help="training batches timed per path")
    ap.add_argument("--candidates", type=int, default=2, help="evaluations timed per path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_pipeline.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    campaign = yaml.safe_load(CONFIG.read_text())
    batch = int(campaign["data"]["batch_size"])
    cores = os.cpu_count() or 1
    workers = min(int(campaign["data"]["num_workers"]), cores)

    root = fake_cifar10()
    import torchvision  # noqa: F401  (imports before the load timings, for both paths)
    holdout_indices(np.arange(20) % 2, 0.5)
    t0 = time.perf_counter()
    new = load_data("cifar10", root=str(root), image_size=32, in_channels=3)
    new_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = old_splits(root)
    old_load_s = time.perf_counter() - t0
    assert (len(new.train), len(new.val), len(new.test)) == (len(old.train), len(old.val), len(old.test)) == \
        (45000, 5000, 10000)

    # ---- training: augmented images per second delivered to the step
    cpu = torch.device("cpu")
    old_train = torch.utils.data.DataLoader(old.train, batch_size=batch, shuffle=True, num_workers=workers,
                                            drop_last=True, collate_fn=collate,
                                            generator=torch.Generator().manual_seed(0))
    train = {"new": images_per_second(new.epoch_loader(batch, 0, 0, device=cpu), args.batches),
             "old": images_per_second(old_train, args.batches)}
    del old_train

    # ---- evaluator: candidates per second on the full validation split
    space = SearchSpace.from_dict(SMALL_SPACE, source="bench space")
    supernet = SpikformerSupernet(space).eval()
    recal = int(campaign["fitness"]["bn_recalibration_batches"])
    evaluators = {k: LocalEvaluator(supernet, d, batch_size=batch, device=cpu, bn_recalibration_batches=recal)
                  for k, d in (("new", new), ("old", old))}
    config = space.largest()
    seconds = {k: [] for k in evaluators}
    for k, ev in evaluators.items():   # warm-up, and both give the same accuracy on the same images
        seconds[k].append(ev.evaluate([config])[0])
    accuracies = {k: v[0].accuracy for k, v in seconds.items()}
    seconds = {k: [] for k in evaluators}
    for _ in range(args.candidates):   # interleaved: the same machine load for both
        for k, ev in evaluators.items():
            t = time.perf_counter()
            assert ev.evaluate([config])[0].ok
            seconds[k].append(time.perf_counter() - t)
    evaluator = {k: 1.0 / float(np.median(v)) for k, v in seconds.items()}
    # not judged: the validation pass's data alone (batches made, no model), seconds
    val_data_s = {}
    for k, d in (("new", new), ("old", old)):
        t = time.perf_counter()
        for _ in d.loader("val", batch, device=cpu):
            pass
        val_data_s[k] = time.perf_counter() - t

    checks = []
    for name, unit, measured in (("train", "augmented images/s", train), ("evaluator", "candidates/s", evaluator)):
        ratio = measured["new"] / measured["old"]
        checks.append({"name": name, "unit": unit, "new": measured["new"], "old": measured["old"], "ratio": ratio,
                       "goal": GOALS[name], "pass": ratio >= GOALS[name]})
    result = {
        "machine": {"platform": platform.platform(), "cores": cores, "torch_threads": args.threads,
                    "torch": torch.__version__},
        "settings": {"batch_size": batch, "old_num_workers": workers, "timed_batches": args.batches,
                     "timed_candidates": args.candidates, "val_images": len(new.val),
                     "bn_recalibration_batches": recal, "subnet": str(config)},
        "load_seconds": {"new": new_load_s, "old": old_load_s},
        "val_accuracy": accuracies, "val_pass_data_seconds": val_data_s, "checks": checks,
    }
    write_json(args.out, result)
    print(f"loading (read + md5 check): new {new_load_s:.1f} s, old {old_load_s:.1f} s; the validation split's "
          f"batches alone: new {val_data_s['new']:.2f} s, old {val_data_s['old']:.2f} s")
    for c in checks:
        print(f"{'PASS' if c['pass'] else 'SHORT'}  {c['name']}: new {c['new']:,.4g} vs old {c['old']:,.4g} "
              f"{c['unit']} (x{c['ratio']:.2f}, goal x{c['goal']:g})")
    print(f"results: {args.out}")
    return 0 if all(c["pass"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
