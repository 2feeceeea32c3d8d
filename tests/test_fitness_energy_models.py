"""The simple and Lemaire energy models against spikingjelly 2.0's own estimators, side by side."""

from __future__ import annotations

import dataclasses
import functools
import json
import typing

import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron
from spikingjelly.activation_based.op_counter import LemaireEnergyConfig as SJLemaireConfig
from spikingjelly.activation_based.op_counter import LemaireEnergyCostConfig, SimpleEnergyCostConfig

from conftest import excited_supernet, run_cli

from autosnn.campaign import Campaign, EnergyConfig
from autosnn.errors import ConfigError
from autosnn.fitness import EnergyCosts, EnergyMeter, LemaireCosts, SimpleCosts, measure_energy
from autosnn.fitness.energy import energy_model_from_config, resolve_energy_model
from autosnn.fitness.energy_models import ENERGY_MODELS
from autosnn.fitness.sj_reference import excite, spikingjelly_counts, spikingjelly_energy, spikingjelly_module_energy
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

TOL = 0.005     # the bound, against spikingjelly's estimator as it is
EXACT = 1e-9    # against the estimator less its own bookkeeping (see spikingjelly_energy)
MODELS = [SimpleCosts(), LemaireCosts()]


def _rel(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / max(abs(theirs), 1e-30)


def _check(report, raw: dict[str, float], clean: dict[str, float], label: str) -> None:
    got = dict(report.components_mj, total=report.energy_mj)
    assert set(got) == set(raw), label
    for k in raw:
        assert raw[k] > 0 or k == "mac", (label, k)  # every component must be exercised
        assert _rel(got[k], raw[k]) <= TOL, (label, k, got[k], raw[k])
        assert _rel(got[k], clean[k]) <= EXACT, (label, k, got[k], clean[k])


def _space_cases():
    cases = []
    for name in SearchSpace.builtin_names():
        space = SearchSpace.builtin(name)
        small = space.image_size <= 16
        cases.append(pytest.param(name, 3 if small else 1, 2 if small else 0, id=name))
    return cases


@pytest.mark.parametrize("space_name,batch,n_random", _space_cases())
def test_models_equal_spikingjelly_estimators_supernet_and_extracted(space_name, batch, n_random):
    space, net, x = excited_supernet(space_name, batch)
    rng = np.random.default_rng(3)
    configs = [space.smallest()] + [space.sample(rng) for _ in range(n_random)]
    for cfg in configs:
        net.set_config(cfg)
        sub = net.extract(cfg).eval()
        for em in MODELS:
            raw = spikingjelly_energy(sub, x, em)
            clean = spikingjelly_energy(sub, x, em, exclude_bookkeeping=True)
            on_supernet = measure_energy(net, x, energy_model=em)
            rates = np.array(list(on_supernet.firing_rates.values()))
            assert 0.05 < rates.mean() < 0.7, f"{cfg.arch_string}: neurons must fire for the check to mean anything"
            _check(on_supernet, raw, clean, f"{cfg.arch_string} {em.name} supernet")
            on_extracted = measure_energy(sub, x, energy_model=em)
            _check(on_extracted, raw, clean, f"{cfg.arch_string} {em.name} extracted")
            assert on_extracted.layer_dicts() == _qk_names(on_supernet.layer_dicts(), cfg)


def _qk_names(rows: list[dict], cfg) -> list[dict]:
    """The supernet computes a Q-K block with SSA's fused projection (``qkv_*``); the
    extracted model names its own ``qk_*``: the same layers, counted the same."""
    qk_blocks = {f"blocks.{i}.attn." for i, a in enumerate(cfg.attention or ()) if a != "ssa"}
    out = []
    for r in rows:
        prefix = r["name"].rsplit(".", 1)[0] + "."
        out.append(dict(r, name=r["name"].replace(".qkv_", ".qk_")) if prefix in qk_blocks else r)
    return out


def _digits() -> tuple[SpikformerSupernet, torch.Tensor]:
    space = SearchSpace.builtin("digits-tiny")
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    excite(net, x)
    net.set_config(space.config(depth=2, embed_dim=48, num_heads=4, mlp_ratio=3.0, time_steps=3))
    return net, x


@functools.lru_cache(maxsize=1)
def _dvs_mixed_batch():
    """``spikformer-cifar10-dvs``'s smallest subnet (supernet and extracted) and a batch of
    DVS-size event frames ``[T, 3, 2, 128, 128]`` mixing binary and non-binary samples:
    A (0/1 events), B (A with one pixel counting 3 events, as after a busy pixel) and C
    (event counts 0..3 everywhere)."""
    space = SearchSpace.builtin("spikformer-cifar10-dvs")
    cfg = space.smallest()
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    net.set_config(cfg)
    g = torch.Generator().manual_seed(4)
    shape = (cfg.time_steps, 1, space.in_channels, space.image_size, space.image_size)
    a = (torch.rand(shape, generator=g) < 0.1).float()
    b = a.clone()
    b[0, 0, 0, 64, 64] = 3.0
    c = torch.poisson(torch.full(shape, 0.12), generator=g).clamp(max=3)
    frames = torch.cat([a, b, c], dim=1)
    excite(net, frames, seed=2)
    return net, net.extract(cfg).eval(), frames


@pytest.mark.parametrize("em", [EnergyCosts()] + MODELS, ids=lambda m: m.name)
def test_mixed_batch_of_event_frames_is_priced_per_sample_as_spikingjelly_alone(em):
    """Energy per inference = what each sample costs alone: a batch mixing binary and
    non-binary event frames is priced as spikingjelly's estimator prices its samples one
    at a time (batch 1), on the supernet and on the extracted model, with the meter's
    host-side and device-side (sync-free) decisions."""
    net, sub, frames = _dvs_mixed_batch()
    n = frames.shape[1]
    alone = [frames[:, i:i + 1] for i in range(n)]
    assert bool(((alone[0] == 0) | (alone[0] == 1)).all()) and alone[1].max() == alone[2].max() == 3
    if em.name == "sops":
        counts = [spikingjelly_counts(sub, x) for x in alone]          # batch 1 each
        prices = [em.energy_mj(m, a) for m, a in counts]
        ref = {"mac": em.e_mac_pj * np.mean([m for m, _ in counts]) / 1e9,
               "ac": em.e_ac_pj * np.mean([a for _, a in counts]) / 1e9}
        ref["total"] = ref["mac"] + ref["ac"]
        # spikingjelly on the whole batch decides binary-ness once for all samples: it
        # prices this batch differently, so a batch-wide rule cannot pass this test
        assert em.energy_mj(*spikingjelly_counts(sub, frames)) > 1.05 * ref["total"]
    else:
        prices = [spikingjelly_energy(sub, x, em, exclude_bookkeeping=True)["total"] for x in alone]
        ref = spikingjelly_energy(sub, frames, em, exclude_bookkeeping=True)   # one sample at a time
    assert ref["total"] == pytest.approx(np.mean(prices), rel=1e-12)
    assert max(prices) > 1.01 * min(prices), "the samples must cost differently alone"
    for model, label in ((net, "supernet"), (sub, "extracted")):
        for sync_free in (False, True):
            rep = measure_energy(model, frames, energy_model=em, sync_free=sync_free)
            got = dict(rep.components_mj, total=rep.energy_mj)
            assert set(got) == set(ref), label
            for k in ref:
                assert _rel(got[k], ref[k]) <= EXACT, (label, sync_free, k, got[k], ref[k])


def test_reports_split_components_by_layer_and_differ_between_models():
    net, x = _digits()
    sops, simple, lemaire = (measure_energy(net, x, energy_model=m) for m in ("sops", "simple", "lemaire"))
    assert (sops.energy_model, simple.energy_model, lemaire.energy_model) == ("sops", "simple", "lemaire")
    assert set(simple.components_mj) == {"mac", "ac", "parameter_memory", "neuron_state_memory"}
    assert set(lemaire.components_mj) == {"ops", "addressing", "inout", "params", "potential"}
    for rep in (simple, lemaire):
        kinds = {layer.kind for layer in rep.layers}
        assert {"conv2d", "conv1d", "linear", "neuron"} <= kinds
    assert {"batchnorm", "residual", "mean", "attention"} <= {layer.kind for layer in simple.layers}
    assert "attention" not in {layer.kind for layer in lemaire.layers}  # outside Lemaire's scope, as in spikingjelly
    # memory dominates both memory models on this net, and they are far above the synaptic-op estimate
    assert simple.components_mj["parameter_memory"] > simple.components_mj["mac"] + simple.components_mj["ac"]
    assert simple.energy_mj > 5 * sops.energy_mj
    # the simple model's compute counts are the synaptic ones plus BatchNorm, neuron updates, sums and means
    assert simple.macs > sops.macs and simple.acs > sops.acs


#: rows of the layer table that are one module of the model (the others are sums and means)
MODULE_KINDS = {"conv2d", "conv1d", "linear", "attention", "neuron", "batchnorm"}


@pytest.mark.parametrize("em", [EnergyCosts(), SimpleCosts()], ids=lambda m: m.name)
def test_layer_rows_are_what_spikingjelly_attributes_to_each_module(em):
    """The per-layer split against spikingjelly's own per-module counts (not a restatement
    of how our total is built): every row of a module carries, component by component,
    what spikingjelly charges inside that module; the rows of residual sums and readout
    means carry the rest of spikingjelly's total."""
    net, x = _digits()
    sub = net.extract(net.config).eval()
    theirs = spikingjelly_module_energy(sub, x, em)
    rep = measure_energy(sub, x, energy_model=em)
    keys = ("mac", "ac") if em.name == "sops" else tuple(rep.components_mj)
    rows = {layer.name: layer for layer in rep.layers}
    assert {layer.kind for layer in rep.layers} >= ({"conv2d", "conv1d", "linear", "attention"} if em.name == "sops"
                                                   else MODULE_KINDS | {"residual", "mean"})
    for name, layer in rows.items():
        if layer.kind not in MODULE_KINDS:
            continue
        got = {"mac": em.e_mac_pj * layer.macs / 1e9, "ac": em.e_ac_pj * layer.acs / 1e9} if em.name == "sops" \
            else layer.components_mj
        ref = theirs.get(name, {})
        for k in keys:
            assert got[k] == pytest.approx(ref.get(k, 0.0), rel=1e-9, abs=1e-15), (name, k)
        assert layer.energy_mj == pytest.approx(sum(ref.get(k, 0.0) for k in keys), rel=1e-9, abs=1e-15), name
    assert sum(layer.acs for layer in rep.layers if layer.kind not in ("linear", "neuron")) > 0
    # what no module row holds (residual sums, readout means) is the rest of spikingjelly's total
    total = spikingjelly_energy(sub, x, em, exclude_bookkeeping=True) if em.name == "simple" else theirs[""]
    for k in keys:
        in_modules = sum(theirs.get(name, {}).get(k, 0.0) for name, layer in rows.items() if layer.kind in MODULE_KINDS)
        rest = sum(layer.components_mj[k] for layer in rep.layers if layer.kind not in MODULE_KINDS)
        assert rest == pytest.approx(total[k] - in_modules, rel=1e-9, abs=1e-15), k
        assert rep.components_mj[k] == pytest.approx(total[k], rel=1e-9), k


def test_sops_default_is_unchanged():
    net, x = _digits()
    default = measure_energy(net, x)
    named = measure_energy(net, x, energy_model="sops")
    custom = measure_energy(net, x, EnergyCosts.fp16())
    assert default.energy_model == "sops" and default.layer_dicts() == named.layer_dicts()
    assert all("components_mj" not in d for d in default.layer_dicts())
    assert default.energy_mj == EnergyCosts().energy_mj(default.macs, default.acs)
    assert custom.energy_mj == pytest.approx(EnergyCosts.fp16().energy_mj(default.macs, default.acs))
    assert resolve_energy_model(None, EnergyCosts.int8()) == EnergyCosts.int8()
    assert resolve_energy_model("simple") == SimpleCosts() and resolve_energy_model(LemaireCosts()) == LemaireCosts()
    with pytest.raises(ValueError, match="unknown energy model"):
        resolve_energy_model("horowitz")


def test_sync_free_mode_gives_the_same_components():
    net, x = _digits()
    for em in MODELS:
        a = measure_energy(net, x, energy_model=em, sync_free=True)
        b = measure_energy(net, x, energy_model=em, sync_free=False)
        assert a.components_mj == pytest.approx(b.components_mj, rel=1e-12)
        assert [d["energy_mj"] for d in a.layer_dicts()] == pytest.approx([d["energy_mj"] for d in b.layer_dicts()])


def test_meter_hooks_removed_and_output_unchanged_under_every_model():
    net, x = _digits()
    with torch.no_grad():
        plain = net(x)
        for em in ("simple", "lemaire"):
            with EnergyMeter(net, energy_model=em):
                assert torch.equal(net(x), plain)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_costs_and_presets_match_spikingjelly():
    for ours, theirs in ((SimpleCosts(), SimpleEnergyCostConfig()), (SimpleCosts.fp16(), SimpleEnergyCostConfig.fp16()),
                         (SimpleCosts.int8(), SimpleEnergyCostConfig.int8())):
        assert ours.params() == dataclasses.asdict(theirs)
    sj, ours = LemaireEnergyCostConfig(), LemaireCosts()
    assert (ours.e_add_pj, ours.e_mul_pj) == (sj.e_add_pj, sj.e_mul_pj)
    assert ours.memory_breakpoints == sj.memory_breakpoints
    assert ours.fifo_capacity_elements == SJLemaireConfig().snn_fifo_capacity_elements
    for size in (0, 100, 8192, 20000, 32768, 5e5, 1 << 20, 1 << 22):
        assert ours.memory_cost_pj(size) == sj.memory_cost_pj(size)
    for bad in (dict(e_memory_pj_per_byte=-1.0), dict(e_ac_pj=float("nan"))):
        with pytest.raises(ValueError):
            SimpleCosts(**bad)
    with pytest.raises(ValueError):
        LemaireCosts(fifo_capacity_elements=0)
    with pytest.raises(ValueError):
        LemaireCosts(memory_breakpoints=((0, 0), (10, 1), (5, 2), (20, 3)))


def test_simple_model_refuses_neurons_it_cannot_count():
    model = nn.Sequential(nn.Linear(3, 4), neuron.IFNode())
    with pytest.raises(NotImplementedError, match="IFNode"):
        EnergyMeter(model, energy_model="simple")
    measure_energy(model, torch.rand(2, 3), energy_model="lemaire")  # in Lemaire's scope


def test_campaign_chooses_the_model_and_validates_its_costs():
    c = Campaign.from_dict({"fitness": {"energy": {"model": "simple", "simple": {"preset": "fp16"}}}})
    assert energy_model_from_config(c.fitness.energy) == SimpleCosts.fp16()
    c = Campaign.from_dict({"fitness": {"energy": {"model": "simple", "simple": {"preset": "int8", "e_ac_pj": 0.05,
                                                                                  "e_memory_pj_per_byte": 3.12}}}})
    assert energy_model_from_config(c.fitness.energy) == SimpleCosts(0.23, 0.05, 3.12)
    c = Campaign.from_dict({"fitness": {"energy": {"model": "lemaire", "lemaire": {"e_mul_pj": 2.0}}}})
    assert energy_model_from_config(c.fitness.energy) == LemaireCosts(e_mul_pj=2.0)
    default = Campaign.from_dict({})
    assert default.fitness.energy.model == "sops" and energy_model_from_config(default.fitness.energy) == EnergyCosts()
    # the names a campaign accepts are the names every command knows, with the same default costs
    assert typing.get_args(typing.get_type_hints(EnergyConfig)["model"]) == ENERGY_MODELS
    for name in ENERGY_MODELS:
        assert energy_model_from_config(EnergyConfig(model=name)) == resolve_energy_model(name)
    resolved = Campaign.from_dict(json.loads(json.dumps(c.to_dict())))  # every default written out round-trips
    assert resolved == c
    for bad, where in (({"model": "horowitz"}, "fitness.energy.model"),
                       ({"simple": {"e_memory_pj_per_byte": -1}}, "fitness.energy.simple.e_memory_pj_per_byte"),
                       ({"lemaire": {"e_add_pj": -0.1}}, "fitness.energy.lemaire.e_add_pj"),
                       ({"lemaire": {"fifo_capacity_elements": 0}}, "fitness.energy.lemaire.fifo_capacity_elements"),
                       ({"simple": {"preset": "fp64"}}, "fitness.energy.simple.preset")):
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            Campaign.from_dict({"fitness": {"energy": bad}})


@pytest.mark.slow
def test_evaluate_export_under_each_model(tiny_run, tmp_path, capsys):
    from autosnn.export import evaluate_export, export_subnet

    out = export_subnet(tiny_run, "aeb", out=tmp_path / "e")
    recorded = evaluate_export(out, "val")
    assert recorded["energy_model"] == "sops"
    got = {}
    for name in ("sops", "simple", "lemaire"):
        code, text, err = run_cli(["evaluate", str(out), "--energy-model", name, "--json"], capsys)
        assert code == 0, err
        got[name] = json.loads(text)
        assert got[name]["energy_model"] == name
        assert got[name]["accuracy"] == recorded["accuracy"]
    assert got["sops"]["energy_mj"] == pytest.approx(recorded["energy_mj"])
    assert got["simple"]["energy_mj"] > got["sops"]["energy_mj"]
    assert set(got["lemaire"]["energy_components_mj"]) == {"ops", "addressing", "inout", "params", "potential"}
    code, text, err = run_cli(["evaluate", str(out), "--energy-model", "simple"], capsys)
    assert code == 0 and "model    simple" in text


@pytest.mark.slow
def test_report_names_the_model_and_splits_the_pick_into_its_components(tiny_run, tmp_path):
    import shutil

    import pandas as pd

    from autosnn.report import write_reports
    from autosnn.report.summary import summarize
    from autosnn.report.table import render_table
    from autosnn.search_spaces import SubnetConfig
    from autosnn.supernet import Spikformer

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    campaign = Campaign.from_yaml(run / "campaign.yaml")
    energy = dataclasses.replace(campaign.fitness.energy, model="lemaire")
    campaign = dataclasses.replace(campaign, fitness=dataclasses.replace(campaign.fitness, energy=energy))
    (run / "campaign.yaml").write_text(campaign.to_yaml())
    s = summarize(run)
    cfg = SubnetConfig.from_json(s.row(s.pick)["config"])
    torch.manual_seed(0)
    rep = measure_energy(Spikformer(cfg).eval(), torch.randn(2, 1, 16, 16), energy_model="lemaire")
    df = pd.read_parquet(run / "evaluations.parquet")
    df.loc[df["id"] == s.pick, "layers"] = json.dumps(rep.layer_dicts())
    df.to_parquet(run / "evaluations.parquet", index=False)
    write_reports(run)
    text = (run / "report.html").read_text()
    assert "energy model: lemaire (spikingjelly estimate_lemaire_energy" in text
    assert "as if processed alone" in text
    for comp in ("ops mJ", "addressing mJ", "inout mJ", "params mJ", "potential mJ"):
        assert f"<th>{comp}</th>" in text
    assert "lemaire model" in render_table(summarize(run))


def test_select_keeps_the_branch_not_taken_out():
    from autosnn.fitness.energy_models import _select

    yes_flag, no_flag = torch.tensor(True), torch.tensor(False)
    for bad in (float("nan"), float("inf"), -float("inf"), torch.tensor(float("nan"))):
        assert _select(yes_flag, 2.5, bad).item() == 2.5
        assert _select(no_flag, bad, 3.0).item() == 3.0
    picked = _select(torch.tensor([True, False, True]), torch.tensor([1.0, float("inf"), 3.0]),
                     torch.tensor([float("nan"), 5.0, float("nan")]))
    assert picked.dtype == torch.float64 and picked.item() == 9.0  # the batch total: 1 + 5 + 3
    assert _select(torch.tensor([False, False]), float("inf"), 2.0).item() == 2.0  # a shared total, not taken
    assert _select(True, 1.0, float("nan")) == 1.0


@pytest.mark.slow
def test_tiny_run_is_priced_by_its_campaigns_energy_model(tmp_path, monkeypatch, data):
    import pandas as pd

    from conftest import build_tiny_run

    from autosnn.fitness import LocalEvaluator
    from autosnn.supernet import training

    made = {}

    def untrained(space, *args, **kwargs):  # the pricing is under test, not the training
        torch.manual_seed(0)
        made["net"] = SpikformerSupernet(space).eval()
        return made["net"]

    monkeypatch.setattr(training, "train_supernet", untrained)
    run = build_tiny_run(tmp_path / "run", energy_model="simple")
    assert Campaign.from_yaml(run / "campaign.yaml").fitness.energy.model == "simple"
    space = made["net"].space
    recorded = pd.read_parquet(run / "evaluations.parquet").set_index("id").loc[space.largest().id, "energy_mj"]
    simple, sops = (LocalEvaluator(made["net"], data, costs=c).evaluate([space.largest()])[0].energy_mj
                    for c in (SimpleCosts(), EnergyCosts()))
    assert recorded == pytest.approx(simple, rel=1e-9) and abs(simple / sops - 1) > 0.1
