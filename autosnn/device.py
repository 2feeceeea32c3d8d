"""Device selection: CUDA when present (spikingjelly then picks its CUDA neuron kernels
by itself), else the CPU."""

from __future__ import annotations

import os

import torch

from autosnn.errors import ConfigError

__all__ = ["select_device", "autocast"]


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` (CUDA if available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Under torchrun (``WORLD_SIZE > 1``) ``auto`` and ``cuda`` mean ``cuda:LOCAL_RANK``, made
    the current device (``torch.cuda.set_device``), so each rank has its own GPU; an
    explicit ``cuda:N`` would put every rank on one GPU and is refused.
    """
    ranks = int(os.environ.get("WORLD_SIZE", "1"))
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ConfigError(f"--device {preference}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"--device {preference}: expected auto, cpu, cuda or cuda:N")
    if ranks > 1:
        if device.index is not None:
            raise ConfigError(f"--device {preference} under torchrun would put all {ranks} ranks on one GPU; "
                              "use --device cuda (or auto): rank r then takes cuda:LOCAL_RANK")
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (device.index or 0) >= count:
        where = f" (LOCAL_RANK {device.index})" if ranks > 1 else ""
        raise ConfigError(f"--device {preference}{where}: this machine has {count} CUDA device(s)")
    if ranks > 1:
        torch.cuda.set_device(device)
    return device


def autocast(device: torch.device, enabled: bool = True):
    """Mixed precision on CUDA (bf16 where supported, else fp16); a no-op on the CPU."""
    if device.type != "cuda" or not enabled:
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
