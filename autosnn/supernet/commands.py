"""``autosnn train-supernet CONFIG.yaml --out runs/NAME``."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from autosnn.campaign import Campaign
from autosnn.cli_args import add_campaign_arguments, add_device_options
from autosnn.data import DataSplits, load_data
from autosnn.device import autocast, autocast_dtype, evaluation_precision, select_device
from autosnn.run_folder import RunFolder
from autosnn.search_spaces.space import SearchSpace
from autosnn.supernet.ddp import is_main_process
from autosnn.supernet.recalibrate import bn_recalibrated, recalibration_batches
from autosnn.supernet.supernet import SpikformerSupernet
from autosnn.supernet.training import accuracy, load_supernet, train_supernet

__all__ = ["add_commands", "load_campaign", "campaign_data", "ensure_supernet", "print_extremes"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-supernet", help="train (or resume training) a campaign's supernet",
        description="Train the weight-entangled supernet of a campaign once, writing runs/NAME/supernet.pt after "
                    "every epoch. Running the same command again resumes where it stopped. Several GPUs: "
                    "torchrun --nproc_per_node=N -m autosnn.cli train-supernet CONFIG.yaml")
    add_campaign_arguments(p)
    add_device_options(p)
    p.set_defaults(handler=_train)


def load_campaign(path: Path, seed: int | None = None) -> Campaign:
    """The campaign in ``path``, validated, with ``--seed`` applied (and checked) if given."""
    campaign = Campaign.from_yaml(path)
    if seed is not None:
        campaign.seed = seed
        campaign.validate(source="--seed")
    return campaign


def campaign_data(campaign: Campaign, space: SearchSpace) -> DataSplits:
    return load_data(campaign.data.name, root=campaign.data.root, image_size=space.image_size,
                     in_channels=space.in_channels, time_steps=space.choices["time_steps"])


def ensure_supernet(campaign: Campaign, space: SearchSpace, folder: RunFolder, data: DataSplits,
                    device: torch.device, progress: bool = True) -> SpikformerSupernet:
    """Train the campaign's supernet into ``folder`` (resuming, or reusing a finished one)."""
    return train_supernet(space, data, campaign.supernet, batch_size=campaign.data.batch_size, seed=campaign.seed,
                          checkpoint=folder.supernet, device=device, progress=progress,
                          num_workers=campaign.data.num_workers)


def _train(args: argparse.Namespace) -> int:
    campaign = load_campaign(args.config, args.seed)
    space = campaign.resolve_space()
    device = select_device(args.device)
    autocast_dtype(device, campaign.supernet.precision)   # fp16 on the CPU: refused before anything is written
    data = campaign_data(campaign, space)
    folder = RunFolder(args.out or Path("runs") / campaign.name)
    if is_main_process():  # under torchrun rank 0 alone checks and writes the folder (the others would race it)
        folder.check(campaign)
        if folder.supernet.exists():  # resumed below: a corrupt or foreign checkpoint stops us before any write
            load_supernet(folder.supernet, space)  # weights included
        folder.prepare(campaign)
    supernet = ensure_supernet(campaign, space, folder, data, device, progress=not args.no_progress)
    print_extremes(supernet, space, data, device, campaign)
    if is_main_process():
        print(f"supernet: {folder.supernet}")
    return 0


def print_extremes(supernet: SpikformerSupernet, space: SearchSpace, data: DataSplits, device: torch.device,
                   campaign: Campaign | None = None) -> None:
    """Print the validation accuracy of the space's largest and smallest subnets (on
    torchrun's rank 0 only), with the BatchNorm recalibration ``campaign``'s evaluator
    uses (``fitness.bn_recalibration_batches``) and at the evaluations' precision, so the
    numbers are the search's."""
    if not is_main_process():
        return
    val = data.loader("val", 256, device=device)
    recal = campaign.fitness.bn_recalibration_batches if campaign is not None else 0
    precision = evaluation_precision(campaign.supernet.precision) if campaign is not None else "fp32"
    batches = recalibration_batches(data, campaign.data.batch_size, recal, device=device) if recal else []
    note = f" (BatchNorm recalibrated on {recal} batches)" if recal else ""
    for label, cfg in (("largest", space.largest()), ("smallest", space.smallest())):
        supernet.set_config(cfg)
        with autocast(device, precision), bn_recalibrated(supernet, batches, recal, device):
            acc = accuracy(supernet, val, device, precision=precision)
        print(f"{label:<8} subnet {cfg}: validation accuracy {acc:.4f}{note}")
