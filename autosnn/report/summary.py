"""Read what a run folder holds (also while its search is still running) and analyse it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from autosnn.campaign import Campaign
from autosnn.errors import RunDirError
from autosnn.report.front import VALUE, AEBTarget, aeb_target, ok_rows, pareto_front, pick_aeb, pick_knee, with_f_aeb
from autosnn.run_folder import RunFolder
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["RunSummary", "load_evaluations", "load_history", "load_neurobench", "summarize", "resolve_pick"]


def load_evaluations(run_dir: str | Path) -> pd.DataFrame:
    """The evaluations table of a run folder, as written so far."""
    folder = RunFolder(Path(run_dir))
    folder.load_campaign()  # a clear error when this is not a run folder
    path = folder.evaluations
    if not path.is_file():
        raise RunDirError(f"{folder.path} has no evaluations yet ({path.name} is missing); "
                          "run the search first (autosnn run CONFIG.yaml), or wait for its first generation")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunDirError(f"{path}: cannot be read ({first[:160]})") from None
    missing = [c for c in ("id", "config", "accuracy", "energy_mj") if c not in df.columns]
    if missing:
        raise RunDirError(f"{path}: not an evaluations table (missing columns {missing})")
    return df


def load_history(run_dir: str | Path) -> pd.DataFrame | None:
    """``history.csv`` (generation, evaluations, hypervolume), or ``None`` when absent; a
    damaged one is a :class:`~autosnn.errors.RunDirError` (:meth:`RunFolder.load_history`)."""
    return RunFolder(Path(run_dir)).load_history()


def load_neurobench(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{export folder name: {split: result}}`` of the run's exports whose ``metrics.json``
    holds NeuroBench results (``autosnn evaluate EXPORT --neurobench``); unreadable files
    are skipped."""
    out: dict[str, dict[str, Any]] = {}
    exports = RunFolder(Path(run_dir)).exports
    for metrics in sorted(exports.glob("*/metrics.json")) if exports.is_dir() else []:
        try:
            section = json.loads(metrics.read_text()).get("neurobench")
        except (ValueError, UnicodeDecodeError, AttributeError, OSError):
            continue
        if isinstance(section, dict) and section:
            out[metrics.parent.name] = {k: v for k, v in section.items() if isinstance(v, dict)}
    return out


@dataclass
class RunSummary:
    """Everything the reports show about a run folder."""

    path: Path
    campaign: Campaign
    space: Any
    evaluations: pd.DataFrame          # every row, f_aeb recomputed for the ok ones
    front: pd.DataFrame                # non-dominated rows, ranked by F_AEB (rank 1 first)
    target: AEBTarget
    pick: str | None                   # the F_AEB pick's id
    knee: str | None
    filters: dict[str, float] = field(default_factory=dict)
    neurobench: dict[str, dict[str, Any]] = field(default_factory=dict)   # export -> split -> NeuroBench result

    @property
    def value_label(self) -> str:
        """What the front maximises, for headers and axes."""
        return "score" if self.campaign.fitness.mode == "training-free" else "accuracy"

    @property
    def n_ok(self) -> int:
        return len(ok_rows(self.evaluations))

    @property
    def n_failed(self) -> int:
        return len(self.evaluations) - self.n_ok

    def row(self, candidate_id: str) -> pd.Series:
        hit = self.evaluations[self.evaluations["id"] == candidate_id]
        return hit.iloc[0]


def summarize(run_dir: str | Path, *, energy_max: float | None = None, acc_min: float | None = None) -> RunSummary:
    """Load a run folder and compute its front, F_AEB ranks and picks."""
    path = Path(run_dir)
    campaign = RunFolder(path).load_campaign()
    space = campaign.resolve_space()
    df = load_evaluations(path)
    if VALUE not in df.columns:  # a table written before the search recorded its objective
        df = df.assign(**{VALUE: df["accuracy"]})
    target = aeb_target(df, campaign, space, path)
    df = with_f_aeb(df, target)
    front = pareto_front(df, energy_max=energy_max, acc_min=acc_min)
    front = front.assign(_e=-front["energy_mj"].astype(float)).sort_values(
        ["f_aeb", VALUE, "_e"], ascending=False, kind="stable").drop(columns="_e")
    front.insert(0, "rank", range(1, len(front) + 1))
    configs = [SubnetConfig.from_json(c) for c in front["config"]]
    front["arch"] = [c.arch_string for c in configs]
    front["neurons"] = [c.threshold_tau_string for c in configs]
    filters = {k: v for k, v in (("energy_max", energy_max), ("acc_min", acc_min)) if v is not None}
    return RunSummary(path=path, campaign=campaign, space=space, evaluations=df, front=front.reset_index(drop=True),
                      target=target, pick=pick_aeb(front), knee=pick_knee(front), filters=filters,
                      neurobench=load_neurobench(path))


def resolve_pick(summary: RunSummary, pick: str) -> str:
    """``aeb`` | ``knee`` | a candidate id (or a unique prefix of one) -> the candidate id."""
    if pick in ("aeb", "knee"):
        chosen = summary.pick if pick == "aeb" else summary.knee
        if chosen is None:
            extra = f" within {summary.filters}" if summary.filters else ""
            raise RunDirError(f"{summary.path}: no successful evaluation{extra} to pick from")
        return chosen
    ids = summary.evaluations["id"].astype(str)
    hits = sorted(set(ids[ids.str.startswith(pick)])) if pick else []
    if not hits:
        raise RunDirError(f"{summary.path}: no candidate '{pick}' in the evaluations; "
                          "use aeb, knee or an id printed by 'autosnn pareto'")
    if len(hits) > 1:
        raise RunDirError(f"{summary.path}: '{pick}' matches {len(hits)} candidates ({', '.join(hits[:4])}...); give more digits")
    row = summary.row(hits[0])
    if str(row.get("status", "ok")) != "ok":
        raise RunDirError(f"candidate {hits[0]} failed to evaluate ({row.get('reason', '')}); it cannot be exported")
    return hits[0]


def parse_json(value: Any, default: Any) -> Any:
    """A JSON column value (``None``/NaN/invalid -> ``default``)."""
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str) or not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default
