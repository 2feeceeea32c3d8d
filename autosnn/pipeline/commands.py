"""``autosnn run CONFIG.yaml`` (the whole pipeline) and ``autosnn search RUN_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from autosnn.campaign import Campaign
from autosnn.cli_args import add_campaign_arguments, add_device_options, positive_int
from autosnn.errors import RunDirError, UserError
from autosnn.pipeline.run import run_pipeline
from autosnn.run_folder import RunFolder

__all__ = ["add_commands"]

_PIPELINE = ("train the supernet (or reuse the one in the folder; skipped in training-free mode), search "
             "(NSGA-II + ESNN, random or ga-aeb, as the campaign says), write pareto.csv, pareto.png, report.html "
             "and history.csv, and export the pick to exports/<id>/.")
_RESUME = ("Every file is written atomically and the search state is saved after every generation: after an "
           "interruption (Ctrl-C, kill -9) run the same command again and it continues from the last finished "
           "generation, evaluating nothing twice; a finished campaign is left as it is.")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a whole campaign: supernet, search, Pareto front, export",
        description=f"Run the campaign CONFIG.yaml end to end in a run folder: {_PIPELINE} {_RESUME}",
        epilog="Example: autosnn run configs/demo.yaml  (the embedded digits demo, a few minutes on a laptop CPU); "
               "then: autosnn pareto runs/demo")
    add_campaign_arguments(p, seed_help="override the campaign's seed (a new seed needs a new run folder)")
    add_device_options(p)
    p.add_argument("--dry-run", action="store_true",
                   help="write nothing: time a few training steps and evaluations at the campaign's real sizes on "
                        "this device and print each stage's projected wall time, peak memory and the largest "
                        "batch that fits (the same checks and errors as a real run)")
    p.add_argument("--dry-run-steps", type=positive_int, default=None, metavar="N",
                   help="with --dry-run: timed training steps per kind (largest, smallest, sampled) and sampled "
                        "candidates evaluated, each after a discarded warm-up (default 3; 1 where a step takes "
                        "minutes)")
    p.set_defaults(handler=_run)

    p = sub.add_parser(
        "search", help="continue or extend the search of a run folder",
        description="Continue the search of an existing run folder (made by 'autosnn run'), with the campaign "
                    "saved in it, then rewrite the Pareto front, reports and export. --generations N extends a "
                    f"finished search to N generations in all (generation 1 is the initial population). {_RESUME}",
        epilog="Example: autosnn search runs/demo --generations 12")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder holding campaign.yaml")
    p.add_argument("--generations", type=positive_int, help="total number of generations to reach")
    add_device_options(p)
    p.set_defaults(handler=_search)


def _refuse_torchrun(command: str) -> None:
    """``run`` and ``search`` are one process: under torchrun every rank would search."""
    from autosnn.supernet.ddp import world_size

    if world_size() > 1:
        raise UserError(f"autosnn {command} runs in one process, not under torchrun (WORLD_SIZE={world_size()}): "
                        "train the supernet with 'torchrun --nproc_per_node=N -m autosnn.cli train-supernet "
                        f"CONFIG.yaml --out RUN_DIR', then run 'autosnn {command}' as usual: it reuses that supernet")


def _run(args: argparse.Namespace) -> int:
    from autosnn.supernet.commands import load_campaign

    _refuse_torchrun("run")
    campaign = load_campaign(args.config, args.seed)
    folder = RunFolder(args.out or Path("runs") / campaign.name)
    if args.dry_run_steps is not None and not args.dry_run:
        raise UserError("--dry-run-steps needs --dry-run")
    if args.dry_run:
        from autosnn.pipeline.dry_run import DEFAULT_STEPS, dry_run

        dry_run(campaign, folder, device=args.device, progress=not args.no_progress,
                steps=args.dry_run_steps or DEFAULT_STEPS)
        return 0
    return run_pipeline(campaign, folder, device=args.device, progress=not args.no_progress)


def _search(args: argparse.Namespace) -> int:
    _refuse_torchrun("search")
    folder = RunFolder(args.run_dir)
    if not folder.path.is_dir():
        raise RunDirError(f"{folder.path}: no such run folder")
    campaign = folder.load_campaign()
    if args.generations is not None:  # positive_int already refused values below 1
        campaign.search.generations = args.generations
    return run_pipeline(campaign, folder, device=args.device, progress=not args.no_progress)
