"""A CIFAR folder of random images in the python format, for tests and benchmarks.

:func:`write_fake_cifar` writes ``cifar-10-batches-py/`` (or ``cifar-100-python/``) with
the real file names and layout (a pickled dict per file, ``data`` uint8 ``[n, 3072]``),
and returns the md5 of every file it wrote: the real integrity check
(:mod:`autosnn.data.cifar_files`) then runs against those sums, e.g.
``monkeypatch.setitem(cifar_files.CHECKSUMS, "cifar10", sums)``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from autosnn.data.cifar_files import CIFAR, file_md5

__all__ = ["write_fake_cifar"]


def write_fake_cifar(root: str | Path, name: str = "cifar10", *, train_per_class: int = 15, test_per_class: int = 2,
                     seed: int = 0) -> dict[str, str]:
    """Write a fake ``name`` folder into ``root`` (``train_per_class`` training and
    ``test_per_class`` test images of every class, labels cycling); returns ``{file: md5}``."""
    spec = CIFAR[name]
    folder = Path(root) / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def write(files: tuple[str, ...], per_class: int) -> None:
        labels = np.tile(np.arange(spec.classes), per_class)
        for file, part in zip(files, np.array_split(np.arange(len(labels)), len(files))):
            data = rng.integers(0, 256, (len(part), 3 * 32 * 32), dtype=np.uint8)
            with open(folder / file, "wb") as fh:
                pickle.dump({"batch_label": file, spec.label_key: labels[part].tolist(), "data": data,
                             "filenames": [f"{i}.png" for i in part]}, fh)

    write(spec.train, train_per_class)
    write(spec.test, test_per_class)
    meta = "batches.meta" if name == "cifar10" else "meta"
    with open(folder / meta, "wb") as fh:
        pickle.dump({"label_names" if name == "cifar10" else "fine_label_names":
                     [f"class{i}" for i in range(spec.classes)]}, fh)
    return {file: file_md5(folder / file) for file in spec.train + spec.test}
