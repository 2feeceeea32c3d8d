"""NeuroBench's own benchmark on exports (``autosnn evaluate EXPORT --neurobench``): the
wrapper that makes a spikingjelly network a correct NeuroBench model, the numbers beside
autosnn's counts (equal where they should be by definition, different by exactly the
explained amount where not), the metrics.json / report integration, and the missing
extra."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

pytest.importorskip("neurobench")

from neurobench.models import TorchModel  # noqa: E402
from spikingjelly.activation_based import layer, neuron  # noqa: E402

from autosnn import Spikformer  # noqa: E402
from autosnn.campaign import Campaign  # noqa: E402
from autosnn.export import evaluate_export, export_subnet  # noqa: E402
from autosnn.export.files import write_export  # noqa: E402
from autosnn.export.neurobench import benchmark  # noqa: E402
from autosnn.export.neurobench_model import SpikingJellyModel  # noqa: E402
from autosnn.search_spaces import SearchSpace  # noqa: E402
from conftest import run_cli  # noqa: E402


def _digits(n: int, space: str = "digits-tiny"):
    from autosnn.data import load_data

    return torch.utils.data.Subset(load_data("digits", image_size=16).val, list(range(n)))


def _model(firing, space: str, **changes) -> Spikformer:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SearchSpace.builtin(space).largest(), **changes)
    return firing(Spikformer(cfg), seed=2)


def _syn(r):
    return r["workload"]["SynapticOperations"]


# ------------------------------------------------------------------ the wrapper
class _Bare(nn.Module):
    """A multi-step spikingjelly network that does not reset itself: [T, N, 1, 4, 4] -> [N, 3]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = layer.SeqToANNContainer(nn.Conv2d(1, 4, 3, padding=1))
        self.lif = neuron.LIFNode(tau=10.0, step_mode="m")
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(4, 1, 1, 1, 1) if x.dim() == 4 else x
        return self.head(self.lif(self.conv(x)).flatten(2)).mean(0)


def test_wrapper_resets_neurons_registers_them_and_takes_batch_first_frames():
    a, b = torch.rand(3, 1, 4, 4) * 60, torch.rand(3, 1, 4, 4) * 60
    fresh = SpikingJellyModel(_Bare())(b)
    wrapped = SpikingJellyModel(_Bare())
    wrapped(a)
    assert torch.equal(wrapped(b), fresh)                 # state reset before every batch
    plain = TorchModel(_Bare())
    plain(a)
    assert not torch.equal(plain(b), fresh)               # NeuroBench's TorchModel carries the membrane over
    assert [d["layer_name"] for d in wrapped.activation_layers()] == ["lif"]
    assert plain.activation_layers() == []                # it sees no spikingjelly neuron at all
    frames = torch.rand(5, 2, 1, 4, 4) * 60                 # [N, T, C, H, W]
    assert torch.equal(SpikingJellyModel(_Bare())(frames), _Bare()(frames.transpose(0, 1)))


def test_activation_layers_have_unique_full_names(firing):
    model = _model(firing, "digits-tiny")
    names = [d["layer_name"] for d in SpikingJellyModel(model).activation_layers()]
    lifs = [n for n, m in model.named_modules() if isinstance(m, neuron.BaseNode)]
    assert names == lifs and len(set(names)) == len(names) == 15


