"""The energy model against spikingjelly 2.0's own counters, side by side."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based.op_counter import SimpleEnergyCostConfig

from conftest import excited_supernet

from autosnn.fitness import EnergyCosts, EnergyMeter, measure_energy
from autosnn.fitness.sj_reference import excite, spikingjelly_counts
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.layers import SpikeAttention


def _agree(ours: float, theirs: float) -> bool:
    """The counts are integers (per sample, over whole batches) summed exactly in float64:
    ours must equal spikingjelly's, not merely come close."""
    return ours == theirs


def _configs(space: SearchSpace, n_random: int, seed: int):
    rng = np.random.default_rng(seed)
    return [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(n_random)]


@pytest.mark.parametrize("space_name,batch,n_random", [
    ("digits-tiny", 8, 3),
    ("spikformer-cifar10", 1, 1),
    ("spikformer-cifar100", 1, 1),
])
def test_counts_match_spikingjelly_supernet_and_extracted(space_name, batch, n_random):
    space, net, x = excited_supernet(space_name, batch)
    for cfg in _configs(space, n_random, seed=3):
        if space_name != "digits-tiny" and cfg == space.largest():
            cfg = space.config(depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0, time_steps=2)  # keep CI fast
        net.set_config(cfg)
        ours = measure_energy(net, x)
        sj_macs, sj_acs = spikingjelly_counts(net, x)
        rates = np.array(list(ours.firing_rates.values()))
        assert 0.05 < rates.mean() < 0.7, f"{cfg.arch_string}: neurons must fire for the check to mean anything"
        assert ours.acs > 0.2 * ours.macs, "spike-driven layers must carry real weight in the total"
        assert _agree(ours.macs, sj_macs), (cfg, ours.macs, sj_macs)
        assert _agree(ours.acs, sj_acs), (cfg, ours.acs, sj_acs)

        sub = net.extract(cfg).eval()
        theirs = measure_energy(sub, x)
        sub_macs, sub_acs = spikingjelly_counts(sub, x)
        assert _agree(theirs.macs, sub_macs) and _agree(theirs.acs, sub_acs)
        assert [layer.to_dict() for layer in theirs.layers] == [layer.to_dict() for layer in ours.layers]


def _excited_digits_supernet() -> tuple[SpikformerSupernet, torch.Tensor]:
    """A digits-tiny supernet whose neurons fire on a batch of 4 random images."""
    torch.manual_seed(0)
    net = SpikformerSupernet(SearchSpace.builtin("digits-tiny")).eval()
    x = torch.randn(4, 1, 16, 16)
    excite(net, x)
    return net, x


def test_per_layer_rules_on_spikformer():
    """Which layers pay MACs: the image conv, every qkv / fc1 (residual sums) and the head."""
    net, x = _excited_digits_supernet()
    rep = measure_energy(net, x)
    mac_layers = {layer.name for layer in rep.layers if layer.macs > 0}
    assert mac_layers == {"patch_embed.stages.0.conv", "blocks.0.attn.qkv_conv", "blocks.0.mlp.fc1_conv",
                          "blocks.1.attn.qkv_conv", "blocks.1.mlp.fc1_conv", "head"}
    for layer in rep.layers:
        assert (layer.macs > 0) != (layer.acs > 0) or (layer.macs == layer.acs == 0)
        assert (layer.input_rate is None) == (not layer.binary)
    cfg = net.config
    head = next(layer for layer in rep.layers if layer.name == "head")
    assert head.macs == cfg.time_steps * cfg.embed_dim * cfg.num_classes
    first = rep.layers[0]
    assert first.macs == cfg.time_steps * (cfg.embed_dim // 8) * 9 * 16 * 16
    # a pointwise conv on spikes: ACs = spikes x output channels, i.e. rate x T x FLOPs
    fc2 = next(layer for layer in rep.layers if layer.name == "blocks.0.mlp.fc2_conv")
    hidden, tokens = cfg.hidden_dim(0), 16
    assert fc2.acs == pytest.approx(fc2.input_rate * cfg.time_steps * hidden * tokens * cfg.embed_dim)
    assert rep.energy_mj == pytest.approx((4.6 * rep.macs + 0.9 * rep.acs) * 1e-9)


@pytest.mark.parametrize("rate", [0.05, 0.4])
def test_attention_matches_spikingjelly_with_binary_and_integer_products(rate):
    """At low rates v @ k^T is itself 0/1 (both matmuls are spike x spike); at higher rates
    it holds counts and the second matmul costs nnz(q) x head_dim."""
    g = torch.Generator().manual_seed(0)
    q, k, v = ((torch.rand(2, 3, 2, 8, 8, generator=g) < rate).float() for _ in range(3))
    attn = SpikeAttention()
    a = v @ k.transpose(-2, -1)
    assert bool(((a == 0) | (a == 1)).all()) == (rate < 0.1)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attn

        def forward(self, x):
            return self.attn(*x)

    model = Wrap()
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter

    syn, mac = SynOpCounter(), MACCounter()
    with torch.no_grad(), DispatchCounterMode([syn, mac]):
        model((q, k, v))
    for sync_free in (False, True):
        with EnergyMeter(model, sync_free=sync_free) as meter:
            model((q, k, v))
        rep = meter.report(samples=1)
        assert rep.acs == syn.get_total() > 0 and rep.macs == mac.get_total() == 0


@pytest.mark.parametrize("kw", [dict(stride=1, padding=1), dict(stride=2, padding=1), dict(stride=1, padding=0),
                                dict(stride=2, padding=2, dilation=2), dict(stride=1, padding=1, groups=2)])
def test_strided_padded_grouped_conv_on_spikes(kw):
    conv = nn.Conv2d(4, 6, 3, bias=False, **kw)
    x = (torch.rand(3, 4, 9, 7, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    macs, acs = spikingjelly_counts(conv, x)
    for sync_free in (False, True):
        rep = measure_energy(conv, x, sync_free=sync_free)
        assert rep.macs == macs == 0
        assert rep.acs == acs
    dense = torch.randn(3, 4, 9, 7)
    macs, acs = spikingjelly_counts(conv, dense)
    rep = measure_energy(conv, dense)
    assert rep.macs == macs > 0 and rep.acs == acs == 0


def test_a_binary_residual_is_charged_acs():
    """Binary-ness is decided on the tensor itself (as spikingjelly does): a residual sum
    that happens to hold no 2 is a spike tensor."""
    lin = nn.Linear(5, 3, bias=False)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]]) + torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0]])
    rep = measure_energy(lin, x)
    assert rep.acs == 3 * 3 and rep.macs == 0
    rep = measure_energy(lin, x * 2)
    assert rep.acs == 0 and rep.macs == 5 * 3


