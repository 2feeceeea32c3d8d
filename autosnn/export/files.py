"""Exports: a standalone subnet as ``model.safetensors`` + ``config.json`` + ``metrics.json``.

Nothing in an export is unpickled: weights are safetensors, everything else JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch

from autosnn.atomic import write_bytes, write_json
from autosnn.errors import CheckpointError, RunDirError
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.spikformer import Spikformer

__all__ = ["EXPORT_KIND", "MODEL_FILE", "RETRAINED_FILE", "CONFIG_FILE", "METRICS_FILE", "export_subnet", "load_subnet",
           "save_weights", "load_weights", "read_export", "sha256_file", "write_export"]

EXPORT_KIND = "autosnn-export"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
RETRAINED_FILE = "model-retrained.safetensors"
RETRAIN_CHECKPOINT = "retrain.pt"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ weights
def save_weights(model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> Path:
    """The model's state dict as safetensors, written atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return write_bytes(path, save(tensors, metadata={k: str(v) for k, v in metadata.items()}))


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; anything else is a ``CheckpointError``."""
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises SafetensorError / OSError / ValueError for bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a valid safetensors file, refused (truncated, corrupt or not "
                              f"safetensors: {first[:120]})") from None
    return tensors, metadata


# ------------------------------------------------------------------ reading an export
def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} is not an autosnn export ({path.name} is missing)")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_export(export_dir: str | Path) -> tuple[SubnetConfig, dict[str, Any], dict[str, Any]]:
    """(subnet config, config.json, metrics.json) of an export directory, validated."""
    d = Path(export_dir)
    if not d.is_dir():
        raise CheckpointError(f"export folder not found: {d}")
    config = _read_json(d / CONFIG_FILE)
    if config.get("kind") != EXPORT_KIND:
        raise CheckpointError(f"{d / CONFIG_FILE}: not an autosnn export (kind {config.get('kind')!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{d}: export format {config.get('format_version')} is newer than this autosnn reads")
    try:
        cfg = SubnetConfig.from_dict(config["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{d / CONFIG_FILE}: bad subnet config ({str(exc)[:160]})") from None
    fixed = config.get("fixed") or {}
    for k, v in fixed.items():
        if getattr(cfg, k, v) != v:
            raise CheckpointError(f"{d / CONFIG_FILE}: config has {k}={getattr(cfg, k)} but the space fixes {v}")
    metrics = _read_json(d / METRICS_FILE) if (d / METRICS_FILE).exists() else {}
    return cfg, config, metrics


def export_space(config: dict[str, Any]) -> SearchSpace | None:
    definition = config.get("space_definition")
    if not definition:
        return None
    try:
        return SearchSpace.from_dict(definition, source="export space")
    except Exception as exc:
        raise CheckpointError(f"export: bad space definition ({str(exc)[:160]})") from None


def load_subnet(export_dir: str | Path, device: str | torch.device | None = None, *, retrained: bool = False) -> Spikformer:
    """The exported subnet as a standalone :class:`autosnn.Spikformer` in eval mode, on
    ``device`` (default CPU). ``retrained=True`` loads the weights ``autosnn retrain``
    wrote. Needs nothing of the supernet."""
    d = Path(export_dir)
    cfg, config, _ = read_export(d)
    path = d / (RETRAINED_FILE if retrained else MODEL_FILE)
    if retrained and not path.is_file():
        raise CheckpointError(f"{d}: not retrained yet (no {RETRAINED_FILE}); run: autosnn retrain {d}")
    tensors, metadata = load_weights(path)
    if metadata.get("kind", EXPORT_KIND) != EXPORT_KIND:
        raise CheckpointError(f"{path}: not autosnn export weights (kind {metadata.get('kind')!r})")
    for key, what in (("space_fingerprint", "space"), ("id", "subnet")):
        if key in metadata and key in config and metadata[key] != str(config[key]):
            raise CheckpointError(f"{path}: weights belong to another {what} ({metadata[key]}, "
                                  f"config.json says {config[key]}); refused")
    model = Spikformer(cfg)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise CheckpointError(f"{path}: weights do not fit {cfg.arch_string} (another space or subnet?): "
                              f"{detail[:160]}") from None
    model.eval()
    return model.to(torch.device(device) if device is not None else torch.device("cpu"))


# ------------------------------------------------------------------ writing an export
def _plain(value: Any) -> Any:
    """A JSON-able version of one evaluations-table value."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            value = value.tolist()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _recorded_row(row: Any) -> dict[str, Any]:
    from autosnn.report.summary import parse_json

    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("genome", "rank", "arch", "neurons"):
            continue
        if key == "config":
            value = json.loads(value)
        elif key in ("firing_rates", "layers"):
            value = parse_json(value, {} if key == "firing_rates" else [])
        out[key] = _plain(value)
    return out


