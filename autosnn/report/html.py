"""``report.html``: one self-contained page (plot embedded as base64, no external files)."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

import pandas as pd

from autosnn.fitness.energy import energy_model_from_config
from autosnn.fitness.energy_models import PER_INFERENCE
from autosnn.report.summary import RunSummary, load_history, parse_json
from autosnn.report.table import TABLE_COLUMNS, _fmt, table_records
from autosnn.search.state import StateStore

__all__ = ["report_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2} td.l,th.l{text-align:left} tr.pick{background:#ffe9e6;font-weight:600}
code,pre{background:#f6f6f6;padding:.1em .3em} pre{padding:.8em;overflow:auto}
img{max-width:100%} .note{color:#666;font-size:.9em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(headers: list[str], rows: list[list[str]], left: set[int] = frozenset(), row_class: list[str] | None = None,
           table_id: str | None = None) -> str:
    idattr = f' id="{_e(table_id)}"' if table_id else ""
    out = [f"<table{idattr}>", "<thead><tr>"]
    out += [f'<th class="l">{_e(h)}</th>' if i in left else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for j, r in enumerate(rows):
        cls = f' class="{row_class[j]}"' if row_class and row_class[j] else ""
        out.append(f"<tr{cls}>" + "".join(f'<td class="l">{_e(c)}</td>' if i in left else f"<td>{_e(c)}</td>"
                                          for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _front_section(summary: RunSummary) -> str:
    records = table_records(summary)
    headers = ["", *[h for _, h in TABLE_COLUMNS]]
    rows = [[("★ pick" if r["pick"] else "") + (" knee" if r["knee"] else "")] + [_fmt(k, r[k]) for k, _ in TABLE_COLUMNS]
            for r in records]
    left = {0, 2, len(headers) - 1}
    classes = ["pick" if r["pick"] else "" for r in records]
    return _table(headers, rows, left, classes, table_id="pareto-table")


def _history_section(summary: RunSummary) -> str:
    hist = load_history(summary.path)
    if hist is None or hist.empty:
        return '<p class="note">No history.csv yet (it is written after every generation).</p>'
    cols = [c for c in ("generation", "evaluations", "hypervolume") if c in hist.columns] or list(hist.columns)
    rows = [[_cell(v) for v in r] for r in hist[cols].itertuples(index=False)]
    return _hypervolume_note(summary) + _table(cols, rows, table_id="history-table")


def _hypervolume_note(summary: RunSummary) -> str:
    """What the history's hypervolume measures: the box fixed when the search started."""
    meta = StateStore(summary.path / "search_state").load_meta()
    if meta is None:
        return ""
    o_ref, e_ref = meta.reference_objective, meta.reference_energy_mj
    return (f'<p class="note">Hypervolume: the fraction of the box {summary.value_label} in [{o_ref:.4g}, 1] x '
            f"energy in [0, {e_ref:.4g}] mJ that the evaluations so far dominate; reference point "
            f"({summary.value_label} {o_ref:.4g}: the smallest subnet's, energy {e_ref:.4g} mJ: 1.1 x the largest "
            "subnet's), fixed when the search started.</p>")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else (f"{v:.6g}")
    return str(v)


def _pick_section(summary: RunSummary) -> str:
    if summary.pick is None:
        return '<p class="note">No successful evaluation yet.</p>'
    r = summary.row(summary.pick)
    model = energy_model_from_config(summary.campaign.fitness.energy)
    parts = [f"<p>Candidate <code>{_e(summary.pick)}</code>: <code>{_e(_config_str(r))}</code></p>"]
    layers = parse_json(r.get("layers"), [])
    if isinstance(layers, list) and layers and all(isinstance(x, dict) for x in layers):
        layers = [_flat_components(layer) for layer in layers]
        keys: list[str] = []
        for layer in layers:
            keys += [k for k in layer if k not in keys]
        has_ops = "energy_mj" in keys
        headers = keys + (["share of energy"] if has_ops else [])
        energies = [_number(layer.get("energy_mj")) for layer in layers]
        total = sum(e for e in energies if math.isfinite(e)) or float("nan")
        rows = []
        for layer, en in zip(layers, energies):
            row = [_cell(layer.get(k, "")) if not isinstance(layer.get(k), (int, float)) or isinstance(layer.get(k), bool)
                   else _cell(float(layer[k])) for k in keys]
            if has_ops:
                row += [f"{100 * en / total:.1f}%" if math.isfinite(en) and math.isfinite(total) else "-"]
            rows.append(row)
        parts.append("<h3>Per-layer firing rates and energy split</h3>")
        parts.append(_table(headers, rows, {0, 1} & set(range(len(keys))), table_id="layers-table"))
        parts.append(f'<p class="note">energy model: {_e(model.describe())}. MACs and ACs per sample over all T '
                     f"steps; {_e(PER_INFERENCE)}.</p>")
    else:
        parts.append('<p class="note">This evaluation holds no per-layer table.</p>')
    rates = parse_json(r.get("firing_rates"), {})
    if isinstance(rates, dict) and rates:
        parts.append("<h3>Firing rates</h3>")
        parts.append(_table(["neuron", "firing rate"], [[k, _cell(float(v))] for k, v in rates.items()], {0},
                            table_id="firing-table"))
    return "".join(parts)