def test_sync_free_mode_gives_the_same_table():
    net, x = _excited_digits_supernet()
    a = measure_energy(net, x, sync_free=True)
    b = measure_energy(net, x, sync_free=False)
    assert a.layer_dicts() == b.layer_dicts() and a.firing_rates == b.firing_rates


def test_meter_averages_over_batches_and_counts_samples():
    space = SearchSpace.builtin("digits-tiny")
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    xs = [torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(n)) for n in (3, 5)]
    excite(net, torch.cat(xs))
    parts = [measure_energy(net, x) for x in xs]
    both = measure_energy(net, xs)
    assert both.samples == 8
    assert both.acs == pytest.approx((3 * parts[0].acs + 5 * parts[1].acs) / 8)
    assert both.macs == pytest.approx(parts[0].macs)  # MACs do not depend on the data
    one = measure_energy(net, torch.cat(xs))
    assert one.acs == pytest.approx(both.acs) and one.firing_rates == pytest.approx(both.firing_rates)
    # frames [T, N, C, H, W]: the batch is dimension 1
    frames = torch.cat(xs).unsqueeze(0).expand(net.config.time_steps, -1, -1, -1, -1)
    assert measure_energy(net, frames).samples == 8


def test_hooks_are_removed_and_eval_forward_unchanged():
    space = SearchSpace.builtin("digits-tiny")
    torch.manual_seed(0)
    net = SpikformerSupernet(space).eval()
    x = torch.randn(2, 1, 16, 16)
    excite(net, x)
    with torch.no_grad():
        plain = net(x)
        with EnergyMeter(net) as meter:
            counted = net(x)
    assert torch.equal(plain, counted)
    assert meter.report().samples == 2
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_costs_presets_match_spikingjelly():
    for ours, theirs in ((EnergyCosts(), SimpleEnergyCostConfig.fp32()), (EnergyCosts.fp16(), SimpleEnergyCostConfig.fp16()),
                         (EnergyCosts.int8(), SimpleEnergyCostConfig.int8())):
        assert (ours.e_mac_pj, ours.e_ac_pj) == (theirs.e_mac_pj, theirs.e_ac_pj)
    assert EnergyCosts().energy_mj(1e9, 0) == pytest.approx(4.6)
    assert EnergyCosts().energy_mj(0, 1e9) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        EnergyCosts(e_mac_pj=-1.0)


def test_input_rate_counts_only_binary_batches_in_both_modes():
    lin = nn.Linear(4, 2, bias=False)
    spikes = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    dense = torch.full((1, 4), 3.0)
    rates = []
    for sync_free in (False, True):
        rep = measure_energy(lin, [spikes, dense], sync_free=sync_free)
        rates.append(rep.layers[0].input_rate)
    assert rates[0] == rates[1] == pytest.approx(0.25)


@pytest.mark.parametrize("energy_model", ["sops", "simple"])
def test_event_frames_at_several_time_steps_are_counted_per_sample(energy_model):
    """Event data loaded for every T of the space comes as ``{T: [T, N, C, H, W]}`` (the
    training-free scorer feeds it whole): the meter counts its N samples and prices the
    subnet's own T, exactly as the frames of that T alone."""
    space, net, x = excited_supernet("digits-tiny", 3)
    frames = {t: x.unsqueeze(0).expand(t, *x.shape).contiguous() for t in space.choices["time_steps"]}
    for cfg in (space.smallest(), space.largest()):
        net.set_config(cfg)
        several = measure_energy(net, [frames], energy_model=energy_model)
        alone = measure_energy(net, frames[cfg.time_steps], energy_model=energy_model)
        assert several.samples == alone.samples == 3
        assert several.energy_mj == alone.energy_mj > 0
