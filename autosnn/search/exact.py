"""Exact answers for an enumerable space: every subnet evaluated once, cached on disk.

A search's result is only a number when it is compared with the truth. For a space
small enough to enumerate (``space.size()`` in the thousands), :func:`exact_table`
evaluates every subnet once with any :class:`~autosnn.fitness.result.Evaluator` and
keeps the table in a parquet file (written atomically every ``chunk`` evaluations, so a
killed run resumes and a re-run costs nothing); :class:`TableEvaluator` then answers any
search from that table instantly, and ``pareto_front(table)`` is the exact front.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd
from tqdm.auto import tqdm

from autosnn.atomic import atomic_write
from autosnn.errors import RunDirError
from autosnn.fitness.result import EvalResult, Evaluator
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["all_configs", "exact_table", "TableEvaluator", "TABLE_COLUMNS", "config_of"]

#: Columns of an exact table (one row per subnet; ``config`` as JSON). ``objective`` and
#: ``feasible`` make it a frame :func:`autosnn.search.front.pareto_front` accepts.
TABLE_COLUMNS = ("id", "config", "accuracy", "energy_mj", "macs", "acs", "params", "time_steps", "status",
                 "reason", "seconds", "objective", "feasible")


def all_configs(space: SearchSpace) -> Iterator[SubnetConfig]:
    """Every distinct subnet of ``space`` once (``space.size()`` of them), in a fixed
    order: depth, embed_dim, time_steps, then the per-block choices block by block
    (token mixer included when the space declares one)."""
    c = space.choices
    for depth in c["depth"]:
        for embed in c["embed_dim"]:
            per_block = list(itertools.product(space.heads_for(embed), c["mlp_ratio"], c["v_threshold"], c["tau"],
                                               space.mixers))
            for t in c["time_steps"]:
                for blocks in itertools.product(per_block, repeat=depth):
                    heads, ratios, thresholds, taus, mixers = zip(*blocks)
                    yield SubnetConfig(depth=depth, embed_dim=embed, time_steps=t, num_heads=heads, mlp_ratio=ratios,
                                       v_threshold=thresholds, tau=taus, attention=mixers, **space.fixed())


def _row(res: EvalResult) -> dict:
    return {"id": res.config.id, "config": res.config.to_json(), "accuracy": float(res.accuracy),
            "energy_mj": float(res.energy_mj), "macs": float(res.macs), "acs": float(res.acs),
            "params": int(res.params or 0), "time_steps": res.config.time_steps, "status": res.status,
            "reason": res.reason, "seconds": float(res.seconds), "objective": float(res.objective()),
            "feasible": bool(res.ok)}


def exact_table(space: SearchSpace, evaluator: Evaluator | None, path: str | Path, *, chunk: int = 200,
                progress: bool = True, log: Callable[[str], None] = print) -> pd.DataFrame:
    """The evaluation of every subnet of ``space`` (one row each, :data:`TABLE_COLUMNS`).

    Rows already in ``path`` are kept; the missing ones are evaluated by ``evaluator``
    ``chunk`` at a time, the file rewritten atomically after each chunk (a killed run
    loses at most one chunk). With every row present, ``evaluator`` is not used (it may be
    ``None``). The per-layer tables and firing rates are not kept (the table is a cache of
    objectives)."""
    path = Path(path)
    rows: dict[str, dict] = {}
    if path.exists():
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise RunDirError(f"{path}: not a readable exact table ({exc}); delete it to start over") from None
        rows = {r["id"]: r for r in df.to_dict("records")}
    todo = [cfg for cfg in all_configs(space) if cfg.id not in rows]
    if todo:
        if evaluator is None:
            raise RunDirError(f"{path}: {len(todo)} of {space.size()} subnets not evaluated yet and no evaluator given")
        if rows:
            log(f"resuming the exact table: {len(rows)} of {space.size()} subnets already evaluated in {path}")
        bar = tqdm(total=space.size(), initial=len(rows), desc=f"exact table ({space.name})", unit="subnet",
                   disable=not progress, dynamic_ncols=True)
        start = time.perf_counter()
        try:
            for i in range(0, len(todo), chunk):
                batch = todo[i:i + chunk]
                for res in evaluator.evaluate(batch):
                    rows[res.config.id] = _row(res)
                frame = pd.DataFrame(list(rows.values()), columns=list(TABLE_COLUMNS))
                atomic_write(path, lambda fh: frame.to_parquet(fh, index=False))
                bar.update(len(batch))
        finally:
            bar.close()
        log(f"exact table: {len(todo)} subnets evaluated in {time.perf_counter() - start:.0f} s -> {path}")
    ids = [cfg.id for cfg in all_configs(space)]
    return pd.DataFrame([rows[i] for i in ids], columns=list(TABLE_COLUMNS))


class TableEvaluator:
    """An :class:`~autosnn.fitness.result.Evaluator` that answers from an exact table
    (instant, deterministic). ``evaluated`` counts the configs it was asked for."""

    def __init__(self, table: pd.DataFrame) -> None:
        self._rows = {r["id"]: r for r in table.to_dict("records")}
        self.evaluated = 0

    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        out = []
        for cfg in configs:
            r = self._rows.get(cfg.id)
            if r is None:
                raise KeyError(f"{cfg.id} is not in the exact table")
            if r["status"] != "ok":
                out.append(EvalResult.failed(cfg, str(r["reason"]), worker="table"))
            else:
                out.append(EvalResult(config=cfg, accuracy=float(r["accuracy"]), energy_mj=float(r["energy_mj"]),
                                      macs=float(r["macs"]), acs=float(r["acs"]), params=int(r["params"]),
                                      seconds=0.0, worker="table"))
        self.evaluated += len(configs)
        return out

    def close(self) -> None:
        pass


def config_of(row: dict) -> SubnetConfig:
    """The :class:`SubnetConfig` of an exact-table row."""
    return SubnetConfig.from_dict(json.loads(row["config"]))
