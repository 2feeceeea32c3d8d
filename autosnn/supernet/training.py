"""Training: the one-shot supernet (per-step subnet sampling) and plain models (retraining).

Recipe (docs/concepts.md, Supernet training): AdamW, cosine schedule with linear warm-up (per step), label
smoothing, gradient clipping, AMP on CUDA. With ``distillation: inplace`` (BigNAS) the
first subnet of every step is the largest, trained on the labels, and every other
subnet of the step learns from its detached soft predictions on the same batch
(:func:`~autosnn.supernet.distillation.distillation_loss`). A checkpoint is written atomically after
every epoch and training resumes from it; the same seed gives the same weights on the
same machine. Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in
``DistributedDataParallel`` and each rank sees its shard of the data.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from autosnn.campaign import SupernetTrainingConfig
from autosnn.checkpoint import load_checkpoint, save_checkpoint
from autosnn.data.splits import DataSplits, collate, to_device
from autosnn.device import autocast
from autosnn.errors import CheckpointError
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.distillation import distillation_loss
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
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device, max_batches: int | None = None) -> float:
    """Top-1 accuracy (a fraction) of ``model`` in eval mode over ``loader``."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        logits = model(to_device(x, device, non_blocking=True))
        correct += (logits.argmax(1).cpu() == y).sum().item()
        total += y.numel()
    model.train(was_training)
    return correct / max(1, total)


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def train_loader(data: DataSplits, batch_size: int, seed: int, epoch: int, num_workers: int) -> DataLoader:
    """The shuffled training batches of ``epoch`` (seeded by ``seed`` and ``epoch``, so a
    resumed run sees the same order); sharded across ranks under torchrun."""
    if dist.is_initialized():
        sampler = DistributedSampler(data.train, seed=seed, drop_last=True)
        sampler.set_epoch(epoch)
        return DataLoader(data.train, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=True,
                          collate_fn=collate)
    return data.loader("train", batch_size, shuffle=True, seed=seed * 1000 + epoch, num_workers=num_workers, drop_last=True)


