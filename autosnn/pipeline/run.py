"""The whole campaign composed from its parts: supernet, evaluator, search, reports, export.

It sits above every part (nothing below imports it): :func:`run_pipeline` is what
``autosnn run`` and ``autosnn search`` do, :func:`build_evaluator` chooses between the
in-process evaluator and a Ray pool.
"""

from __future__ import annotations

import torch

from autosnn.campaign import Campaign
from autosnn.data.splits import DataSplits
from autosnn.device import autocast_dtype, select_device
from autosnn.export import export_subnet
from autosnn.export.files import CONFIG_FILE, MODEL_FILE, load_weights, read_export
from autosnn.fitness.evaluator import build_local_evaluator
from autosnn.fitness.result import Evaluator
from autosnn.report import write_reports
from autosnn.run_folder import RunFolder
from autosnn.search.search import Search
from autosnn.search.state import StateStore
from autosnn.search.table import EvaluationTable
from autosnn.search_spaces.space import SearchSpace
from autosnn.supernet.commands import campaign_data, ensure_supernet, print_extremes
from autosnn.supernet.supernet import SpikformerSupernet
from autosnn.supernet.training import load_supernet

__all__ = ["build_evaluator", "check_readable", "checked_space", "is_complete", "run_pipeline", "uses_ray"]


def build_evaluator(campaign: Campaign, space: SearchSpace, supernet: SpikformerSupernet | None, data: DataSplits,
                    device: torch.device | str) -> Evaluator:
    """The evaluator ``campaign`` asks for: a Ray pool when ``evaluator.kind == "ray"``
    (each worker builds the in-process one), else
    :func:`~autosnn.fitness.evaluator.build_local_evaluator`."""
    if uses_ray(campaign):
        if supernet is None:
            raise ValueError("fitness.mode 'supernet' needs a trained supernet")
        from autosnn.distributed import RayEvaluator

        return RayEvaluator(campaign, space, supernet, data, device)
    return build_local_evaluator(campaign, space, supernet, data, device)


def uses_ray(campaign: Campaign) -> bool:
    """Whether ``campaign`` evaluates on Ray (training-free scores always run in process)."""
    return campaign.evaluator.kind == "ray" and campaign.fitness.mode != "training-free"


def check_readable(folder: RunFolder, space: SearchSpace) -> None:
    """Read in full every file a resumed or finished campaign relies on, and raise a
    :class:`~autosnn.errors.UserError` (one line naming the file) for the first that is
    truncated, corrupt or foreign: ``evaluations.parquet``, ``supernet.pt`` (trained for
    ``space``, its weights loaded into a supernet of that space), ``history.csv``,
    ``search_state/*.json`` and each ``exports/<id>/``. Writes nothing."""
    if folder.evaluations.exists():
        EvaluationTable(folder.evaluations)
    if folder.supernet.exists():
        load_supernet(folder.supernet, space)  # the weights too: missing or misshapen ones are refused here
    folder.load_history()
    store = StateStore(folder.search_state)
    store.load_meta()
    for generation in store.generations():
        store.load(generation)
    if folder.exports.is_dir():
        for export in sorted(p for p in folder.exports.iterdir() if p.is_dir() and (p / CONFIG_FILE).exists()):
            read_export(export)
            load_weights(export / MODEL_FILE)


def checked_space(campaign: Campaign, folder: RunFolder) -> SearchSpace:
    """The campaign's space, once everything ``autosnn run`` refuses before writing has
    been checked (the campaign, its space, a folder made by another campaign, an
    unreadable file in it); writes nothing. ``run`` and ``run --dry-run`` both start here."""
    space = campaign.resolve_space()
    folder.check(campaign)
    check_readable(folder, space)
    return space


def is_complete(folder: RunFolder, campaign: Campaign) -> bool:
    """Search finished, reports written and the pick exported."""
    gens = StateStore(folder.search_state).generations()
    exported = (campaign.fitness.mode == "training-free"  # nothing trained to export
                or folder.exports.is_dir() and any(p.is_dir() for p in folder.exports.iterdir()))
    return (bool(gens) and gens[-1] >= campaign.search.generations and folder.pareto_csv.is_file()
            and folder.report_html.is_file() and exported)


def run_pipeline(campaign: Campaign, folder: RunFolder, *, device: str = "auto", progress: bool = True) -> int:
    """Supernet -> search -> reports -> export in ``folder``, resuming whatever is there;
    prints a short summary.

    Nothing is written before the campaign, its space and the data are known good and an
    existing folder has been checked (:meth:`RunFolder.check`: same campaign;
    :func:`check_readable`: every file readable), the Ray cluster of ``evaluator.kind: ray``
    answers (:func:`autosnn.distributed.cluster.reach`) and ``supernet.precision`` can run
    on the device; only then is ``campaign.yaml`` written (:meth:`RunFolder.prepare`)."""
    space = checked_space(campaign, folder)
    if is_complete(folder, campaign):
        print(f"campaign '{campaign.name}' already finished in {folder.path}: nothing to do "
              f"(autosnn search {folder.path} --generations N extends it)")
        _print_files(folder)
        return 0
    if uses_ray(campaign):   # an unreachable cluster ends here, in seconds, before any training or writing
        from autosnn.distributed.cluster import reach

        reach(campaign.evaluator.address)
    torch.manual_seed(campaign.seed)
    dev = select_device(device)
    autocast_dtype(dev, campaign.supernet.precision)   # fp16 on the CPU: refused before anything is written
    data = campaign_data(campaign, space)
    folder.prepare(campaign)
    supernet = None
    if campaign.fitness.mode != "training-free":
        supernet = ensure_supernet(campaign, space, folder, data, dev, progress=progress)
        print_extremes(supernet, space, data, dev, campaign)
    evaluator = build_evaluator(campaign, space, supernet, data, dev)
    try:  # the first call evaluates the extreme subnets for F_AEB's target and the hypervolume box
        result = Search(campaign, space, evaluator, folder.path, progress=progress).run()
    finally:
        evaluator.close()
    write_reports(folder.path)
    if campaign.fitness.mode == "training-free":
        export = f"none (training-free scores train nothing; the pick's config is in {folder.pareto_csv})"
    else:
        export = export_subnet(folder.path, campaign.export.pick)
    n_ok = int((result.evaluations["status"] == "ok").sum())
    print(f"search: {result.generations} generations, {len(result.evaluations)} evaluations ({n_ok} ok, "
          f"{result.new_evaluations} new), hypervolume {result.hypervolume:.4f}, front of {len(result.front)}")
    print(f"pick ({campaign.export.pick}): {export}")
    _print_files(folder)
    return 0


def _print_files(folder: RunFolder) -> None:
    print(f"files: {folder.pareto_csv}, {folder.pareto_png}, {folder.report_html}, {folder.evaluations}")
