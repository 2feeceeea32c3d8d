"""``autosnn pareto RUN_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from autosnn.cli_args import number, positive_int
from autosnn.errors import UserError

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto", help="show a run's Pareto front and write pareto.csv / pareto.png / report.html",
        description="Print the non-dominated candidates of a run (maximise validation accuracy, minimise energy), "
                    "the F_AEB pick marked '*' and the knee 'k', and write pareto.csv, pareto.png and report.html "
                    "into the run folder. Works while the search is still running.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder, e.g. runs/demo")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.add_argument("--top", type=positive_int, metavar="K", help="show only the K best by F_AEB")
    p.add_argument("--energy-max", type=number, metavar="X", help="only candidates with energy <= X mJ")
    p.add_argument("--acc-min", type=number, metavar="Y", help="only candidates with accuracy >= Y (a fraction)")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the report files")
    p.set_defaults(handler=_pareto)


def _pareto(args: argparse.Namespace) -> int:
    from autosnn.report.reports import write_reports
    from autosnn.report.summary import summarize
    from autosnn.report.table import render_csv, render_json, render_table

    if args.acc_min is not None and not 0.0 <= args.acc_min <= 1.0:
        raise UserError(f"--acc-min is a fraction in [0, 1], got {args.acc_min:g}")
    summary = summarize(args.run_dir, energy_max=args.energy_max, acc_min=args.acc_min)
    render = {"table": render_table, "csv": render_csv, "json": render_json}[args.format]
    print(render(summary, args.top).rstrip("\n"))
    if not args.no_write:
        # The files always show the whole front; the filters only narrow what is printed.
        full = summarize(args.run_dir) if summary.filters else summary
        write_reports(args.run_dir, full)
        if args.format == "table":
            print(f"wrote {args.run_dir / 'pareto.csv'}, {args.run_dir / 'pareto.png'}, {args.run_dir / 'report.html'}")
    return 0
