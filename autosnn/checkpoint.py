"""Safe checkpoints: ``torch.save`` written atomically, loaded with ``weights_only=True``
(no arbitrary unpickling) and always onto the CPU (a checkpoint written on a GPU loads on
a machine without one; callers place what they load); a corrupt, unsafe or foreign file
is a ``CheckpointError``."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from autosnn.atomic import write_bytes
from autosnn.errors import CheckpointError

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, *, kind: str) -> dict[str, Any]:
    """Load a checkpoint saved by :func:`save_checkpoint` whose ``kind`` field matches,
    every tensor on the CPU."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused to load (not a plain weights checkpoint: {first[:160]})") from None
    except Exception as exc:  # damaged bytes make the unpickler fail in many ways (IndexError, KeyError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({first[:160]})") from None
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        raise CheckpointError(f"{path}: not an autosnn {kind} checkpoint")
    return obj
