"""``search_state/``: what a search needs to continue exactly where it stopped.

One JSON file per finished generation (``gen_0003.json``) holds the population's
genomes in order, the per-individual data the selection reads (NSGA-II's ``rank`` and
``crowding``), the algorithm's random-generator state and the generation counter;
``search.json`` holds what was fixed at the start (algorithm, seed, reference energies).
Objectives are not stored: they come back from the evaluations table. No pickles: a
state is rebuilt from plain data.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymoo.core.algorithm import Algorithm

from autosnn.atomic import write_json
from autosnn.errors import RunDirError

__all__ = ["GenerationState", "SearchMeta", "StateStore"]

_DATA_KEYS = ("rank", "crowding")
_GEN_FILE = re.compile(r"^gen_(\d{4,})\.json$")


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


@dataclass
class GenerationState:
    """The algorithm after ``generation`` generations."""

    generation: int
    genomes: list[list[int]]
    data: dict[str, list[Any]]
    rng: dict[str, Any]
    n_iter: int

    @classmethod
    def capture(cls, algorithm: Algorithm, generation: int) -> "GenerationState":
        pop = algorithm.pop
        genomes = [[int(v) for v in x] for x in pop.get("X")] if pop is not None and len(pop) else []
        data: dict[str, list[Any]] = {}
        for key in _DATA_KEYS:
            if pop is not None and len(pop) and all(key in ind.data for ind in pop):
                data[key] = [_plain(ind.data[key]) for ind in pop]
        return cls(generation=generation, genomes=genomes, data=data,
                   rng=algorithm.random_state.bit_generator.state, n_iter=int(algorithm.n_iter))


@dataclass
class SearchMeta:
    """Settings fixed when a search starts."""

    algorithm: str
    seed: int
    population: int
    reference_energy_mj: float   # hypervolume reference: 1.1 x the largest subnet's energy
    target_mj: float             # F_AEB's E_target
    reference_objective: float = 0.0  # hypervolume reference: the smallest subnet's objective (0: runs before issue 12)
    extra: dict[str, Any] = field(default_factory=dict)


class StateStore:
    """The ``search_state/`` folder of a run."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @property
    def meta_path(self) -> Path:
        return self.folder / "search.json"

    def load_meta(self) -> SearchMeta | None:
        if not self.meta_path.is_file():
            return None
        try:
            return SearchMeta(**json.loads(self.meta_path.read_text()))
        except (ValueError, TypeError) as exc:
            raise RunDirError(f"{self.meta_path}: damaged search state ({exc})") from None

    def save_meta(self, meta: SearchMeta) -> None:
        write_json(self.meta_path, asdict(meta))

    def generations(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _GEN_FILE.match(p.name)))

    def path(self, generation: int) -> Path:
        return self.folder / f"gen_{generation:04d}.json"

    def save(self, state: GenerationState) -> None:
        write_json(self.path(state.generation), asdict(state))

    def load(self, generation: int) -> GenerationState:
        path = self.path(generation)
        try:
            return GenerationState(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise RunDirError(f"{path}: damaged search state ({exc})") from None

    def latest(self) -> GenerationState | None:
        gens = self.generations()
        return self.load(gens[-1]) if gens else None