def _neurobench_section(summary: RunSummary) -> str:
    """NeuroBench's numbers for the exports that have them, beside autosnn's counts for the
    same samples, each difference explained (as ``autosnn evaluate --neurobench`` stored them)."""
    parts = []
    for export, splits in summary.neurobench.items():
        for key, r in splits.items():
            rows = r.get("comparison")
            if not isinstance(rows, list):
                continue
            s, w = r.get("static") or {}, r.get("workload") or {}
            syn = w.get("SynapticOperations") or {}
            parts.append(f"<h3>Export <code>{_e(export)}</code>, {_e(key)} split ({_e(r.get('samples'))} samples, "
                         f"NeuroBench {_e(r.get('neurobench_version'))})</h3>")
            static = ", ".join(f"{k} {_cell(v)}" for k, v in s.items())
            work = ", ".join(f"{k} {_cell(w.get(k))}" for k in ("ClassificationAccuracy", "ActivationSparsity"))
            ops = ", ".join(f"{k} {_cell(v)}" for k, v in syn.items())
            parts.append(f"<p>Static: {_e(static)}. Workload: {_e(work)}; synaptic operations per inference: "
                         f"{_e(ops)}.</p>")
            for name, reason in (r.get("not_counted") or {}).items():
                parts.append(f'<p class="note">{_e(name)}: {_e(reason)}</p>')
            table = [[str(x.get("quantity")), _cell(x.get("neurobench")), _cell(x.get("autosnn")),
                      _cell(x.get("difference")), str(x.get("explanation"))] for x in rows if isinstance(x, dict)]
            parts.append(_table(["quantity", "NeuroBench", "autosnn", "autosnn - NeuroBench", "why"], table, {0, 4},
                                table_id=f"neurobench-{export}-{key}"))
            parts += [f'<p class="note">{_e(n)}</p>' for n in r.get("notes") or []]
    if not parts:
        return ""
    return ("<h2>NeuroBench on exports</h2><p>NeuroBench's own benchmark run on an export "
            "(<code>autosnn evaluate EXPORT --neurobench</code>) beside autosnn's counts for the same samples; "
            "counts are per inference (one sample over all T steps).</p>" + "".join(parts))


def _flat_components(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer row with its energy components (``components_mj``) as ``<name> mJ`` columns."""
    comp = layer.get("components_mj")
    if not isinstance(comp, dict):
        return layer
    out = {k: v for k, v in layer.items() if k != "components_mj"}
    out.update({f"{k} mJ": v for k, v in comp.items()})
    return out


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _config_str(row: pd.Series) -> str:
    from autosnn.search_spaces.subnet_config import SubnetConfig

    try:
        return str(SubnetConfig.from_json(row["config"]))
    except (ValueError, TypeError):
        return str(row["config"])


def report_html(summary: RunSummary, png: bytes) -> str:
    """The whole report page."""
    c = summary.campaign
    img = base64.b64encode(png).decode("ascii")
    status = f"{summary.n_ok} successful evaluations" + (f", {summary.n_failed} failed" if summary.n_failed else "")
    if "generation" in summary.evaluations.columns and len(summary.evaluations):
        gens = pd.to_numeric(summary.evaluations["generation"], errors="coerce").max()
        if math.isfinite(gens):
            status += f", up to generation {int(gens)} of {c.search.generations}"
    body = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>autosnn report: {_e(c.name)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>autosnn report: {_e(c.name)}</h1>",
        f"<p>Run folder <code>{_e(summary.path)}</code>, space <code>{_e(c.space)}</code>, "
        f"data <code>{_e(c.data.name)}</code>, seed {c.seed}: {_e(status)}.</p>",
        f"<p>{_e(summary.target.describe())}. Accuracy is on the validation split; energy is in mJ per "
        "inference of one sample over all T steps.</p>",
        "<h2>Accuracy vs energy</h2>",
        f'<img alt="Pareto front: accuracy vs energy" src="data:image/png;base64,{img}">',
        "<h2>Pareto front</h2>", _front_section(summary),
        "<h2>Hypervolume per generation</h2>", _history_section(summary),
        "<h2>The F_AEB pick</h2>", _pick_section(summary),
        _neurobench_section(summary),
        "<h2>Campaign settings</h2>", f"<pre>{_e(c.to_yaml())}</pre>",
        "</body>", "</html>",
    ]
    return "\n".join(body) + "\n"
