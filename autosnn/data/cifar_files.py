"""Reading CIFAR-10 / CIFAR-100 from their python-format files, checked.

The folder (``cifar-10-batches-py`` / ``cifar-100-python``) is read once with numpy into
``uint8 [N, 3, 32, 32]`` images and ``int64 [N]`` labels. Every file is checked before
use, and a bad one is a :class:`~autosnn.errors.DatasetError` naming it (one line):

* its md5 must be the published one (:data:`CHECKSUMS`, torchvision's list): this catches
  a truncated or damaged download, the real-world failure;
* it must unpickle (with an unpickler that builds numpy arrays and nothing else) into a
  batch of the expected keys and shapes, with labels in range.

Nothing downloads; the message says where to get the archive.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autosnn.errors import DatasetError

__all__ = ["CifarFiles", "CIFAR", "CHECKSUMS", "read_cifar", "file_md5"]


@dataclass(frozen=True)
class CifarFiles:
    """Where one CIFAR variant lives and what its python-format files hold."""

    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_key: str
    classes: int
    url: str


CIFAR = {
    "cifar10": CifarFiles("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                          "labels", 10, "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": CifarFiles("cifar-100-python", ("train",), ("test",), "fine_labels", 100,
                           "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}


#: ``{dataset: {file name: md5}}``: the published md5 of every file (torchvision's
#: ``CIFAR10`` / ``CIFAR100`` ``train_list`` + ``test_list``). Tests and benchmarks on fake
#: folders put their own files' md5s here.
CHECKSUMS: dict[str, dict[str, str]] = {
    "cifar10": {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
                "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e"},
    "cifar100": {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
}

_NUMPY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                  ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _key(k: object) -> object:
    return k.decode("latin1") if isinstance(k, bytes) else k


def _read_batch(path: Path, spec: CifarFiles, expected_md5: str | None) -> tuple[np.ndarray, np.ndarray]:
    again = f"download and extract {spec.url} again"
    if not path.is_file():
        raise DatasetError(f"CIFAR file {path} is missing ({again})")
    if expected_md5 is not None:
        got = file_md5(path)
        if got != expected_md5:
            raise DatasetError(f"CIFAR file {path} is damaged: md5 {got}, published {expected_md5} "
                               f"(a truncated or corrupt download; {again})")
    try:
        with open(path, "rb") as fh:
            batch = {_key(k): v for k, v in _ArraysOnly(fh, encoding="latin1").load().items()}
        data, labels = batch["data"], np.asarray(batch[spec.label_key], dtype=np.int64)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
            raise ValueError(f"'data' is not uint8 [N, 3072] but {getattr(data, 'dtype', type(data))} "
                             f"{getattr(data, 'shape', '')}")
        if labels.shape != (len(data),) or (len(labels) and not (0 <= labels.min() and labels.max() < spec.classes)):
            raise ValueError(f"'{spec.label_key}' are not {len(data)} labels in [0, {spec.classes})")
    except Exception as exc:  # noqa: BLE001 - any failure to read is the same user-facing problem
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DatasetError(f"CIFAR file {path} is not a readable CIFAR batch ({type(exc).__name__}: {reason}; "
                           f"{again})") from None
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar(name: str, folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N], train_count)`` of the CIFAR
    folder ``folder``: the training files' images first (in file order), then the test
    set's. Raises :class:`DatasetError` naming the first bad file."""
    spec = CIFAR[name]
    sums = CHECKSUMS.get(name, {})
    parts = [_read_batch(folder / f, spec, sums.get(f)) for f in spec.train + spec.test]
    train_count = sum(len(p[1]) for p in parts[:len(spec.train)])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), train_count
