"""``evaluations.parquet``: one row per evaluated candidate; also the search's cache."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from autosnn.atomic import atomic_write
from autosnn.errors import RunDirError
from autosnn.fitness.result import EvalResult
from autosnn.search.operators.duplicates import genome_key

__all__ = ["EvaluationTable", "COLUMNS"]

#: Column order of ``evaluations.parquet`` (docs/design.md, The run folder, plus the extras).
COLUMNS: tuple[str, ...] = (
    "id", "config", "genome", "generation", "accuracy", "energy_mj", "macs", "acs", "params", "time_steps",
    "firing_rates", "f_aeb", "seconds", "worker", "status", "reason", "layers", "score", "objective", "feasible",
)


class EvaluationTable:
    """Every evaluation of a campaign, keyed by config id (= canonical genome).

    ``genome`` is stored as a JSON list of choice indices, ``config``, ``firing_rates``
    and ``layers`` as JSON; ``objective`` is what the search maximised (accuracy, or
    the training-free score); ``feasible`` says whether the row meets the campaign's
    constraints (and did not fail). The table is the search's cache: a config found
    here is never evaluated again (a failed one is not retried).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.rows: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            df = pd.read_parquet(self.path)
        except Exception as exc:  # a truncated file cannot exist (atomic writes), but a foreign one can
            raise RunDirError(f"{self.path}: not a readable evaluations table ({exc})") from None
        missing = [c for c in ("id", "genome", "generation", "status") if c not in df.columns]
        if missing:
            raise RunDirError(f"{self.path}: not an evaluations table (missing columns {missing})")
        for row in df.to_dict("records"):
            row = {k: (None if isinstance(v, float) and math.isnan(v) and k == "score" else v) for k, v in row.items()}
            self.rows.append(row)
            self._by_id[row["id"]] = row

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, config_id: str) -> bool:
        return config_id in self._by_id

    def get(self, config_id: str) -> dict[str, Any] | None:
        return self._by_id.get(config_id)

    def genomes_before(self, generation: int) -> set[tuple[int, ...]]:
        """Keys of the genomes evaluated in generations before ``generation``."""
        return {genome_key(json.loads(r["genome"])) for r in self.rows if int(r["generation"]) < generation}

    def count_until(self, generation: int) -> int:
        return sum(1 for r in self.rows if int(r["generation"]) <= generation)

    def frame(self, until_generation: int | None = None) -> pd.DataFrame:
        rows = self.rows if until_generation is None else [r for r in self.rows if int(r["generation"]) <= until_generation]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    # ----------------------------------------------------------------- updates
    def add(self, results: Sequence[EvalResult], genomes: Iterable[np.ndarray], generation: int,
            f_aeb: Callable[[float, float], float], feasible: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Append one row per result (``genomes`` in the same order); returns the rows."""
        added = []
        for res, genome in zip(results, genomes):
            row = res.to_row()
            row["genome"] = json.dumps([int(v) for v in genome])
            row["generation"] = int(generation)
            row["objective"] = float(res.objective()) if res.ok else float("nan")
            row["f_aeb"] = float(f_aeb(row["objective"], res.energy_mj)) if res.ok else float("nan")
            row["params"] = int(row["params"] or 0)
            row["feasible"] = bool(res.ok and feasible(row))
            row = {c: row.get(c) for c in COLUMNS}
            if row["id"] in self._by_id:
                raise ValueError(f"candidate {row['id']} evaluated twice")
            self.rows.append(row)
            self._by_id[row["id"]] = row
            added.append(row)
        return added

    def save(self) -> None:
        """Write the whole table atomically (a temp file, then a rename)."""
        if self.path is None:
            return
        df = self.frame()
        df["score"] = df["score"].astype("float64")
        atomic_write(self.path, lambda fh: df.to_parquet(fh, index=False))
