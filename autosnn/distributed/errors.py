"""Errors of the Ray back end that a user can fix (no Ray import here)."""

from __future__ import annotations

from autosnn.errors import UserError

__all__ = ["RayStartError"]


class RayStartError(UserError):
    """Ray could not be started or joined (a cluster that does not answer, no room in
    /dev/shm, workers that cannot be placed). Printed as one line, exit status 2."""
