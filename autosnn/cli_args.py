"""Argument types and options shared by the ``autosnn`` subcommands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = ["positive_int", "number", "add_campaign_arguments", "add_device_options"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_campaign_arguments(p: argparse.ArgumentParser, *, seed_help: str = "override the campaign's seed") -> None:
    """``CONFIG.yaml``, ``--out`` and ``--seed``: the arguments of a command that starts from a campaign file."""
    p.add_argument("config", type=Path, metavar="CONFIG.yaml", help="campaign file (see configs/demo.yaml)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<campaign name>)")
    p.add_argument("--seed", type=int, help=seed_help)


def add_device_options(p: argparse.ArgumentParser, *, progress: bool = True) -> None:
    """``--device`` (and ``--no-progress`` unless ``progress`` is false)."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present; default), cpu or cuda:N")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