def export_subnet(run_dir: str | Path, pick: str = "aeb", energy_max: float | None = None,
                  out: str | Path | None = None) -> Path:
    """Export one candidate of a run as a standalone subnet; returns the export folder.

    ``pick``: ``aeb`` (highest F_AEB on the front), ``knee``, or a candidate id (a unique
    prefix is enough). ``energy_max`` (mJ) restricts ``aeb`` / ``knee`` to cheaper
    candidates. ``out`` is the export folder (default ``RUN_DIR/exports/<id>``).
    """
    from autosnn.report.summary import summarize, resolve_pick
    from autosnn.run_folder import RunFolder
    from autosnn.supernet.recalibrate import recalibrate_bn, recalibration_batches
    from autosnn.supernet.training import load_supernet

    run_dir = Path(run_dir)
    summary = summarize(run_dir, energy_max=energy_max)
    cid = resolve_pick(summary, pick)
    row = summary.row(cid)
    folder = RunFolder(run_dir)
    campaign, space = summary.campaign, summary.space
    if not folder.supernet.is_file():
        raise RunDirError(f"{run_dir}: no supernet.pt to take the weights from")
    try:
        cfg = space.validate(SubnetConfig.from_json(row["config"]))
    except ValueError as exc:
        raise RunDirError(f"candidate {cid}: config does not fit space '{space.name}' ({str(exc)[:160]})") from None
    supernet, ckpt = load_supernet(folder.supernet, space)
    model = supernet.extract(cfg)
    del supernet
    bn_batches = campaign.fitness.bn_recalibration_batches
    if bn_batches > 0:
        # The recorded accuracy was measured with recalibrated BatchNorm statistics: bake them in.
        from autosnn.supernet.commands import campaign_data

        data = campaign_data(campaign, space).for_time_steps(cfg.time_steps)
        recalibrate_bn(model, recalibration_batches(data, campaign.data.batch_size, bn_batches), bn_batches,
                       torch.device("cpu"))
    model.eval()

    out_dir = Path(out) if out is not None else folder.exports / cid
    previous: dict[str, Any] = {}
    if (out_dir / CONFIG_FILE).exists():
        try:
            _, old_config, previous = read_export(out_dir)
        except CheckpointError:
            old_config = {}
        if old_config.get("id") != cid:
            raise RunDirError(f"{out_dir} already holds another export ({old_config.get('id', 'unknown')}); "
                              "use another --out folder")
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise RunDirError(f"{out_dir} exists, is not empty and is not an export; use another --out folder")

    supernet_sha = sha256_file(folder.supernet)
    recorded = _recorded_row(row)
    metrics: dict[str, Any] = {
        "id": cid, "campaign": campaign.name, "seed": campaign.seed, "pick": pick,
        "supernet_sha256": supernet_sha, "supernet_epochs": int(ckpt.get("epoch", 0)),
        "recorded": recorded,
        "f_aeb": {"value": _plain(row["f_aeb"]), "target_mj": _plain(summary.target.target_mj),
                  "target_source": summary.target.source, "alpha": summary.target.alpha, "beta": summary.target.beta},
        "evaluation": {"split": "val", "batch_size": campaign.data.batch_size,
                       "max_val_batches": campaign.fitness.max_val_batches, "bn_recalibration_batches": bn_batches},
        "campaign_config": campaign.to_dict(),
    }
    if previous.get("supernet_sha256") == supernet_sha and "retrained" in previous:
        metrics["retrained"] = previous["retrained"]
        if "inherited_test" in previous:
            metrics["inherited_test"] = previous["inherited_test"]
    else:  # a retraining of weights from another supernet no longer belongs to this export
        for stale in (RETRAINED_FILE, RETRAIN_CHECKPOINT):
            (out_dir / stale).unlink(missing_ok=True)
    write_export(out_dir, model, space, metrics)
    return out_dir


def write_export(out_dir: str | Path, model: Spikformer, space: SearchSpace, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a standalone subnet of ``space``) as an export folder:
    ``model.safetensors``, ``config.json`` and, when given, ``metrics.json``."""
    out_dir = Path(out_dir)
    cfg = space.validate(model.config)
    cid = cfg.id
    config = {
        "kind": EXPORT_KIND, "format_version": FORMAT_VERSION, "id": cid, "arch": str(cfg),
        "space": space.name, "space_fingerprint": space.fingerprint, "fixed": space.fixed(),
        "config": cfg.to_dict(), "params": model.num_parameters(), "space_definition": space.to_dict(),
    }
    save_weights(model, out_dir / MODEL_FILE, {"kind": EXPORT_KIND, "id": cid, "space_fingerprint": space.fingerprint,
                                               "arch": str(cfg)})
    write_json(out_dir / CONFIG_FILE, config)
    if metrics is not None:
        write_json(out_dir / METRICS_FILE, metrics)
    return out_dir
