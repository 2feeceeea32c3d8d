"""Training: the one-shot supernet (per-step subnet sampling) and plain models (retraining).

Recipe (docs/concepts.md, Supernet training): AdamW, cosine schedule with linear warm-up (per step), label
smoothing, gradient clipping, mixed precision as ``supernet.precision`` says
(:func:`autosnn.device.autocast_dtype`: by default bf16 or fp16 on CUDA, fp32 on the CPU).
Under fp16 the GradScaler skips a step whose loss or gradients are not finite, and
training stops (:class:`~autosnn.errors.TrainingDivergedError`, naming the epoch) when
every step of an epoch had a non-finite loss; without loss scaling the first non-finite
loss stops it. With ``distillation: inplace`` (BigNAS) the first subnet of every step is
the largest, trained on the labels, and every other subnet of the step learns from its
detached soft predictions on the same batch
(:func:`~autosnn.supernet.distillation.distillation_loss`). A checkpoint is written atomically after
every epoch and training resumes from it, on the same or another device (loaded to the
CPU, then placed; RNG and loss-scaler states included: :mod:`autosnn.supernet.resume`);
the same seed gives the same weights on the same machine, resumed or not. Under
``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in ``DistributedDataParallel`` and
each rank sees its shard of the data; the rules that make the ranks one run (one
all-reduce per step, BatchNorm statistics, randomness, the process group's life) are in
:mod:`autosnn.supernet.ddp`.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from autosnn.campaign import SupernetTrainingConfig
from autosnn.checkpoint import load_checkpoint, save_checkpoint
from autosnn.data.splits import DataSplits, to_device
from autosnn.data.tensor_images import TensorBatches
from autosnn.device import autocast, autocast_dtype
from autosnn.errors import CheckpointError, TrainingDivergedError
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet import ddp
from autosnn.supernet.distillation import distillation_loss
from autosnn.supernet.resume import load_scaler_state, restore_rng, rng_state
from autosnn.supernet.supernet import SpikformerSupernet

__all__ = ["train_supernet", "fit", "Trainer", "train_loader", "accuracy", "cosine_with_warmup", "subnets_for_step", "load_supernet",
           "load_supernet_checkpoint"]

SUPERNET_KIND = "autosnn-supernet"


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up to the base lr over ``warmup_steps``, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def subnets_for_step(space: SearchSpace, sampling: str, rng: np.random.Generator, *, sandwich_random: int = 2,
                     distillation: str = "none") -> list[SubnetConfig]:
    """The subnets trained at one step, their gradients accumulated: one uniform sample,
    or (sandwich rule) the largest, the smallest and ``sandwich_random`` uniform samples.

    With ``distillation="inplace"`` the largest (the teacher) always comes first: with
    uniform sampling the step is the largest and one uniform sample. The draws depend
    only on ``rng``, so every torchrun rank trains the same subnets.
    """
    if sampling == "uniform":
        sampled = [space.sample(rng)]
        return [space.largest(), *sampled] if distillation == "inplace" else sampled
    if sampling == "sandwich":
        return [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(sandwich_random))]
    raise ValueError(f"sampling must be 'uniform' or 'sandwich', got {sampling!r}")


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device, max_batches: int | None = None, *,
             precision: str = "fp32") -> float:
    """Top-1 accuracy (a fraction) of ``model`` in eval mode over ``loader``, its forward
    under ``precision`` (:func:`autosnn.device.autocast`)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        with autocast(device, precision):
            logits = model(to_device(x, device, non_blocking=True))
        correct += (logits.argmax(1).cpu() == y).sum().item()
        total += y.numel()
    model.train(was_training)
    return correct / max(1, total)


def train_loader(data: DataSplits, batch_size: int, seed: int, epoch: int, num_workers: int, *,
                 rank: int | None = None, world_size: int | None = None,
                 device: torch.device | str | None = None) -> DataLoader | TensorBatches:
    """The shuffled training batches of ``epoch`` (:meth:`DataSplits.epoch_loader`): one
    global order seeded by ``seed`` and ``epoch``, so a resumed run sees the same batches;
    under torchrun each rank takes its shard (``rank`` / ``world_size`` default to the
    process group's) with ``batch_size`` per rank. Images held as tensors arrive on
    ``device``, augmented there."""
    if rank is None or world_size is None:
        initialized = dist.is_initialized()
        rank = (dist.get_rank() if initialized else 0) if rank is None else rank
        world_size = (dist.get_world_size() if initialized else 1) if world_size is None else world_size
    return data.epoch_loader(batch_size, seed, epoch, rank=rank, world_size=world_size, num_workers=num_workers,
                             device=device)


