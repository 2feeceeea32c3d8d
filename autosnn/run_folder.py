"""``RunFolder``: the paths of a campaign's run directory and the check that a folder
belongs to the campaign about to use it (docs/design.md, The run folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autosnn.atomic import write_text
from autosnn.campaign import Campaign
from autosnn.errors import RunDirError

__all__ = ["RunFolder", "HISTORY_REQUIRED"]

#: Columns every ``history.csv`` has (the search writes more, see
#: ``autosnn.search.search.HISTORY_COLUMNS``).
HISTORY_REQUIRED = ("generation", "evaluations", "hypervolume")

#: Settings that may change between two commands on the same run folder.
_MAY_CHANGE = {("search", "generations"), ("evaluator",), ("export",), ("data", "num_workers"), ("data", "root")}


def _diff(old: Any, new: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    if any(path[: len(p)] == p for p in _MAY_CHANGE):
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = _diff(old.get(key), new.get(key), path + (key,))
            if found is not None:
                return found
        return None
    return None if old == new else path


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    campaign_yaml = property(lambda self: self.path / "campaign.yaml")
    supernet = property(lambda self: self.path / "supernet.pt")
    evaluations = property(lambda self: self.path / "evaluations.parquet")
    search_state = property(lambda self: self.path / "search_state")
    pareto_csv = property(lambda self: self.path / "pareto.csv")
    pareto_png = property(lambda self: self.path / "pareto.png")
    report_html = property(lambda self: self.path / "report.html")
    history_csv = property(lambda self: self.path / "history.csv")
    exports = property(lambda self: self.path / "exports")

    def load_campaign(self) -> Campaign:
        if not self.campaign_yaml.is_file():
            raise RunDirError(f"{self.path} is not a run folder (no campaign.yaml)")
        return Campaign.from_yaml(self.campaign_yaml)

    def load_history(self) -> pd.DataFrame | None:
        """``history.csv`` (one row per generation), or ``None`` when there is none yet.
        A file that is no such table (unparsable, missing columns, non-numeric values,
        generations not 1, 2, ... in order) is a :class:`RunDirError` naming it."""
        path = self.history_csv
        if not path.is_file():
            return None
        try:
            df = pd.read_csv(path)
        except Exception as exc:  # pandas raises several types for a damaged file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RunDirError(f"{path}: cannot be read ({first[:160]})") from None
        missing = [c for c in HISTORY_REQUIRED if c not in df.columns]
        if missing:
            raise RunDirError(f"{path}: not a search history (missing columns {missing})")
        bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            raise RunDirError(f"{path}: not a search history (non-numeric values in {bad})")
        gens = df["generation"].to_numpy()
        if len(df) and not np.array_equal(gens, gens[0] + np.arange(len(gens))):
            raise RunDirError(f"{path}: not a search history (generations {gens.tolist()[:8]} are not consecutive)")
        return df

    def check(self, campaign: Campaign) -> None:
        """Everything :meth:`prepare` refuses, without writing anything: an invalid
        campaign, a folder made by another campaign, a non-empty folder that is no run
        folder. (Whether the files inside can be read is for the commands that resume
        them to check first: ``autosnn.pipeline.run.check_readable``.)"""
        campaign.validate()
        if self.campaign_yaml.is_file():
            old = self.load_campaign().to_dict()
            key = _diff(old, campaign.to_dict())
            if key is not None:
                dotted = ".".join(key)
                raise RunDirError(
                    f"{self.path} was made by another campaign ({dotted}: {_get(old, key)!r} there, "
                    f"{_get(campaign.to_dict(), key)!r} now); use another --out folder")
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunDirError(f"{self.path} exists, is not empty and has no campaign.yaml; use another --out folder")

    def prepare(self, campaign: Campaign) -> None:
        """Create the folder, or check that an existing one was made by this campaign
        (:meth:`check`); then write the resolved campaign file (every default written
        out), unless the same text is already there."""
        self.check(campaign)
        self.path.mkdir(parents=True, exist_ok=True)
        text = campaign.to_yaml()
        if not (self.campaign_yaml.is_file() and self.campaign_yaml.read_text() == text):
            write_text(self.campaign_yaml, text)


def _get(d: Any, key: tuple[str, ...]) -> Any:
    for k in key:
        d = d.get(k) if isinstance(d, dict) else None
    return d
