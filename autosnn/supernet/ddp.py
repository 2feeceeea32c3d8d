"""Several processes training one supernet under ``torchrun``: the process group's life,
the ``DistributedDataParallel`` wrapper, and the rules that make N ranks one run.

* **Process group.** :func:`process_group` starts it when ``WORLD_SIZE > 1`` (NCCL on
  CUDA, gloo on the CPU, collectives timing out after :data:`TIMEOUT`) and destroys it on
  every way out: normal return, exception, ``KeyboardInterrupt``, and torchrun's
  ``SIGTERM``. When a rank dies, the others' next collective fails at once (gloo and NCCL
  see the closed connection) and torchrun's agent terminates them: each survivor then
  ends with one line, ``autosnn: error: rank R of N stopped: another rank failed (...)``,
  not a traceback; the failed rank's own error is printed by that rank.
* **One gradient all-reduce per optimiser step.** A step of several passes (sandwich
  rule, in-place distillation) runs every pass but the last under ``no_sync``
  (:func:`sync_on_last`), so gradients are accumulated locally and reduced once.
* **Unused parameters.** Slicing a weight still gives the whole parameter a gradient
  (zeros outside the slice), but blocks beyond a subnet's depth and the other mixers'
  own BatchNorms get none, and DDP must be told to look for them. So
  ``find_unused_parameters`` is on exactly when some subnet of the space leaves a
  parameter without a gradient (:func:`has_unused_parameters`); it costs one traversal of
  the autograd graph per step (the synced pass only). Torch then may warn once per rank
  that it "did not find any unused parameters": a false positive, printed when the
  first synced pass happens to be a subnet of the largest depth (the warning comes from
  C++ and cannot be filtered from Python). A space of one depth and shared BatchNorms
  trains with it off.
* **BatchNorm.** Each rank normalises with the statistics of its own batch (as DDP does
  without SyncBatchNorm, which runs on CUDA only and would replace our elastic
  BatchNorms by plain ones that cannot slice); buffers are not broadcast from rank 0 at
  every forward (a collective per pass, and the saved statistics would be rank 0's
  alone); instead the running statistics are averaged over the ranks at the end of every
  epoch (:func:`average_buffers`), before rank 0 writes the checkpoint. The same on CUDA
  and on gloo. The search re-estimates them per subnet anyway (BN recalibration).
* **Randomness.** Every rank seeds the same generators and draws the same amount: the
  same subnets at every step (the sampler's generator), the same torch RNG stream. Data
  differ per rank only by the shard, which is a function of (seed, epoch, rank). So
  rank 0's RNG states are every rank's, and rank 0 alone writes the checkpoint. Per-rank
  randomness added later (augmentation) must keep this: draw the same amount on every
  rank, or use its own generator seeded from (seed, epoch, rank).
* **Reported loss.** An epoch's mean loss is averaged over the ranks
  (:func:`mean_over_ranks`), so the history is the global batch's on every rank.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from typing import Iterable, Iterator, TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

from autosnn.search_spaces.space import SearchSpace

__all__ = ["TIMEOUT", "world_size", "rank", "is_main_process", "process_group", "peer_gone", "short_reason",
           "has_unused_parameters", "wrap", "sync_on_last", "average_buffers", "mean_over_ranks"]

#: How long a collective waits for the other ranks (the backstop for a rank that hangs
#: without dying; a dead rank is noticed by torchrun's agent or by gloo within seconds).
TIMEOUT = timedelta(minutes=10)

T = TypeVar("T")

_TERMINATED = ("terminated (SIGTERM: torchrun ends every rank when one fails, or the job was cancelled); "
               "run the same command again to resume")


def world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (0 outside torchrun); valid before and after the group exists."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


@contextmanager
def process_group(device: torch.device) -> Iterator[bool]:
    """The torchrun process group for the duration of the block; yields whether one is
    active. Started here (and destroyed on every exit path) when ``WORLD_SIZE > 1`` and
    none exists yet; an existing group is used and left to its owner. While it lives, a
    collective failing because a peer is gone, or torchrun's ``SIGTERM``, ends this rank
    with one line on stderr and ``SystemExit`` (1, or 143 for the signal)."""
    owned = world_size() > 1 and not dist.is_initialized()
    if not owned:
        yield dist.is_initialized()
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    stopping: list[str] = []

    def stop(reason: str, code: int) -> None:
        if not stopping:  # one line, whichever comes first: the failed collective or the signal
            stopping.append(reason)
            print(f"autosnn: error: rank {rank()} of {world_size()} stopped: {reason}", file=sys.stderr, flush=True)
        raise SystemExit(code)

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop(_TERMINATED, 143)) \
        if on_main else None
    try:
        yield True
    except RuntimeError as exc:
        if not peer_gone(exc):
            raise
        stop(f"another rank failed ({short_reason(exc)})", 1)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)
        if dist.is_initialized():
            dist.destroy_process_group()


def peer_gone(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another rank went away."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or any(
        k in text for k in ("Connection reset by peer", "Connection closed by peer", "NCCL", "gloo"))


def short_reason(exc: BaseException) -> str:
    """The first sentence of a backend error, without source locations."""
    text = " ".join(str(exc).split())
    text = re.sub(r"\[[^\]]*\.(?:cc|cpp|h)(?::\d+)?\]\s*", "", text)
    text = text.split("Got the following error when running the callback: ")[-1]
    text = re.sub(r"^\w*Error: ", "", text)
    return text.split(". ")[0][:200]


def has_unused_parameters(space: SearchSpace, module: nn.Module) -> bool:
    """Whether some subnet of ``space`` leaves a parameter of ``module`` (its supernet)
    without a gradient: blocks beyond a shallower depth, or the BatchNorms of mixers
    other than the active one."""
    shallower = min(space.choices["depth"]) < space.max_depth
    per_mixer = any(len(getattr(block.attn, "mixer_proj_bn", ())) for block in getattr(module, "blocks", ()))
    return shallower or per_mixer


def wrap(supernet: nn.Module, space: SearchSpace, device: torch.device) -> nn.Module:
    """``supernet`` in ``DistributedDataParallel`` (the process group must exist)."""
    no_broadcast = ({"forward_sync_buffers": False}
                    if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                    else {"broadcast_buffers": False})
    return nn.parallel.DistributedDataParallel(
        supernet, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=has_unused_parameters(space, supernet),
        **no_broadcast)


def sync_on_last(model: nn.Module, passes: Iterable[T]) -> Iterator[T]:
    """Yield ``passes``, every one but the last inside ``model.no_sync()`` when ``model``
    is DDP: the forward and backward run by the caller's loop body between two yields
    accumulate gradients locally, and only the last pass's backward all-reduces them."""
    passes = list(passes)
    ddp = isinstance(model, nn.parallel.DistributedDataParallel)
    for i, item in enumerate(passes):
        with model.no_sync() if ddp and i < len(passes) - 1 else nullcontext():
            yield item


@torch.no_grad()
def average_buffers(module: nn.Module) -> None:
    """Average ``module``'s floating-point buffers (BatchNorm running statistics) over the
    ranks; a no-op without a process group. Integer buffers (batch counts) are equal on
    every rank and kept."""
    if not dist.is_initialized():
        return
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    flat = torch.cat([b.reshape(-1) for b in buffers])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for b in buffers:
        b.copy_(flat[offset:offset + b.numel()].view_as(b))
        offset += b.numel()


def mean_over_ranks(value: float) -> float:
    """The mean of ``value`` over the ranks (``value`` itself without a process group)."""
    if not dist.is_initialized():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.item() / dist.get_world_size()
