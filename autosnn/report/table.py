"""The Pareto table as text, CSV or JSON (``autosnn pareto --format``)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from autosnn.report.summary import RunSummary

__all__ = ["TABLE_COLUMNS", "table_records", "render_table", "render_csv", "render_json"]

#: (key, header) of every column of the table, in order.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "rank"), ("id", "id"), ("accuracy", "accuracy"), ("energy_mj", "energy mJ"), ("macs", "MACs"),
    ("acs", "ACs"), ("params", "params"), ("time_steps", "T"), ("f_aeb", "F_AEB"), ("arch", "architecture"),
    ("neurons", "neurons (ESNN)"),
)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def table_records(summary: RunSummary, top: int | None = None) -> list[dict[str, Any]]:
    """One dict per front row (rank order), with plain Python values and ``pick`` / ``knee`` flags."""
    rows = summary.front if top is None else summary.front.head(top)
    out = []
    for _, r in rows.iterrows():
        rec: dict[str, Any] = {
            "rank": int(r["rank"]), "id": str(r["id"]), "accuracy": _num(r["accuracy"]), "objective": _num(r["objective"]),
            "energy_mj": _num(r["energy_mj"]), "macs": _num(r.get("macs")), "acs": _num(r.get("acs")),
            "params": int(_num(r.get("params"))) if math.isfinite(_num(r.get("params"))) else None,
            "time_steps": int(_num(r.get("time_steps"))) if math.isfinite(_num(r.get("time_steps"))) else None,
            "f_aeb": _num(r["f_aeb"]), "arch": str(r["arch"]), "neurons": str(r["neurons"]),
            "pick": str(r["id"]) == summary.pick, "knee": str(r["id"]) == summary.knee,
        }
        if "generation" in r.index and math.isfinite(_num(r["generation"])):
            rec["generation"] = int(_num(r["generation"]))
        rec["config"] = json.loads(r["config"])
        out.append(rec)
    return out


def _fmt(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if key in ("accuracy", "objective"):
        return f"{v:.4f}"
    if key == "energy_mj":
        return f"{v:.4g}"
    if key in ("macs", "acs"):
        return _si(v)
    if key == "params":
        return f"{int(v):,}"
    if key == "f_aeb":
        return f"{v:.4f}"
    return str(v)


def _si(v: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def render_table(summary: RunSummary, top: int | None = None) -> str:
    """A fixed-width table of the front; the F_AEB pick is marked ``*``, the knee ``k``."""
    records = table_records(summary, top)
    columns = [(("objective", "score") if k == "accuracy" and summary.value_label == "score" else (k, h))
               for k, h in TABLE_COLUMNS]
    heads = [h for _, h in columns]
    body = []
    for rec in records:
        mark = ("*" if rec["pick"] else " ") + ("k" if rec["knee"] else " ")
        body.append([mark] + [_fmt(k, rec[k]) for k, _ in columns])
    widths = [2] + [max([len(h)] + [len(row[i + 1]) for row in body]) for i, h in enumerate(heads)]
    left = {"id", "architecture", "neurons (ESNN)"}
    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if (i == 0 or heads[i - 1] in left) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines = [line([""] + heads)] + [line(row) for row in body]
    n_front = len(summary.front)
    shown = f"{len(records)} of {n_front}" if len(records) != n_front else f"{n_front}"
    filters = "".join(f", {k.replace('_', ' ')} {v:g}" for k, v in summary.filters.items())
    lines.append("")
    lines.append(f"{shown} non-dominated of {summary.n_ok} evaluated"
                 + (f" ({summary.n_failed} failed)" if summary.n_failed else "") + filters)
    lines.append(f"* F_AEB pick: {summary.pick or '-'}    k knee: {summary.knee or '-'}    {summary.target.describe()}")
    lines.append(("accuracy on the validation split" if summary.value_label == "accuracy" else
                  "score: training-free FLOPs proxy (no accuracy measured)")
                 + f"; energy ({summary.campaign.fitness.energy.model} model) per inference of one sample over all"
                 " T steps")
    return "\n".join(lines)


def render_csv(summary: RunSummary, top: int | None = None) -> str:
    keys = [k for k, _ in TABLE_COLUMNS] + ["pick", "knee"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in table_records(summary, top):
        writer.writerow({k: ("" if rec[k] is None else rec[k]) for k in keys})
    return buf.getvalue()


def render_json(summary: RunSummary, top: int | None = None) -> str:
    payload = {
        "run": str(summary.path), "campaign": summary.campaign.name, "evaluated": summary.n_ok,
        "failed": summary.n_failed, "pick": summary.pick, "knee": summary.knee,
        "aeb": {"target_mj": summary.target.target_mj, "target_source": summary.target.source,
                "alpha": summary.target.alpha, "beta": summary.target.beta},
        "filters": summary.filters, "front": table_records(summary, top),
    }
    return json.dumps(_clean(payload), indent=2, allow_nan=False)


def _clean(obj: Any) -> Any:
    """NaN / inf -> null, so the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
