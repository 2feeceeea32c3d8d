"""Reading a user's YAML file. Whatever is wrong with the file itself is one
``ConfigError`` line naming it: missing, a folder, unreadable, not UTF-8 text, not
valid YAML, empty, or not a mapping of keys to values."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from autosnn.errors import ConfigError

__all__ = ["read_yaml"]


def read_yaml(path: str | Path, what: str) -> Mapping[str, Any]:
    """The parsed mapping in ``path``; ``what`` names the file in errors (``campaign file``)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a {what} is UTF-8 YAML)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits, nesting too deep
        raise ConfigError(f"{path}: cannot be read as YAML ({(str(exc).splitlines() or [type(exc).__name__])[0][:120]})") from None
    if data is None:
        raise ConfigError(f"{path}: the {what} is empty")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a {what} must be a mapping of keys to values (key: value lines), "
                          f"got a {type(data).__name__}")
    return data
