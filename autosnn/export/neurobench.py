"""``neurobench_export``: NeuroBench's own ``Benchmark`` run on an export, side by side
with autosnn's counts for the same samples, every difference explained.

NeuroBench (``pip install 'autosnn[neurobench]'``, pinned to 2.3.0) is optional: without
it :func:`require_neurobench` raises a one-line :class:`~autosnn.errors.UserError`.

The numbers are NeuroBench's (its metric classes on its ``Benchmark`` loop); autosnn adds
the wrapper that makes an export a correct NeuroBench model
(:class:`~autosnn.export.neurobench_model.SpikingJellyModel`), its own counts from one
ordinary pass over the same batches (the ``sops`` counting rules of
:mod:`autosnn.fitness.energy`), and the quantities that explain where the two differ:
the attention products, the zero-padding taps, the binary rule and dense pricing.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset, default_collate

from autosnn.atomic import write_json
from autosnn.errors import UserError
from autosnn.export.evaluate import open_split
from autosnn.export.files import METRICS_FILE, read_export

__all__ = ["NEUROBENCH_REQUIREMENT", "require_neurobench", "benchmark", "neurobench_export", "run_neurobench",
           "autosnn_counts", "compare", "TapCounter",
           "STATIC_METRICS", "WORKLOAD_METRICS"]

#: the pinned NeuroBench (the ``neurobench`` extra of pyproject.toml)
NEUROBENCH_REQUIREMENT = "neurobench==2.3.0"
STATIC_METRICS = ("Footprint", "ConnectionSparsity", "ParameterCount")
WORKLOAD_METRICS = ("ClassificationAccuracy", "ActivationSparsity", "ActivationSparsityByLayer", "SynapticOperations",
                    "MembraneUpdates")

MEMBRANE_NOT_COUNTED = ("not counted: NeuroBench 2.3 reads membrane potentials from snntorch neurons' `mem`; "
                        "spikingjelly's neurons keep theirs in `v` and run all T steps in one call, so its "
                        "MembraneUpdates would report 0")
PER_INFERENCE_NOTE = ("per inference = per sample over all T steps, on both sides: NeuroBench divides its totals by "
                      "dimension 0 of each input batch, which the wrapper keeps the batch ([N, C, H, W] images, "
                      "[N, T, C, H, W] event frames; autosnn's own loaders give frames time-major, which would "
                      "make NeuroBench divide by T)")


def require_neurobench() -> str:
    """NeuroBench's version; a one-line ``UserError`` naming the install when it is missing."""
    try:
        import neurobench
        from neurobench.benchmarks import Benchmark  # noqa: F401  (the package imports, not only its name)
    except ImportError as exc:
        raise UserError(f"--neurobench needs NeuroBench, which is not installed ({exc}); install it with: "
                        f"pip install 'autosnn[neurobench]'  (pins {NEUROBENCH_REQUIREMENT})") from None
    return str(getattr(neurobench, "__version__", "unknown"))


