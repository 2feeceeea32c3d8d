"""Reading a user's YAML file: a missing file or a syntax error is one ``ConfigError`` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from autosnn.errors import ConfigError

__all__ = ["read_yaml"]


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the file in errors (``campaign file``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
