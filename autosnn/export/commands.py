"""``autosnn export``, ``autosnn evaluate`` and ``autosnn retrain``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autosnn.errors import UserError
from autosnn.cli_args import add_device_options, number, positive_int
from autosnn.fitness.energy_models import ENERGY_MODELS

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a candidate of a run as a standalone subnet (safetensors + JSON)",
        description="Extract one candidate from the run's supernet and write RUN_DIR/exports/<id>/ with "
                    "model.safetensors, config.json and metrics.json. Load it with autosnn.load_subnet(DIR).")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--pick", default=None, metavar="aeb|knee|ID",
                   help="aeb (best F_AEB on the front), knee, or a candidate id (default: the campaign's export.pick)")
    p.add_argument("--energy-max", type=number, metavar="X", help="pick among candidates with energy <= X mJ")
    p.add_argument("--out", type=Path, metavar="DIR", help="export folder (default RUN_DIR/exports/<id>)")
    p.set_defaults(handler=_export)

    p = sub.add_parser(
        "evaluate", help="accuracy and energy of an exported subnet on the validation or test split",
        description="Measure an export's accuracy and energy per inference. This is the only command that "
                    "touches the test split.")
    p.add_argument("export_dir", type=Path, metavar="EXPORT_DIR")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--retrained", action="store_true", help="the weights written by 'autosnn retrain'")
    p.add_argument("--energy-model", choices=ENERGY_MODELS, default=None,
                   help="price the pass under this energy model (default: the campaign's fitness.energy.model)")
    p.add_argument("--neurobench", action="store_true",
                   help="also run NeuroBench's benchmark (footprint, connection and activation sparsity, synaptic "
                        "operations, accuracy) beside autosnn's counts for the same samples, and store it in "
                        "metrics.json (needs: pip install 'autosnn[neurobench]')")
    add_device_options(p, progress=False)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_evaluate)

    p = sub.add_parser(
        "retrain", help="fine-tune an exported subnet (or train it from scratch)",
        description="Train an export with the campaign's supernet recipe, from its inherited weights or from "
                    "scratch; resumable (retrain.pt). Writes model-retrained.safetensors and the test accuracy "
                    "and energy into metrics.json.")
    p.add_argument("export_dir", type=Path, metavar="EXPORT_DIR")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="epochs (default: the campaign's supernet epochs)")
    p.add_argument("--from-scratch", action="store_true", help="start from a fresh initialisation")
    p.add_argument("--tune", action="store_true", help="sweep the fine-tuning hyper-parameters with Ray Tune")
    p.add_argument("--tune-samples", type=positive_int, default=4, metavar="N", help="Ray Tune trials (default 4)")
    add_device_options(p)
    p.set_defaults(handler=_retrain)


def _export(args: argparse.Namespace) -> int:
    from autosnn.export.files import export_subnet
    from autosnn.run_folder import RunFolder

    pick = args.pick or RunFolder(args.run_dir).load_campaign().export.pick
    out = export_subnet(args.run_dir, pick=pick, energy_max=args.energy_max, out=args.out)
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    rec = metrics["recorded"]
    print(f"exported {config['id']} ({pick}): {config['arch']}")
    print(f"  validation accuracy {rec['accuracy']:.4f}, energy {rec['energy_mj']:.4g} mJ, "
          f"{config['params']:,} parameters")
    print(f"  {out}/  (model.safetensors, config.json, metrics.json)")
    print(f"next: autosnn evaluate {out} --split test   |   autosnn retrain {out}")
    return 0


def _device(name: str):
    from autosnn.device import select_device

    try:
        return select_device(name)
    except RuntimeError as exc:
        raise UserError(f"--device {name}: {exc}") from None


def _evaluate(args: argparse.Namespace) -> int:
    from autosnn.export.evaluate import evaluate_export

    if args.neurobench:
        return _neurobench(args)
    r = evaluate_export(args.export_dir, args.split, device=_device(args.device), retrained=args.retrained,
                        energy_model=args.energy_model)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    split = {"val": "validation", "test": "test"}[args.split]
    energy = "unavailable (autosnn.fitness missing)" if r["energy_mj"] is None else \
        f"{r['energy_mj']:.4g} mJ per inference (MACs {r['macs']:.4g}, ACs {r['acs']:.4g})"
    print(f"{r['id']} ({r['weights']} weights) on the {split} split, {r['samples']} samples:")
    print(f"  accuracy {r['accuracy']:.4f}")
    print(f"  energy   {energy}")
    if r.get("energy_components_mj"):
        parts = ", ".join(f"{k} {v:.4g}" for k, v in r["energy_components_mj"].items())
        print(f"  model    {r['energy_model']} ({parts} mJ)")
    return 0


def _neurobench(args: argparse.Namespace) -> int:
    from autosnn.export.neurobench import neurobench_export, require_neurobench

    require_neurobench()
    if args.energy_model is not None:
        raise UserError("--energy-model does not apply to --neurobench (NeuroBench's synaptic operations are compared "
                        "with autosnn's sops counts)")
    r = neurobench_export(args.export_dir, args.split, device=_device(args.device), retrained=args.retrained)
    report = _refresh_run_report(args.export_dir)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(_neurobench_text(r))
    key = f"{r['split']}-retrained" if r["weights"] == "retrained" else r["split"]
    print(f"written to {args.export_dir / 'metrics.json'} (neurobench.{key})"
          + (f"; report: {report}" if report else ""))
    return 0


def _neurobench_text(r: dict) -> str:
    split = {"val": "validation", "test": "test"}[r["split"]]
    s, w = r["static"], r["workload"]
    syn = w["SynapticOperations"]
    lines = [f"{r['id']} ({r['weights']} weights) on the {split} split, {r['samples']} samples in batches of "
             f"{r['batch_size']}: NeuroBench {r['neurobench_version']}",
             f"  static    Footprint {s['Footprint']:,} bytes, ConnectionSparsity {s['ConnectionSparsity']:.4g}, "
             f"ParameterCount {s['ParameterCount']:,}",
             f"  workload  ClassificationAccuracy {w['ClassificationAccuracy']:.4f}, ActivationSparsity "
             f"{w['ActivationSparsity']:.4f}",
             f"            SynapticOperations (per inference): Effective_MACs {syn['Effective_MACs']:.6g}, "
             f"Effective_ACs {syn['Effective_ACs']:.6g}, Dense {syn['Dense']:.6g}"]
    for name, reason in r["not_counted"].items():
        lines.append(f"            {name}: {reason}")
    lines.append("  ActivationSparsityByLayer:")
    lines += [f"    {k:<32} {v:.4f}" for k, v in w["ActivationSparsityByLayer"].items()]
    lines.append("side by side with autosnn (counts per inference: one sample over all T steps):")
    lines.append(f"  {'quantity':<44} {'NeuroBench':>14} {'autosnn':>14} {'difference':>14}")
    fmt = lambda v: "-" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.6g}")  # noqa: E731
    for row in r["comparison"]:
        lines.append(f"  {row['quantity']:<44} {fmt(row['neurobench']):>14} {fmt(row['autosnn']):>14} "
                     f"{fmt(row['difference']):>14}")
    lines.append("each difference:")
    lines += [f"  - {row['quantity']}: {row['explanation']}" for row in r["comparison"]]
    lines += [f"  - {note}" for note in r["notes"]]
    return "\n".join(lines)


def _refresh_run_report(export_dir: Path) -> Path | None:
    """Rewrite the report of the run an export sits in (``RUN_DIR/exports/<id>``), so it shows
    the new numbers; ``None`` when the export is elsewhere or the report cannot be written."""
    from autosnn.report.reports import write_reports
    from autosnn.run_folder import RunFolder

    run_dir = export_dir.resolve().parent.parent
    folder = RunFolder(run_dir)
    in_run = folder.campaign_yaml.is_file() and folder.evaluations.is_file()
    if export_dir.resolve().parent.name != "exports" or not in_run:
        return None
    try:
        write_reports(run_dir)
    except (UserError, OSError, ValueError):   # metrics.json is written already; the report stays as it was
        return None
    return folder.report_html


def _retrain(args: argparse.Namespace) -> int:
    if args.tune:
        try:
            from autosnn.distributed.tune import tune_retrain
        except ImportError as exc:
            raise UserError(f"--tune needs autosnn.distributed.tune (Ray Tune), not available here: {exc}") from None
        epochs = args.epochs or _campaign_epochs(args.export_dir)
        best = tune_retrain(args.export_dir, num_samples=args.tune_samples, max_epochs=epochs)
        print(json.dumps(best, indent=2, default=str))
        return 0
    from autosnn.export.retrain import retrain_export

    r = retrain_export(args.export_dir, epochs=args.epochs, from_scratch=args.from_scratch,
                       device=_device(args.device), progress=not args.no_progress)
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    print(f"retrained {r['epochs']} epochs ({'from scratch' if r['from_scratch'] else 'from the inherited weights'})")
    print(f"  test accuracy {r['test_accuracy']:.4f} (inherited {r['inherited_test_accuracy']:.4f}), "
          f"energy {fmt(r['test_energy_mj'])} mJ (inherited {fmt(r['inherited_test_energy_mj'])} mJ)")
    print(f"  weights: {args.export_dir / r['weights']}; metrics: {args.export_dir / 'metrics.json'}")
    return 0


def _campaign_epochs(export_dir: Path) -> int:
    from autosnn.export.evaluate import export_campaign
    from autosnn.export.files import read_export

    _, _, metrics = read_export(export_dir)
    return export_campaign(metrics, export_dir).supernet.epochs