# ------------------------------------------------------------------ counts: equal, or differing by the explained amount
def test_counts_at_batch_1_equal_where_defined_and_differ_by_the_explained_parts(firing):
    model = _model(firing, "digits-tiny")
    r = benchmark(model, _digits(3), 1)
    syn, ours, static = _syn(r), r["autosnn"], r["static"]
    # accuracy and sparsity: same definition
    assert r["workload"]["ClassificationAccuracy"] == pytest.approx(ours["accuracy"], abs=1e-12)
    assert r["workload"]["ActivationSparsity"] == pytest.approx(ours["activation_sparsity"], abs=1e-12)
    by_nb, by_ours = r["workload"]["ActivationSparsityByLayer"], ours["activation_sparsity_by_layer"]
    assert by_nb.keys() == by_ours.keys() and len(by_nb) == 15
    assert all(by_nb[k] == pytest.approx(by_ours[k], abs=1e-12) for k in by_nb)
    assert 0.2 < r["workload"]["ActivationSparsity"] < 0.95          # neurons do fire
    # ACs of convs and linears on binary inputs: the same count
    assert syn["Effective_ACs"] == pytest.approx(ours["conv_linear_acs"], rel=1e-12) and syn["Effective_ACs"] > 1e5
    # ... and autosnn's total ACs exceed NeuroBench's by its attention products, which NeuroBench does not hook
    assert ours["attention_acs"] > 0
    assert ours["acs"] - syn["Effective_ACs"] == pytest.approx(ours["attention_acs"], rel=1e-9)
    # dense: NeuroBench's leaves out the zero-padding taps that autosnn's dense count includes
    assert ours["taps_padding"] > 0
    assert syn["Dense"] == pytest.approx(ours["taps_dense"] - ours["taps_padding"], rel=1e-12)
    # MACs: autosnn prices non-binary inputs dense; NeuroBench counts nonzero inputs inside the image
    assert ours["macs"] == pytest.approx(ours["taps_dense_nonbinary"], rel=1e-12)
    assert ours["taps_zero_input_nonbinary"] > 0 and ours["taps_padding_nonbinary"] > 0
    assert syn["Effective_MACs"] == pytest.approx(
        ours["taps_dense_nonbinary"] - ours["taps_padding_nonbinary"] - ours["taps_zero_input_nonbinary"], rel=1e-12)
    # static metrics
    assert static["ParameterCount"] == model.num_parameters()
    assert static["Footprint"] == sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    assert static["ConnectionSparsity"] == 0.0
    # membrane updates: NeuroBench cannot count spikingjelly neurons, and says so instead of 0
    assert r["workload"]["MembraneUpdates"] is None and "spikingjelly" in r["not_counted"]["MembraneUpdates"]
    rows = {row["quantity"]: row for row in r["comparison"]}
    assert rows["effective ACs"]["difference"] == pytest.approx(ours["attention_acs"], rel=1e-9)
    assert "not hook" in rows["effective ACs"]["explanation"]


def test_per_inference_normalisation_does_not_depend_on_the_batch(firing):
    model = _model(firing, "digits-tiny")
    one, four = benchmark(model, _digits(4), 1), benchmark(model, _digits(4), 4)
    for key in ("Effective_ACs", "Effective_MACs", "Dense"):
        assert _syn(four)[key] == pytest.approx(_syn(one)[key], rel=1e-9)
    assert four["workload"]["ActivationSparsity"] == pytest.approx(one["workload"]["ActivationSparsity"], abs=1e-12)
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())   # no hook left behind


def test_qk_mixed_exports_differ_by_their_ssa_blocks_only(firing):
    qk = benchmark(_model(firing, "digits-mixer", attention=("qk_token", "qk_channel")), _digits(2), 1)
    assert qk["autosnn"]["attention_acs"] == 0                        # Q-K attention has no matrix product
    assert _syn(qk)["Effective_ACs"] == pytest.approx(qk["autosnn"]["acs"], rel=1e-12) and qk["autosnn"]["acs"] > 1e5
    mixed_model = _model(firing, "digits-mixer", attention=("qk_channel", "ssa"))
    mixed = benchmark(mixed_model, _digits(2), 1)
    from autosnn.fitness.energy import measure_energy

    from autosnn.data.splits import collate
    x = collate([_digits(2)[i] for i in range(1)])[0]
    per_layer = {la.name: la.acs for la in measure_energy(mixed_model, x).layers}
    assert list(k for k in per_layer if "attention" in k) == ["blocks.1.attn.attention"]
    assert mixed["autosnn"]["attention_acs"] > 0
    assert mixed["autosnn"]["acs"] - _syn(mixed)["Effective_ACs"] == pytest.approx(mixed["autosnn"]["attention_acs"],
                                                                                   rel=1e-9)


