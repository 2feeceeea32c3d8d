"""What a training checkpoint holds besides the weights, in a form that resumes on any
device: the random generators' states and the loss scaler's.

A checkpoint is always loaded to the CPU first (:func:`autosnn.checkpoint.load_checkpoint`)
and placed afterwards (``load_state_dict`` copies weights onto the model's device; the
optimiser moves its state to its parameters'). The states kept here:

* ``torch_rng``: the CPU generator (a CPU ``uint8`` tensor, as ``torch.set_rng_state``
  wants it, whatever device the run was on);
* ``cuda_rng``: one state per CUDA device of the writing process (empty on the CPU).
  Restored for the devices present, as many as fit; a run written on the CPU and resumed
  on CUDA keeps the CUDA generators as the run's seed left them (the model itself draws
  nothing from them: it has no dropout, and data order and augmentation use the CPU's);
* the GradScaler's state, enabled or not: a disabled scaler (CPU, bf16, fp32) writes
  ``{}``, which an enabled one (fp16 on CUDA) starts from its initial scale instead of
  refusing; an enabled one's state is ignored by a disabled one.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["rng_state", "restore_rng", "load_scaler_state"]


def rng_state() -> dict[str, Any]:
    """The CPU generator's state and every CUDA device's (``[]`` without CUDA), on the CPU."""
    cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []
    return {"torch_rng": torch.get_rng_state(), "cuda_rng": cuda}


def restore_rng(state: dict[str, Any]) -> None:
    """Set the generators from :func:`rng_state`'s keys of a checkpoint (older checkpoints
    hold ``torch_rng`` only). CUDA states are restored for the devices present, in order;
    extra ones are ignored."""
    torch.set_rng_state(state["torch_rng"].to("cpu", torch.uint8))
    cuda = list(state.get("cuda_rng") or [])
    if cuda and torch.cuda.is_available():
        for index, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.to("cpu", torch.uint8), index)


def load_scaler_state(scaler: torch.amp.GradScaler, state: dict[str, Any] | None) -> None:
    """Restore ``scaler`` from a saved state, whichever of the two was enabled."""
    if scaler.is_enabled() and state:
        scaler.load_state_dict(state)
