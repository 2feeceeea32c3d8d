"""Errors a user can cause and fix.

Every exception that derives from :class:`UserError` is printed by the ``autosnn``
command as one line (``autosnn: error: <message>``) and ends the process with exit
status 2, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in what the user gave us: a file, a value, a folder."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A campaign or search-space file, or a value in it, is not valid."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A dataset folder is missing; the message says where and how to get it."""


class CheckpointError(UserError):
    """A checkpoint or export is corrupt, foreign, or unsafe to load."""


class RunDirError(UserError):
    """A run folder belongs to another campaign or is damaged."""


class TrainingDivergedError(UserError):
    """Training stopped on a non-finite loss (at once without loss scaling; under fp16
    loss scaling when every step of an epoch had one); the message names the epoch."""


class DatasetError(UserError):
    """A dataset file is damaged or unreadable (a truncated download, a checksum that
    differs from the published one); the message names the file.

    Raised inside a ``DataLoader`` worker, torch raises it again in the main process with
    the worker's traceback as its message: only that traceback's last line (ours) is kept.
    """

    def __init__(self, message: str = "") -> None:
        if "Traceback (most recent call last)" in message:
            last = [line.strip() for line in message.splitlines() if line.strip()][-1]
            message = last.split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)