# ------------------------------------------------------------------ event frames
def _frames(n: int = 4, T: int = 3):
    """Event frames [n, T, 2, 16, 16]: samples 0 and 2 binary, 1 and 3 with counts up to 3."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, T, 2, 16, 16, generator=g) < 0.3).float()
    x[1::2] *= torch.randint(1, 4, x[1::2].shape, generator=g).float()
    return TensorDataset(x, torch.arange(n) % 4)


def test_event_frames_per_sample_vs_per_batch_binarisation(firing):
    cfg = dataclasses.replace(SearchSpace.builtin("digits-tiny").smallest(), in_channels=2, num_classes=4, time_steps=3)
    torch.manual_seed(0)
    model = firing(Spikformer(cfg), seed=3)
    one, four = benchmark(model, _frames(), 1), benchmark(model, _frames(), 4)
    # batch 1: the binary samples' first convolution is ACs on both sides
    assert _syn(one)["Effective_ACs"] == pytest.approx(one["autosnn"]["conv_linear_acs"], rel=1e-12)
    assert _syn(one)["Dense"] == pytest.approx(one["autosnn"]["taps_dense"] - one["autosnn"]["taps_padding"], rel=1e-12)
    # batch 4: NeuroBench decides per call, so the binary samples' first-conv ACs become MACs (its total is unchanged)
    moved = _syn(one)["Effective_ACs"] - _syn(four)["Effective_ACs"]
    assert moved > 1000
    assert _syn(four)["Effective_MACs"] - _syn(one)["Effective_MACs"] == pytest.approx(moved, rel=1e-9)
    assert _syn(four)["Dense"] == pytest.approx(_syn(one)["Dense"], rel=1e-12)   # divided by N, not by T
    # autosnn's conv/linear ACs differ from NeuroBench's by what its binary rule keeps as ACs: the moved ACs
    # under the per-sample rule (autosnn's counts then do not depend on the batch), none under a per-batch rule
    per_sample = four["autosnn"]["acs"] == pytest.approx(one["autosnn"]["acs"], rel=1e-9)
    d = four["autosnn"]["conv_linear_acs"] - _syn(four)["Effective_ACs"]
    assert d == pytest.approx(moved if per_sample else 0.0, rel=1e-9, abs=1e-6)


# ------------------------------------------------------------------ the command, metrics.json, the report
@pytest.fixture()
def run_with_export(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("exports"))
    return run, export_subnet(run, "aeb")


@pytest.mark.slow
def test_command_on_a_trained_export_writes_metrics_and_the_report(run_with_export, capsys):
    run, export = run_with_export
    before = json.loads((export / "metrics.json").read_text())
    code, out, err = run_cli(["evaluate", str(export), "--neurobench", "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    after = json.loads((export / "metrics.json").read_text())
    assert after["neurobench"]["val"] == r
    assert {k: v for k, v in after.items() if k != "neurobench"} == before       # the other keys kept
    plain = evaluate_export(export, "val")
    assert r["samples"] == plain["samples"] == 360
    assert r["workload"]["ClassificationAccuracy"] == pytest.approx(plain["accuracy"], abs=1e-12)
    assert r["autosnn"]["macs"] == pytest.approx(plain["macs"], rel=1e-9)
    assert r["autosnn"]["acs"] == pytest.approx(plain["acs"], rel=1e-9)
    html = (run / "report.html").read_text()
    assert "NeuroBench on exports" in html and f"neurobench-{export.name}-val" in html
    assert f"{r['workload']['SynapticOperations']['Effective_ACs']:.6g}" in html

    code, out, err = run_cli(["evaluate", str(export), "--neurobench"], capsys)
    assert code == 0, err
    assert "side by side with autosnn" in out and "effective ACs" in out and "MembraneUpdates: not counted" in out


def test_without_neurobench_one_line_exit_2(tmp_path, firing, monkeypatch, capsys):
    campaign = Campaign.from_dict({"space": "digits-tiny", "data": {"name": "digits", "batch_size": 64}})
    space = campaign.resolve_space()
    export = write_export(tmp_path / "exp", firing(Spikformer(space.smallest())), space,
                          {"campaign_config": campaign.to_dict()})
    before = (export / "metrics.json").read_bytes()
    monkeypatch.setitem(sys.modules, "neurobench", None)          # import neurobench -> ImportError
    code, out, err = run_cli(["evaluate", str(export), "--neurobench"], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "pip install 'autosnn[neurobench]'" in err
    assert "Traceback" not in err
    assert (export / "metrics.json").read_bytes() == before
