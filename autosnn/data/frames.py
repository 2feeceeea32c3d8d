"""Event data at several time steps: the same samples integrated into T frames for every
T of the search space, so that a candidate's ``time_steps`` gene changes its input.

spikingjelly integrates an event stream into ``frames_number`` frames once per T and
caches the frames on disk (``root/frames_number_<T>_split_by_number``); the datasets of
the different T list the same sample files in the same order. :class:`MultiStepFrames`
zips them: item ``i`` is ``({T: frames [T, C, H, W]}, label)``. A batch of it is a dict
``{T: [T, N, C, H, W]}`` (see :func:`autosnn.data.splits.collate`), and a model picks
the entry of its own T (:func:`autosnn.supernet.layers.to_sequence`), so supernet
training can feed subnets of different T the same samples within one step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from torch.utils.data import Dataset

from autosnn.errors import DatasetError

__all__ = ["MultiStepFrames", "NamedFrames"]


class NamedFrames(Dataset):
    """A frame dataset (spikingjelly's, a ``DatasetFolder`` of per-sample files) whose
    unreadable file is a :class:`~autosnn.errors.DatasetError` naming it, raised when the
    sample is read (one line, also from a ``DataLoader`` worker)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    @property
    def samples(self) -> Sequence[tuple[str, int]] | None:
        return getattr(self.dataset, "samples", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as exc:  # noqa: BLE001 - whatever the reader raised, the file is what the user must fix
            samples = self.samples
            where = samples[index][0] if samples is not None else f"sample {index}"
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            frames = [f for f in Path(where).parents if f.name.startswith("frames_")]
            hint = f"; delete {frames[0]} to integrate the events again" if frames else ""
            raise DatasetError(f"cannot read event frames {where} ({type(exc).__name__}"
                               f"{': ' + reason if reason else ''}){hint}") from None


class MultiStepFrames(Dataset):
    """``by_time_steps``: ``{T: dataset}`` of the same samples (same order) integrated at
    ``T`` frames; each dataset yields ``(frames [T, C, H, W], label)``."""

    def __init__(self, by_time_steps: Mapping[int, Dataset]) -> None:
        if not by_time_steps:
            raise ValueError("MultiStepFrames needs at least one time-step count")
        self.by_time_steps = {int(t): ds for t, ds in sorted(by_time_steps.items())}
        lengths = {t: len(ds) for t, ds in self.by_time_steps.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"the frame datasets of the time steps differ in length: {lengths}")
        listed = [_sample_list(ds) for ds in self.by_time_steps.values()]
        if listed[0] is not None and any(other != listed[0] for other in listed[1:]):
            raise ValueError("the frame datasets of the time steps do not list the same samples in the same order")

    @property
    def time_steps(self) -> tuple[int, ...]:
        return tuple(self.by_time_steps)

    def __len__(self) -> int:
        return len(next(iter(self.by_time_steps.values())))

    def __getitem__(self, index: int) -> tuple[dict[int, Any], int]:
        frames, label = {}, None
        for t, ds in self.by_time_steps.items():
            frames[t], label = ds[index]
        return frames, label


def _sample_list(ds: Dataset) -> Sequence[tuple[str, int]] | None:
    """``(file name, label)`` of every sample of a torchvision ``DatasetFolder`` (the
    frame folders of different T hold files of the same names), else ``None``."""
    samples = getattr(ds, "samples", None)
    if samples is None:
        return None
    return [(Path(path).name, int(label)) for path, label in samples]