# ------------------------------------------------------------------ NeuroBench's run
def run_neurobench(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None) -> dict[str, Any]:
    """NeuroBench's ``Benchmark`` on ``model`` over ``loader`` (batch-first data: ``[N, C, H, W]``
    or ``[N, T, C, H, W]``, integer labels), with the static and workload metrics of this
    module. Returns ``{"static": ..., "workload": ..., "not_counted": ...}``; a metric
    NeuroBench cannot count for this model is ``None`` with its reason in ``not_counted``.
    A metric that fails inside NeuroBench (which would print a line and report 0) raises."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics import static, workload

    from autosnn.export.neurobench_model import SpikingJellyModel

    wrapped = SpikingJellyModel(model)
    metrics = [[getattr(static, m) for m in STATIC_METRICS], [getattr(workload, m) for m in WORKLOAD_METRICS]]
    bench = Benchmark(wrapped, loader, [], [lambda logits: logits.argmax(-1)], metrics)
    # membrane updates need snntorch neurons (NeuroBench's hooks read their `mem`)
    membrane_countable = any(h.spiking for h in wrapped.activation_hooks)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), torch.no_grad():
            results = bench.run(quiet=False, device=None if device is None else str(device))
    finally:
        wrapped.cleanup_hooks()
    failed = [line.strip() for line in out.getvalue().splitlines() if line.startswith("Error running")]
    if failed:
        raise RuntimeError(f"NeuroBench could not compute a metric on this model: {failed[0]}")
    static_results = {m: _plain(results[m]) for m in STATIC_METRICS}
    workload_results = {m: _plain(results[m]) for m in WORKLOAD_METRICS}
    not_counted = {}
    if not membrane_countable:
        workload_results["MembraneUpdates"] = None
        not_counted["MembraneUpdates"] = MEMBRANE_NOT_COUNTED
    return {"static": static_results, "workload": workload_results, "not_counted": not_counted}


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if torch.is_tensor(v):
        return v.item()
    return float(v) if isinstance(v, float) else v


# ------------------------------------------------------------------ autosnn's side
class TapCounter:
    """Forward hooks counting, over the calls of every ``Conv1d`` / ``Conv2d`` / ``Linear``,
    its dense taps (batch x output positions x output channels x fan-in: what a dense MAC
    count charges) and how many of them read zero padding; on the calls whose input
    NeuroBench finds non-binary (a value outside {-1, 0, 1} anywhere in the batch), also
    the dense taps, padding taps and taps reading a zero-valued input (``*_nonbinary``); and
    the output size of every spikingjelly neuron (to pool firing rates). Nothing is
    recomputed but a nonzero map of the non-binary inputs."""

    def __init__(self, model: nn.Module) -> None:
        from spikingjelly.activation_based import neuron

        self.model = model
        keys = ("dense", "padding", "dense_nonbinary", "padding_nonbinary", "zero_input_nonbinary")
        self.totals = dict.fromkeys(keys, 0.0)
        self.neuron_outputs: dict[str, float] = {}
        self._neuron = neuron.BaseNode
        self._handles: list[Any] = []

    def __enter__(self) -> "TapCounter":
        for name, m in self.model.named_modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                self._handles.append(m.register_forward_hook(self._layer))
            elif isinstance(m, self._neuron):
                self._handles.append(m.register_forward_hook(
                    lambda mod, args, y, name=name: self._count_neuron(name, y)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _count_neuron(self, name: str, y: Any) -> None:
        if torch.is_tensor(y):
            self.neuron_outputs[name] = self.neuron_outputs.get(name, 0.0) + y.numel()

    def _coverage_map(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many (output position, kernel tap) pairs read every input position (the
        energy meter's own map: :func:`autosnn.fitness.energy._coverage_map`)."""
        from autosnn.fitness.energy import _coverage_map, _tuple

        nd = x.dim() - 2
        geometry = (_tuple(getattr(module, a), nd) for a in ("kernel_size", "stride", "padding", "dilation"))
        return _coverage_map(tuple(x.shape[2:]), tuple(y.shape[2:]), *geometry, x.device)

    @torch.no_grad()
    def _layer(self, module: nn.Module, args: tuple, y: torch.Tensor) -> None:
        x = args[0]
        nonbinary = bool(((x != 0) & (x != 1) & (x != -1)).any())
        t = self.totals
        if isinstance(module, nn.Linear):
            dense = float(x.numel() // x.shape[-1] * x.shape[-1] * y.shape[-1])
            t["dense"] += dense
            if nonbinary:
                t["dense_nonbinary"] += dense
                t["zero_input_nonbinary"] += float((x == 0).sum()) * y.shape[-1]
            return
        g = module.groups
        cover = self._coverage_map(module, x, y)
        per_pair = x.shape[0] * y.shape[1] * (x.shape[1] // g)       # batch x cout x cin/groups
        dense = float(per_pair * math.prod(y.shape[2:]) * math.prod(module.kernel_size))
        inside = float(per_pair * cover.sum())
        t["dense"] += dense
        t["padding"] += dense - inside
        if nonbinary:
            nonzero = (x != 0).reshape(x.shape[0], g, x.shape[1] // g, *x.shape[2:]).sum(dim=(0, 2))  # [g, *S]
            reading = float((nonzero.to(torch.float64) * cover).sum()) * (y.shape[1] // g)
            t["dense_nonbinary"] += dense
            t["padding_nonbinary"] += dense - inside
            t["zero_input_nonbinary"] += inside - reading


def autosnn_counts(model: nn.Module, loader, device: torch.device, costs) -> dict[str, Any]:
    """Accuracy and the ``sops`` counts of one ordinary pass over ``loader`` (per sample over
    all T steps), split into the attention products and the conv / linear layers, with the
    dense and zero-padding taps of the conv / linear layers and the pooled firing rates."""
    from autosnn.fitness.evaluator import accuracy_and_energy

    with TapCounter(model) as taps:
        correct, seen, report = accuracy_and_energy(model, loader, device, costs, check_finite=False)
    if report is None:
        raise UserError("the split holds no samples")
    attention = [la for la in report.layers if la.kind == "attention"]
    rest = [la for la in report.layers if la.kind != "attention"]
    outputs = taps.neuron_outputs
    spikes = sum(report.firing_rates.get(k, 0.0) * n for k, n in outputs.items())
    total = sum(outputs.values())
    return {
        "accuracy": correct / seen, "samples": seen, "energy_mj": report.energy_mj,
        "macs": report.macs, "acs": report.acs,
        "attention_macs": sum(la.macs for la in attention), "attention_acs": sum(la.acs for la in attention),
        "conv_linear_macs": sum(la.macs for la in rest), "conv_linear_acs": sum(la.acs for la in rest),
        **{f"taps_{k}": v / seen for k, v in taps.totals.items()},
        "activation_sparsity": 1.0 - spikes / total if total else None,
        "activation_sparsity_by_layer": {k: 1.0 - r for k, r in report.firing_rates.items()},
    }


# ------------------------------------------------------------------ the comparison
def _row(quantity: str, nb: Any, ours: Any, explanation: str) -> dict[str, Any]:
    diff = ours - nb if isinstance(nb, (int, float)) and isinstance(ours, (int, float)) else None
    return {"quantity": quantity, "neurobench": nb, "autosnn": ours, "difference": diff, "explanation": explanation}


def compare(nb: dict[str, Any], ours: dict[str, Any], params: int | None = None) -> list[dict[str, Any]]:
    """Rows (quantity, NeuroBench, autosnn, autosnn - NeuroBench, explanation) for the
    quantities both sides measure. Counts are per inference (one sample over all T steps)."""
    w, s = nb["workload"], nb["static"]
    syn = w["SynapticOperations"] or {}
    rows = [
        _row("accuracy", w["ClassificationAccuracy"], ours["accuracy"],
             "same model, same samples: equal (NeuroBench averages per-batch accuracies weighted by batch size)"),
        _row("activation sparsity", w["ActivationSparsity"], ours["activation_sparsity"],
             "same definition (zero outputs over all spikingjelly neuron outputs, all T steps): equal"),
    ]
    by_layer_nb, by_layer_ours = w.get("ActivationSparsityByLayer") or {}, ours["activation_sparsity_by_layer"]
    common = sorted(set(by_layer_nb) & set(by_layer_ours))
    worst = max((abs(by_layer_nb[k] - by_layer_ours[k]) for k in common), default=None)
    rows.append({"quantity": f"activation sparsity by layer ({len(common)} neurons)", "neurobench": len(by_layer_nb),
                 "autosnn": len(by_layer_ours), "difference": worst,
                 "explanation": "per neuron, 1 - autosnn's firing rate; difference = the largest gap over the neurons "
                                "(0: equal); names are full module paths on both sides"})
    if params is not None:
        rows.append(_row("parameters", s["ParameterCount"], params, "the same count"))
    att_acs, conv_acs = ours["attention_acs"], ours["conv_linear_acs"]
    d_rule = conv_acs - syn.get("Effective_ACs", 0.0)
    sparse_w = s.get("ConnectionSparsity") or 0.0
    weights = ("" if not sparse_w else
               f"; {100 * sparse_w:.3g}% of the weights are exactly 0, which NeuroBench skips and autosnn counts")
    if d_rule:
        rule = (f"conv/linear ACs: autosnn {conv_acs:.6g}, {d_rule:.6g} more than NeuroBench: binary samples in calls "
                "NeuroBench's per-call test (the whole batch, values in {-1, 0, 1}) finds non-binary, which autosnn's "
                "rule (binary-ness per sample) charges ACs and NeuroBench MACs")
    else:
        rule = f"conv/linear ACs equal ({conv_acs:.6g}): both rules found the same inputs binary"
    rows.append(_row(
        "effective ACs", syn.get("Effective_ACs"), ours["acs"],
        f"autosnn adds the attention products (v·kᵀ)·q, {att_acs:.6g} ACs, which NeuroBench does not hook "
        f"(it counts Linear/Conv/RNN modules only, not matrix products); {rule}{weights}"))
    x, p, z = ours["taps_dense_nonbinary"], ours["taps_padding_nonbinary"], ours["taps_zero_input_nonbinary"]
    rest = ours["conv_linear_macs"] - x
    rows.append(_row(
        "effective MACs", syn.get("Effective_MACs"), ours["macs"],
        "a non-binary input (the image or event counts into the first conv, the residual sums into qkv/q-k and fc1, "
        f"the token means into the head) is priced dense by autosnn: {x:.6g} taps on the calls NeuroBench finds "
        f"non-binary, of which {p:.6g} read zero padding and {z:.6g} a zero-valued input; NeuroBench counts one MAC "
        "per nonzero input value x nonzero weight inside the input (it binarises the input and the weights, then "
        f"re-runs the layer): {x - p - z:.6g}"
        + (f"; autosnn's conv/linear MACs are {-rest:.6g} fewer than those dense taps: the binary samples of those "
           "calls, which its per-sample rule charges ACs (see effective ACs)" if rest else "")
        + (f"; {ours['attention_macs']:.6g} attention MACs not hooked by NeuroBench" if ours["attention_macs"]
           else "")))
    dense, pad = ours["taps_dense"], ours["taps_padding"]
    rows.append(_row(
        "dense synaptic operations", syn.get("Dense"), dense,
        f"autosnn's dense taps of the conv/linear layers include {pad:.6g} zero-padding taps; without them, "
        f"{dense - pad:.6g} (NeuroBench's Dense: every weight x every input inside the image); neither side counts "
        "the attention products here"))
    return rows


# ------------------------------------------------------------------ a dataset, an export
def benchmark(model: nn.Module, dataset, batch_size: int, *, device: torch.device | str | None = None,
              costs: Any = None, samples: int | None = None, params: int | None = None) -> dict[str, Any]:
    """NeuroBench's run and autosnn's counts on the first ``samples`` of ``dataset`` (all by
    default; items ``(x, label)`` with ``x`` ``[C, H, W]`` or event frames ``[T, C, H, W]``),
    in the same batches of ``batch_size``, and their comparison. ``costs``: the ``sops``
    costs (:class:`~autosnn.fitness.energy.EnergyCosts`, default FP32)."""
    from autosnn.data.splits import collate
    from autosnn.fitness.energy import EnergyCosts

    version = require_neurobench()
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if samples is not None and samples < len(dataset):
        dataset = Subset(dataset, list(range(samples)))
    if len(dataset) == 0:
        raise UserError("no samples to benchmark")
    # the same samples in the same batches: batch-first for NeuroBench, autosnn's time-major layout for its own pass
    nb = run_neurobench(model, DataLoader(dataset, batch_size=batch_size, collate_fn=default_collate), dev)
    ours = autosnn_counts(model, DataLoader(dataset, batch_size=batch_size, collate_fn=collate), dev,
                          costs if costs is not None else EnergyCosts())
    result = {
        "neurobench_version": version, "samples": len(dataset), "batch_size": batch_size,
        **nb, "autosnn": ours, "comparison": compare(nb, ours, params),
        "notes": [PER_INFERENCE_NOTE,
                  "autosnn's counts are its sops rules (autosnn.fitness.energy) whatever the campaign's energy model, "
                  "since NeuroBench's synaptic operations count the same kind of thing",
                  "Footprint is NeuroBench's: bytes of parameters and buffers (BatchNorm statistics included)"],
    }
    return _finite(result)


def neurobench_export(export_dir: str | Path, split: str = "val", *, device: str | torch.device | None = None,
                      retrained: bool = False, batch_size: int | None = None, write: bool = True) -> dict[str, Any]:
    """:func:`benchmark` on an export's ``split`` (``val`` under the campaign's
    ``max_val_batches`` cap, as ``autosnn evaluate``; its batch size). With ``write``, the
    result goes into the export's ``metrics.json`` under ``neurobench.<split>``
    (``<split>-retrained`` for the retrained weights; other keys kept, written atomically).
    Needs NeuroBench (:func:`require_neurobench`)."""
    from autosnn.fitness.energy import EnergyCosts

    require_neurobench()
    export_dir = Path(export_dir)
    model, dev, config, campaign, data, bs, cap = open_split(export_dir, split, device=device, retrained=retrained,
                                                             batch_size=batch_size)
    result = {"id": config.get("id"), "split": split, "weights": "retrained" if retrained else "inherited"}
    result.update(benchmark(model, data.split(split), bs, device=dev, samples=cap * bs if cap else None,
                            costs=EnergyCosts.from_config(campaign.fitness.energy), params=config.get("params")))
    if write:
        _, _, metrics = read_export(export_dir)   # re-read: keep whatever else was written meanwhile
        section = metrics.get("neurobench") if isinstance(metrics.get("neurobench"), dict) else {}
        section[f"{split}-retrained" if retrained else split] = result
        metrics["neurobench"] = section
        write_json(export_dir / METRICS_FILE, metrics)
    return result


def _finite(v: Any) -> Any:
    """JSON-safe: non-finite floats become ``None``."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
