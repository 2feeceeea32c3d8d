"""Device selection: CUDA when present (spikingjelly then picks its CUDA neuron kernels
by itself), else the CPU; and the mixed precision a campaign's ``supernet.precision``
means on that device."""

from __future__ import annotations

import os
import typing

import torch

from autosnn.campaign import Precision
from autosnn.errors import ConfigError

__all__ = ["select_device", "autocast", "autocast_dtype", "evaluation_precision", "PRECISIONS"]


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


#: ``supernet.precision``'s choices (see :func:`autocast_dtype`).
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)


def autocast_dtype(device: torch.device | str, precision: str = "fp32") -> torch.dtype | None:
    """The autocast dtype ``precision`` means on ``device`` (``None``: plain fp32).

    ``auto``: on CUDA bf16 where the GPU supports it, else fp16 (with loss scaling); on
    the CPU fp32. ``fp32``: no autocast. ``bf16``: bf16 autocast, on the CPU too (opt-in).
    ``fp16``: fp16 autocast with loss scaling, CUDA only; refused on the CPU with one line.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"supernet.precision must be one of {list(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"supernet.precision: fp16 needs a CUDA device (fp16 with loss scaling), not {device}; "
                          "use bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"supernet.precision: bf16 is not supported by {torch.cuda.get_device_name(device)}; "
                          "use fp16 or auto")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def evaluation_precision(precision: str) -> str:
    """The precision evaluations run at: ``auto`` evaluates in fp32 everywhere (so a
    subnet's accuracy and energy do not depend on the GPU a run had); an explicit
    ``bf16`` or ``fp16`` is honoured."""
    return "fp32" if precision == "auto" else precision


def autocast(device: torch.device | str, precision: str = "fp32"):
    """The autocast context of ``precision`` on ``device`` (:func:`autocast_dtype`); a
    disabled one for fp32."""
    device = torch.device(device)
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return torch.autocast(device.type if device.type in ("cpu", "cuda") else "cpu", enabled=False)
    return torch.autocast(device.type, dtype=dtype)
