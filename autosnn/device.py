"""Device selection: CUDA when present (spikingjelly then picks its CUDA neuron kernels
by itself), else the CPU."""

from __future__ import annotations

import os

import torch

from autosnn.errors import ConfigError

__all__ = ["select_device", "autocast"]


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` (CUDA if available, honouring ``LOCAL_RANK`` under torchrun), ``cpu`` or ``cuda[:i]``."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ConfigError(f"--device {preference}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"--device {preference}: this machine has {count} CUDA device(s)")
    elif device.type != "cpu":
        raise ConfigError(f"--device {preference}: expected auto, cpu, cuda or cuda:N")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """Mixed precision on CUDA (bf16 where supported, else fp16); a no-op on the CPU."""
    if device.type != "cuda" or not enabled:
        return torch.autocast("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