class Trainer:
    """The shared optimisation loop: one epoch at a time, one or more forward passes per step.

    ``cfg.precision`` sets the autocast dtype (refused at once where it cannot run: fp16
    on the CPU); fp16 turns the GradScaler on. ``skipped_steps`` / ``nonfinite_steps``
    count, for the epoch in progress (or the last one), the steps the scaler skipped and
    those whose loss was not finite."""

    def __init__(self, model: nn.Module, cfg: SupernetTrainingConfig, steps_per_epoch: int, device: torch.device):
        self.model, self.cfg, self.device = model, cfg, device
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.precision = cfg.precision
        dtype = autocast_dtype(device, cfg.precision)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = cosine_with_warmup(self.optimizer, cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.scaler = torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=dtype == torch.float16)
        self.skipped_steps = self.nonfinite_steps = 0

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])   # moves its tensors to the parameters' device
        self.scheduler.load_state_dict(state["scheduler"])
        load_scaler_state(self.scaler, state.get("scaler"))

    def _current_epoch(self) -> int:
        """The 1-based epoch of the step about to run (from the scheduler's step count)."""
        return self.scheduler.last_epoch // self.steps_per_epoch + 1

    def _diverged(self, epoch: int, what: str, hint: str) -> TrainingDivergedError:
        return TrainingDivergedError(f"training stopped in epoch {epoch}: {what} (supernet.precision: "
                                     f"{self.precision}); {hint}, then run again to resume from the last checkpoint")

    def step(self, x: torch.Tensor, y: torch.Tensor, passes: list[Callable[[], None]] | None = None,
             distill: bool = False) -> float:
        """One optimiser step; ``passes`` set up each forward (e.g. a subnet) whose
        gradients are accumulated. With ``distill`` the first pass (the teacher) learns
        from the labels and every later pass from the teacher's detached logits
        (temperature ``cfg.distillation_temperature``). The loss of each pass is kept
        in ``last_losses``; returns their mean."""
        self.optimizer.zero_grad(set_to_none=True)
        losses: list[float] = []
        nonfinite = False
        teacher: torch.Tensor | None = None
        for prepare in ddp.sync_on_last(self.model, passes or [lambda: None]):  # one all-reduce per step
            prepare()
            with autocast(self.device, self.precision):
                logits = self.model(x)
                if teacher is None:
                    loss = self.criterion(logits, y)
                else:
                    loss = distillation_loss(logits, teacher, self.cfg.distillation_temperature)
            if distill and teacher is None:
                teacher = logits.detach()
            value = loss.item()
            if not math.isfinite(value):
                if not self.scaler.is_enabled():
                    raise self._diverged(self._current_epoch(), f"the loss became {value}",
                                         "lower supernet.lr or raise supernet.warmup_epochs")
                nonfinite = True   # loss scaling: the scaler finds the non-finite gradients and skips the step
            self.scaler.scale(loss).backward()
            losses.append(value)
        self.last_losses = losses
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        skipped = scale is not None and self.scaler.get_scale() < scale   # the scale backs off on a skipped step
        self.skipped_steps += int(skipped)
        self.nonfinite_steps += int(nonfinite)
        with warnings.catch_warnings():   # the schedule counts skipped steps too (torch warns when the first is one)
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()
        return float(np.mean(losses))

    def epoch(self, loader: DataLoader, desc: str, progress: bool,
              passes: Callable[[], list[Callable[[], None]]] | None = None, distill: bool = False) -> float:
        """One epoch; returns the mean loss of its steps with a finite loss. Raises
        :class:`~autosnn.errors.TrainingDivergedError` when every step's loss was
        non-finite (under fp16 loss scaling: every step skipped for it)."""
        self.model.train()
        self.skipped_steps = self.nonfinite_steps = 0
        number = self._current_epoch()
        losses = []
        bar = tqdm(loader, desc=desc, leave=False, disable=not progress or not ddp.is_main_process(),
                   dynamic_ncols=True)
        for x, y in bar:
            x, y = to_device(x, self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            losses.append(self.step(x, y, passes() if passes else None, distill))
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
        if losses and self.nonfinite_steps == len(losses):
            raise self._diverged(number, f"all {len(losses)} steps had a non-finite loss (each skipped by fp16 loss "
                                 "scaling)", "use supernet.precision: bf16 or fp32, or lower supernet.lr")
        finite = [v for v in losses if math.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")


def _load_weights(supernet: SpikformerSupernet, ckpt: dict, path: Path | str) -> None:
    try:
        supernet.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:  # no, foreign or misshapen weights
        raise CheckpointError(f"{path}: weights do not fit the space ({str(exc).splitlines()[0][:120]})") from None


def load_supernet_checkpoint(path: str | Path, space: SearchSpace | None = None) -> tuple[SearchSpace, dict]:
    """The space a supernet checkpoint was trained for, and the checkpoint (its tensors on
    the CPU, whatever device wrote it); refuses a checkpoint whose space has other shapes
    than ``space``."""
    ckpt = load_checkpoint(path, kind=SUPERNET_KIND)
    if not isinstance(ckpt.get("space"), str):
        raise CheckpointError(f"{path}: supernet checkpoint without its space; use another run folder")
    saved = SearchSpace.from_dict(json.loads(ckpt["space"]), source=f"{path} (space)")
    if space is not None and saved.fingerprint != space.fingerprint:
        raise CheckpointError(f"{path}: supernet was trained for space '{saved.name}', not for '{space.name}' "
                              "(its shapes differ); use another run folder")
    return space or saved, ckpt


def load_supernet(path: str | Path, space: SearchSpace | None = None, map_location="cpu") -> tuple[SpikformerSupernet, dict]:
    """A supernet (in eval mode, on the device ``map_location``) from its checkpoint
    (``supernet.pt``, read on the CPU), and the checkpoint."""
    space, ckpt = load_supernet_checkpoint(path, space)
    supernet = SpikformerSupernet(space, per_mixer_bn=bool(ckpt.get("per_mixer_bn", False)))
    _load_weights(supernet, ckpt, path)
    return supernet.to(map_location).eval(), ckpt


def _supernet_checkpoint(supernet: SpikformerSupernet, trainer: Trainer, space: SearchSpace,
                         cfg: SupernetTrainingConfig, *, seed: int, epoch: int, history: list[dict],
                         sampler: np.random.Generator) -> dict:
    """What ``supernet.pt`` holds after ``epoch``: weights, optimiser / schedule / loss
    scaler, the subnet sampler's and torch's generators (CPU and CUDA), the history."""
    return {"kind": SUPERNET_KIND, "model": supernet.state_dict(), "per_mixer_bn": supernet.per_mixer_bn,
            "trainer": trainer.state_dict(),
            "epoch": epoch, "space": json.dumps(space.to_dict()), "seed": seed, "training": json.dumps(asdict(cfg)),
            "history": json.dumps(history), "sampler_rng": json.dumps(sampler.bit_generator.state), **rng_state()}


def train_supernet(space: SearchSpace, data: DataSplits, cfg: SupernetTrainingConfig, *, batch_size: int,
                   seed: int, checkpoint: str | Path | None, device: torch.device, progress: bool = True,
                   num_workers: int = 0, log: Callable[[str], None] = print,
                   per_mixer_bn: bool | None = None) -> SpikformerSupernet:
    """Train (or resume training) the supernet of ``space``; returns it in eval mode.

    With ``checkpoint`` set, the state after every epoch is written there atomically and
    an existing file is resumed from (a finished one is returned as is). ``per_mixer_bn``:
    see :class:`SpikformerSupernet`; it is saved in the checkpoint (:func:`load_supernet`
    rebuilds the same layout), and a resumed checkpoint keeps its own. Under torchrun
    the process group lives as long as this call (:func:`autosnn.supernet.ddp.process_group`)
    and rank 0 alone writes the checkpoint.
    """
    with ddp.process_group(device):
        return _train_supernet(space, data, cfg, batch_size=batch_size, seed=seed, checkpoint=checkpoint, device=device,
                               progress=progress, num_workers=num_workers, per_mixer_bn=per_mixer_bn,
                               log=log if ddp.is_main_process() else lambda s: None)


def _train_supernet(space: SearchSpace, data: DataSplits, cfg: SupernetTrainingConfig, *, batch_size: int,
                    seed: int, checkpoint: Path | str | None, device: torch.device, progress: bool,
                    num_workers: int, log: Callable[[str], None], per_mixer_bn: bool | None) -> SpikformerSupernet:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    path = Path(checkpoint) if checkpoint else None
    ckpt = load_supernet_checkpoint(path, space)[1] if path is not None and path.exists() else None  # on the CPU
    if ckpt is not None:
        per_mixer_bn = bool(ckpt.get("per_mixer_bn", False))
    supernet = SpikformerSupernet(space, per_mixer_bn=per_mixer_bn).to(device)
    model: nn.Module = ddp.wrap(supernet, space, device) if dist.is_initialized() else supernet
    steps = len(train_loader(data, batch_size, seed, 0, num_workers, device=device))
    trainer = Trainer(model, cfg, steps, device)
    history: list[dict] = []
    start = 0
    if ckpt is not None:
        _load_weights(supernet, ckpt, path)
        trainer.load_state_dict(ckpt["trainer"])
        rng.bit_generator.state = json.loads(ckpt["sampler_rng"])
        restore_rng(ckpt)
        start, history = int(ckpt["epoch"]), json.loads(ckpt["history"])
        if start >= cfg.epochs:
            log(f"supernet already trained ({start} epochs): {path}")
            supernet.eval()
            return supernet
        log(f"resuming supernet training at epoch {start + 1}/{cfg.epochs} from {path}")

    def passes() -> list[Callable[[], None]]:
        configs = subnets_for_step(space, cfg.sampling, rng, sandwich_random=cfg.sandwich_random,
                                   distillation=cfg.distillation)
        return [lambda c=c: supernet.set_config(c) for c in configs]

    bar = tqdm(range(start, cfg.epochs), desc="supernet", initial=start, total=cfg.epochs,
               disable=not progress or not ddp.is_main_process(), dynamic_ncols=True)
    for epoch in bar:
        loader = train_loader(data, batch_size, seed, epoch, num_workers, device=device)
        loss = trainer.epoch(loader, f"epoch {epoch + 1}", progress, passes, distill=cfg.distillation == "inplace")
        loss = ddp.mean_over_ranks(loss)  # the whole global batch's, on every rank
        history.append({"epoch": epoch + 1, "loss": loss, "lr": trainer.scheduler.get_last_lr()[0],
                        "skipped_steps": trainer.skipped_steps})
        bar.set_postfix(loss=f"{loss:.3f}")
        ddp.average_buffers(supernet)  # the BatchNorm statistics of every rank, not rank 0's alone
        if path is not None and ddp.is_main_process():
            save_checkpoint(_supernet_checkpoint(supernet, trainer, space, cfg, seed=seed, epoch=epoch + 1,
                                                 history=history, sampler=rng), path)
    supernet.eval()
    return supernet


def fit(model: nn.Module, data: DataSplits, cfg: SupernetTrainingConfig, *, batch_size: int, seed: int,
        device: torch.device, checkpoint: str | Path | None = None, progress: bool = True,
        kind: str = "autosnn-retrain", extra: dict | None = None, log: Callable[[str], None] = print) -> nn.Module:
    """Train a standalone model with the supernet's recipe; resumable from ``checkpoint``."""
    torch.manual_seed(seed)
    model.to(device)
    trainer = Trainer(model, cfg, len(train_loader(data, batch_size, seed, 0, 0, device=device)), device)
    start = 0
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        ckpt = load_checkpoint(path, kind=kind)   # on the CPU; load_state_dict places it
        model.load_state_dict(ckpt["model"])
        trainer.load_state_dict(ckpt["trainer"])
        restore_rng(ckpt)
        start = int(ckpt["epoch"])
        if start < cfg.epochs:
            log(f"resuming training at epoch {start + 1}/{cfg.epochs} from {path}")
    bar = tqdm(range(start, cfg.epochs), desc="train", initial=start, total=cfg.epochs,
               disable=not progress, dynamic_ncols=True)
    for epoch in bar:
        loss = trainer.epoch(train_loader(data, batch_size, seed, epoch, 0, device=device), f"epoch {epoch + 1}", progress)
        bar.set_postfix(loss=f"{loss:.3f}")
        if path is not None:
            save_checkpoint({"kind": kind, "model": model.state_dict(), "trainer": trainer.state_dict(),
                             "epoch": epoch + 1, **rng_state(), **(extra or {})}, path)
    model.eval()
    return model