class Trainer:
    """The shared optimisation loop: one epoch at a time, one or more forward passes per step."""

    def __init__(self, model: nn.Module, cfg: SupernetTrainingConfig, steps_per_epoch: int, device: torch.device):
        self.model, self.cfg, self.device = model, cfg, device
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = cosine_with_warmup(self.optimizer, cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.amp = cfg.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and not torch.cuda.is_bf16_supported())

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])

    def step(self, x: torch.Tensor, y: torch.Tensor, passes: list[Callable[[], None]] | None = None,
             distill: bool = False) -> float:
        """One optimiser step; ``passes`` set up each forward (e.g. a subnet) whose
        gradients are accumulated. With ``distill`` the first pass (the teacher) learns
        from the labels and every later pass from the teacher's detached logits
        (temperature ``cfg.distillation_temperature``). The loss of each pass is kept
        in ``last_losses``; returns their mean."""
        self.optimizer.zero_grad(set_to_none=True)
        losses: list[float] = []
        teacher: torch.Tensor | None = None
        for prepare in passes or [lambda: None]:
            prepare()
            with autocast(self.device, self.amp):
                logits = self.model(x)
                if teacher is None:
                    loss = self.criterion(logits, y)
                else:
                    loss = distillation_loss(logits, teacher, self.cfg.distillation_temperature)
            if distill and teacher is None:
                teacher = logits.detach()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()}")
            self.scaler.scale(loss).backward()
            losses.append(loss.item())
        self.last_losses = losses
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(np.mean(losses))

    def epoch(self, loader: DataLoader, desc: str, progress: bool,
              passes: Callable[[], list[Callable[[], None]]] | None = None, distill: bool = False) -> float:
        self.model.train()
        losses = []
        bar = tqdm(loader, desc=desc, leave=False, disable=not progress or _rank() != 0, dynamic_ncols=True)
        for x, y in bar:
            x, y = to_device(x, self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            losses.append(self.step(x, y, passes() if passes else None, distill))
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
        return float(np.mean(losses)) if losses else float("nan")


def _load_weights(supernet: SpikformerSupernet, ckpt: dict, path: Path | str) -> None:
    try:
        supernet.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the space ({str(exc).splitlines()[0][:120]})") from None


def load_supernet_checkpoint(path: str | Path, space: SearchSpace | None = None, map_location="cpu") -> tuple[SearchSpace, dict]:
    """The space a supernet checkpoint was trained for, and the checkpoint; refuses a
    checkpoint whose space has other shapes than ``space``."""
    ckpt = load_checkpoint(path, kind=SUPERNET_KIND, map_location=map_location)
    saved = SearchSpace.from_dict(json.loads(ckpt["space"]), source=f"{path} (space)")
    if space is not None and saved.fingerprint != space.fingerprint:
        raise CheckpointError(f"{path}: supernet was trained for space '{saved.name}', not for '{space.name}' "
                              "(its shapes differ); use another run folder")
    return space or saved, ckpt


def load_supernet(path: str | Path, space: SearchSpace | None = None, map_location="cpu") -> tuple[SpikformerSupernet, dict]:
    """A supernet (in eval mode) from its checkpoint (``supernet.pt``), and the checkpoint."""
    space, ckpt = load_supernet_checkpoint(path, space, map_location)
    supernet = SpikformerSupernet(space)
    _load_weights(supernet, ckpt, path)
    return supernet.eval(), ckpt


def train_supernet(space: SearchSpace, data: DataSplits, cfg: SupernetTrainingConfig, *, batch_size: int,
                   seed: int, checkpoint: str | Path | None, device: torch.device, progress: bool = True,
                   num_workers: int = 0, log: Callable[[str], None] = print) -> SpikformerSupernet:
    """Train (or resume training) the supernet of ``space``; returns it in eval mode.

    With ``checkpoint`` set, the state after every epoch is written there atomically and
    an existing file is resumed from (a finished one is returned as is).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    supernet = SpikformerSupernet(space).to(device)
    if _distributed() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model: nn.Module = supernet
    if dist.is_initialized():
        model = nn.parallel.DistributedDataParallel(supernet, device_ids=[device.index] if device.type == "cuda" else None,
                                                    find_unused_parameters=True)
    steps = len(train_loader(data, batch_size, seed, 0, num_workers))
    trainer = Trainer(model, cfg, steps, device)
    history: list[dict] = []
    start = 0
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        _, ckpt = load_supernet_checkpoint(path, space, map_location=device)
        _load_weights(supernet, ckpt, path)
        trainer.load_state_dict(ckpt["trainer"])
        rng.bit_generator.state = json.loads(ckpt["sampler_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
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
               disable=not progress or _rank() != 0, dynamic_ncols=True)
    for epoch in bar:
        loader = train_loader(data, batch_size, seed, epoch, num_workers)
        loss = trainer.epoch(loader, f"epoch {epoch + 1}", progress, passes, distill=cfg.distillation == "inplace")
        history.append({"epoch": epoch + 1, "loss": loss, "lr": trainer.scheduler.get_last_lr()[0]})
        bar.set_postfix(loss=f"{loss:.3f}")
        if path is not None and _rank() == 0:
            save_checkpoint({
                "kind": SUPERNET_KIND, "model": supernet.state_dict(), "trainer": trainer.state_dict(),
                "epoch": epoch + 1, "space": json.dumps(space.to_dict()), "seed": seed,
                "training": json.dumps(asdict(cfg)), "history": json.dumps(history),
                "sampler_rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
            }, path)
    supernet.eval()
    return supernet


def fit(model: nn.Module, data: DataSplits, cfg: SupernetTrainingConfig, *, batch_size: int, seed: int,
        device: torch.device, checkpoint: str | Path | None = None, progress: bool = True,
        kind: str = "autosnn-retrain", extra: dict | None = None, log: Callable[[str], None] = print) -> nn.Module:
    """Train a standalone model with the supernet's recipe; resumable from ``checkpoint``."""
    torch.manual_seed(seed)
    model.to(device)
    trainer = Trainer(model, cfg, len(train_loader(data, batch_size, seed, 0, 0)), device)
    start = 0
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        ckpt = load_checkpoint(path, kind=kind, map_location=device)
        model.load_state_dict(ckpt["model"])
        trainer.load_state_dict(ckpt["trainer"])
        torch.set_rng_state(ckpt["torch_rng"])
        start = int(ckpt["epoch"])
        if start < cfg.epochs:
            log(f"resuming training at epoch {start + 1}/{cfg.epochs} from {path}")
    bar = tqdm(range(start, cfg.epochs), desc="train", initial=start, total=cfg.epochs,
               disable=not progress, dynamic_ncols=True)
    for epoch in bar:
        loss = trainer.epoch(train_loader(data, batch_size, seed, epoch, 0), f"epoch {epoch + 1}", progress)
        bar.set_postfix(loss=f"{loss:.3f}")
        if path is not None:
            save_checkpoint({"kind": kind, "model": model.state_dict(), "trainer": trainer.state_dict(),
                             "epoch": epoch + 1, "torch_rng": torch.get_rng_state(), **(extra or {})}, path)
    model.eval()
    return model

