"""The dry run of ``configs/cifar10.yaml`` on a full-size fake CIFAR-10 (this machine's CPU).

Writes ``cifar-10-batches-py/`` (50,000 training + 10,000 test random uint8 images in the
python pickle format torchvision reads: ``data_batch_1..5``, ``test_batch``,
``batches.meta``) under ``--root`` unless it is there, then runs
``autosnn run configs/cifar10.yaml --dry-run`` with ``data.root`` pointed at it (a copy
of the campaign; nothing else changed). torchvision checks the md5 of the official files;
random files have other sums, so the check is bypassed here as in ``tests/test_configs.py``.

    python bench/experiments/dry_run_cifar10.py [--root /tmp/fake-cifar] [--steps 1]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "cifar10.yaml"
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def fake_cifar10(root: Path, seed: int = 0) -> Path:
    """Full-size random CIFAR-10 in the python format under ``root`` (kept if present)."""
    folder = root / "cifar-10-batches-py"
    if (folder / "batches.meta").is_file():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, 10_000).tolist()
        data = rng.integers(0, 256, (10_000, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(10_000)]}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": NAMES, "num_cases_per_batch": 10_000, "num_vis": 3072}, fh)
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "fake-cifar")
    ap.add_argument("--steps", type=int, default=1, help="--dry-run-steps")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    import torchvision.datasets.cifar as tv_cifar

    from autosnn.cli import main as autosnn

    tv_cifar.check_integrity = lambda *a, **k: True  # random files: other md5 sums than the official ones
    fake_cifar10(args.root)
    settings = yaml.safe_load(CONFIG.read_text())
    settings["data"]["root"] = str(args.root)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cifar10.yaml"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        return autosnn(["run", str(config), "--out", str(Path(tmp) / "runs" / "cifar10"), "--dry-run",
                        "--dry-run-steps", str(args.steps), "--device", args.device])


if __name__ == "__main__":
    sys.exit(main())
