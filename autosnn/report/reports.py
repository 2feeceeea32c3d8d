"""``write_reports(run_dir)``: pareto.csv, pareto.png and report.html, each written atomically."""

from __future__ import annotations

from pathlib import Path

from autosnn.atomic import write_bytes, write_text
from autosnn.report.html import report_html
from autosnn.report.plot import pareto_png
from autosnn.report.summary import RunSummary, summarize
from autosnn.run_folder import RunFolder

__all__ = ["write_reports", "pareto_csv"]


def pareto_csv(summary: RunSummary) -> str:
    """The non-dominated rows with the evaluations table's columns (no genome), rank order;
    ``f_aeb`` is the value under the campaign's F_AEB settings."""
    drop = [c for c in ("genome", "rank", "arch", "neurons") if c in summary.front.columns]
    columns = [c for c in summary.evaluations.columns if c != "genome"]
    front = summary.front.drop(columns=drop)
    return front[[c for c in columns if c in front.columns]].to_csv(index=False)


def write_reports(run_dir: Path, summary: RunSummary | None = None) -> RunSummary:
    """Write ``pareto.csv``, ``pareto.png`` and ``report.html`` into ``run_dir`` from what
    it holds now (a running or interrupted search included); returns the summary."""
    summary = summary if summary is not None else summarize(run_dir)
    folder = RunFolder(Path(run_dir))
    csv, png = pareto_csv(summary), pareto_png(summary)
    html = report_html(summary, png)  # everything composed first: a damaged input leaves the old files as they were
    write_text(folder.pareto_csv, csv)
    write_bytes(folder.pareto_png, png)
    write_text(folder.report_html, html)
    return summary
