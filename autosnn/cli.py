"""The ``autosnn`` command.

Each part of the package registers its own subcommands (``add_commands(subparsers)`` in
its ``commands`` module); this file only assembles them and turns a
:class:`~autosnn.errors.UserError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from autosnn.errors import UserError

__all__ = ["main", "build_parser"]

COMMAND_MODULES = (
    "autosnn.search_spaces.commands",   # spaces, space
    "autosnn.supernet.commands",        # train-supernet
    "autosnn.pipeline.commands",        # run, search
    "autosnn.report.commands",          # pareto
    "autosnn.export.commands",          # export, evaluate, retrain
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autosnn",
        description="Architecture search for accurate, energy-frugal spiking transformers (Spikformer family).",
        epilog="Start with: autosnn run configs/demo.yaml  (then: autosnn pareto runs/demo)",
    )
    from autosnn import __version__

    parser.add_argument("--version", action="version", version=f"autosnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a part not installed in this tree
            if not exc.name or not name.startswith(exc.name):
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        print(f"autosnn: error: {'; '.join(lines) or type(exc).__name__}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `autosnn pareto RUN --format csv | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("autosnn: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
