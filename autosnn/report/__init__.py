"""Inspect a run: its Pareto front, the F_AEB and knee picks, and the report files."""

from autosnn.report.front import AEBTarget, aeb_target, f_aeb, ok_rows, pareto_front, pareto_mask, pick_aeb, pick_knee
from autosnn.report.plot import PLOT_SIZE
from autosnn.report.reports import write_reports
from autosnn.report.summary import RunSummary, load_evaluations, resolve_pick, summarize
from autosnn.report.table import render_csv, render_json, render_table

__all__ = [
    "write_reports", "summarize", "RunSummary", "load_evaluations", "pareto_front", "pareto_mask", "pick_aeb",
    "pick_knee", "f_aeb", "aeb_target", "AEBTarget", "ok_rows", "resolve_pick", "render_table", "render_csv",
    "render_json", "PLOT_SIZE",
]
