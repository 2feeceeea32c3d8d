"""Token-mixer search: SSA and QKFormer's Q-K attention, per block, against spikingjelly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional

from autosnn import SearchSpace, Spikformer, SpikformerSupernet
from autosnn.errors import ConfigError
from autosnn.fitness import measure_energy
from autosnn.fitness.sj_reference import spikingjelly_counts
from autosnn.supernet import subnet_num_parameters
from autosnn.supernet.elastic import qkv_rows
from autosnn.supernet.layers import PLAIN, make_mixer, set_neurons
from autosnn.supernet.reference import mixer_from_reference_state_dict, reference_mixer
from conftest import same_weights

MIXED = SearchSpace.builtin("digits-mixer")
TINY = SearchSpace.builtin("digits-tiny")
MIXERS = ("ssa", "qk_token", "qk_channel")


def _spikes_in(T: int, N: int, C: int, L: int, seed: int) -> torch.Tensor:
    """A block's input: the residual stream, non-binary ([T, N, C, L])."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, N, C, L, generator=g) < 0.4).float() + (torch.rand(T, N, C, L, generator=g) < 0.3).float()


def _run(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    functional.reset_net(layer)
    with torch.no_grad():
        return layer(x)


# ------------------------------------------------------------------ mixers vs spikingjelly
@pytest.mark.parametrize("mixer", MIXERS)
@pytest.mark.parametrize("dim, heads", [(32, 2), (48, 4), (64, 8)])
def test_mixer_equals_spikingjelly_layer_with_its_weights(firing, mixer, dim, heads):
    ref = firing(reference_mixer(mixer, dim, heads), seed=dim + heads)
    ours = make_mixer(PLAIN, dim, heads, mixer)
    ours.load_state_dict(mixer_from_reference_state_dict(ref.state_dict()))
    ours.eval()
    x = _spikes_in(2, 3, dim, 16, seed=dim)
    expected, got = _run(ref, x), _run(ours, x)
    assert 0.05 < expected.mean() < 0.8, "the mixer must fire for the comparison to mean anything"
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


#: (tau, v_threshold) of a block: spikingjelly's default, then non-default neurons of the spaces
NON_DEFAULT_NEURONS = [(2.0, 1.6), (10.0, 0.8), (1.25, 2.0)]


def _drive(model: torch.nn.Module, tau: float, v_threshold: float) -> torch.nn.Module:
    """Scale every BatchNorm's affine by ``tau * v_threshold / 2`` (1 at the defaults), so
    that slow or high-threshold neurons fire as much as default ones do."""
    k = tau * v_threshold / 2
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.mul_(k)
                m.bias.mul_(k)
    return model


def _with_weights_of(ours: torch.nn.Module, ref: torch.nn.Module) -> torch.nn.Module:
    ours.load_state_dict(mixer_from_reference_state_dict(ref.state_dict()))
    return ours.eval()


@pytest.mark.parametrize("mixer", MIXERS)
@pytest.mark.parametrize("tau, v_threshold", NON_DEFAULT_NEURONS)
def test_mixer_equals_spikingjelly_layer_at_non_default_neurons(firing, mixer, tau, v_threshold):
    """At any tau and threshold our mixer is spikingjelly's layer built with them
    (``tau=``, ``v_threshold=`` reach every neuron) and its attention neuron set to half
    the threshold (our rule); spikingjelly's layer as it is (attention neuron at the full
    threshold) is a different function there, so the rule is what this pins."""
    ref = _drive(firing(reference_mixer(mixer, 48, 4, tau=tau, v_threshold=v_threshold), seed=11), tau, v_threshold)
    assert ref.attn_lif.v_threshold == v_threshold / 2 and ref.proj_lif.v_threshold == v_threshold
    assert {m.tau for m in ref.modules() if hasattr(m, "tau")} == {tau}
    ours = make_mixer(PLAIN, 48, 4, mixer)
    set_neurons(ours, tau, v_threshold)
    _with_weights_of(ours, ref)
    x = _spikes_in(4, 2, 48, 16, seed=5)
    expected, got = _run(ref, x), _run(ours, x)
    assert 0.1 < expected.mean() < 0.8, "the mixer must fire for the comparison to mean anything"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    as_is = reference_mixer(mixer, 48, 4)              # spikingjelly's own rule, with the same weights
    as_is.load_state_dict(ref.state_dict())
    for m in as_is.modules():
        if hasattr(m, "v_threshold"):
            m.tau, m.v_threshold = tau, v_threshold
    assert not torch.equal(_run(as_is.eval(), x), expected)


def test_default_neurons_are_spikingjellys_defaults():
    """At the block default (tau 2, threshold 1) the rule gives spikingjelly's own layer."""
    for mixer in MIXERS:
        ours, ref = make_mixer(PLAIN, 32, 4, mixer), reference_mixer(mixer, 32, 4)
        set_neurons(ours, 2.0, 1.0)
        lifs = lambda m: [(n, l.tau, l.v_threshold) for n, l in m.named_modules() if hasattr(l, "v_threshold")]  # noqa: E731
        theirs = [(n.replace("qk_lif", "qkv_lif") if mixer != "ssa" else n, t, v) for n, t, v in lifs(ref)]
        mine = [(n.replace("qk_lif", "qkv_lif") if mixer != "ssa" else n, t, v) for n, t, v in lifs(ours)]
        assert sorted(mine) == sorted(theirs) and ("attn_lif", 2.0, 0.5) in mine


def test_mixers_compute_different_functions(firing):
    """The three mixers with the same weights (the Q-K mixers' q|k projection is SSA's q and
    k rows, one output projection), so any difference in their outputs is the function's."""
    torch.manual_seed(0)
    ssa = firing(make_mixer(PLAIN, 32, 4, "ssa"), seed=3)
    shared = {(k.replace("qkv_", "qk_")): (v[:64] if k.startswith("qkv_") and v.dim() else v)
              for k, v in ssa.state_dict().items()}
    layers = {"ssa": ssa}
    for mixer in ("qk_token", "qk_channel"):
        layers[mixer] = make_mixer(PLAIN, 32, 4, mixer)
        layers[mixer].load_state_dict(shared)
        layers[mixer].eval()
    assert torch.equal(layers["qk_channel"].qk_conv.weight, ssa.qkv_conv.weight[:64])
    x = _spikes_in(2, 2, 32, 16, seed=1)
    outs = {mixer: _run(layer, x) for mixer, layer in layers.items()}
    for mixer, out in outs.items():
        assert 0.05 < out.mean() < 0.8, f"{mixer} must fire for the comparison to mean anything"
    for a, b in (("ssa", "qk_token"), ("ssa", "qk_channel"), ("qk_token", "qk_channel")):
        assert (outs[a] != outs[b]).float().mean() > 0.05, (a, b)


def _sliced_reference(attn, mixer: str, e: int, heads: int, E: int, tau: float = 2.0,
                      v_threshold: float = 1.0) -> torch.nn.Module:
    """spikingjelly's layer of width ``e`` holding the supernet's slices (rows 0:e, E:E+e
    [, 2E:2E+e] of the fused projection and its BatchNorm; the active proj BatchNorm),
    with its neurons at ``tau`` / ``v_threshold`` (attention neuron: half, our rule)."""
    default = (tau, v_threshold) == (2.0, 1.0)
    ref = (reference_mixer(mixer, e, heads) if default else reference_mixer(mixer, e, heads, tau, v_threshold)).eval()
    parts = 3 if mixer == "ssa" else 2
    rows = qkv_rows(e, E, parts)
    fused = ref.qkv_conv_bn if mixer == "ssa" else ref.qk_conv_bn
    proj_bn = attn.projection_bn()
    with torch.no_grad():
        fused[0].weight.copy_(attn.qkv_conv.weight[rows, :e])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(fused[1], name).copy_(getattr(attn.qkv_bn, name)[rows])
            getattr(ref.proj_conv_bn[1], name).copy_(getattr(proj_bn, name)[:e])
        ref.proj_conv_bn[0].weight.copy_(attn.proj_conv.weight[:e, :e])
    return ref


def _kaiming(model: torch.nn.Module) -> torch.nn.Module:
    """PyTorch's default conv initialisation (as spikingjelly's layers have), so that the
    attention neurons fire (Spikformer's std-0.02 init barely drives them)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5)
    return model


@pytest.mark.parametrize("mixer", MIXERS)
@pytest.mark.parametrize("embed, heads, tau, v_threshold", [(32, 2, 2.0, 1.0), (48, 4, 2.0, 1.0), (64, 4, 2.0, 1.0),
                                                            (48, 4, 1.25, 0.6), (64, 2, 10.0, 1.6)])
def test_supernet_mixer_sliced_below_largest_equals_spikingjelly(firing, mixer, embed, heads, tau, v_threshold):
    torch.manual_seed(0)
    sup = _drive(firing(_kaiming(SpikformerSupernet(MIXED)), seed=5), tau, v_threshold)
    sup.set_config(MIXED.config(depth=2, embed_dim=embed, num_heads=heads, attention=["ssa", mixer],
                                tau=[2.0, tau], v_threshold=[1.0, v_threshold]))
    attn = sup.blocks[1].attn
    ref = _sliced_reference(attn, mixer, embed, heads, MIXED.max_embed_dim, tau, v_threshold)
    x = _spikes_in(3, 2, embed, 16, seed=embed)
    expected, got = _run(ref, x), _run(attn, x)
    assert 0.05 < expected.mean() < 0.8
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_qk_mixers_share_q_k_rows_and_proj_conv_with_ssa():
    per = SpikformerSupernet(MIXED, per_mixer_bn=True)
    attn = per.blocks[0].attn
    names = {n for n, _ in attn.named_parameters()}
    # one fused projection and one proj conv for all mixers; at most the proj BatchNorm is per mixer
    assert {n for n in names if "conv" in n} == {"qkv_conv.weight", "proj_conv.weight"}
    assert set(attn.mixer_proj_bn) == {"qk_token", "qk_channel"}
    assert sum(p.numel() for p in per.parameters()) == subnet_num_parameters(MIXED.largest()) + 2 * 2 * 2 * 64
    tiny = SpikformerSupernet(TINY, per_mixer_bn=True)
    assert len(tiny.blocks[0].attn.mixer_proj_bn) == 0  # all-SSA spaces keep their weights
    assert sum(p.numel() for p in tiny.parameters()) == subnet_num_parameters(TINY.largest())
    default = SpikformerSupernet(MIXED)  # shared BatchNorm: the supernet is the largest subnet in size
    assert len(default.blocks[0].attn.mixer_proj_bn) == 0
    assert sum(p.numel() for p in default.parameters()) == subnet_num_parameters(MIXED.largest())


@pytest.mark.slow
def test_per_mixer_bn_round_trips_through_the_checkpoint_and_export(data, tmp_path):
    from autosnn.campaign import SupernetTrainingConfig
    from autosnn.supernet.training import load_supernet, train_supernet

    import dataclasses

    from autosnn.data.splits import subset

    few = dataclasses.replace(data, train=subset(data.train, np.arange(128)))  # two steps are enough here
    cfg = SupernetTrainingConfig(epochs=1, warmup_epochs=0, precision="fp32", lr=3e-3)
    ckpt = tmp_path / "supernet.pt"

    def train(per_mixer_bn):
        return train_supernet(MIXED, few, cfg, batch_size=64, seed=0, checkpoint=ckpt, device=torch.device("cpu"),
                              progress=False, log=lambda s: None, per_mixer_bn=per_mixer_bn)

    trained = train(True)
    loaded, _ = load_supernet(ckpt, MIXED)
    assert loaded.per_mixer_bn and len(loaded.blocks[0].attn.mixer_proj_bn) == 2
    assert same_weights(trained, loaded)
    assert train(None).per_mixer_bn  # resuming a finished checkpoint keeps its layout
    # the export path (load_supernet, then extract) computes what the trained supernet computes
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    config = MIXED.config(depth=2, embed_dim=64, attention=["qk_token", "qk_channel"])
    trained.set_config(config)
    with torch.no_grad():
        expected, got = trained(x), loaded.extract(config).eval()(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ standalone model and extract
@pytest.mark.parametrize("per_mixer_bn", [True, False])
def test_extract_equals_supernet_on_mixed_configs(firing, per_mixer_bn):
    torch.manual_seed(1)
    sup = firing(SpikformerSupernet(MIXED, per_mixer_bn=per_mixer_bn), seed=2)
    rng = np.random.default_rng(4)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    configs = [MIXED.config(depth=2, embed_dim=48, num_heads=4, attention=["qk_token", "ssa"]),
               MIXED.config(depth=2, embed_dim=64, attention=["qk_channel", "qk_token"])]
    configs += [MIXED.sample(rng) for _ in range(3)]
    for cfg in configs:
        sup.set_config(cfg)
        sub = sup.extract(cfg).eval()
        with torch.no_grad():
            a, b = sup(x), sub(x)
        assert a.std() > 0.05
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        assert sub.num_parameters() == subnet_num_parameters(cfg)


def test_qk_block_has_qk_rows_only_and_its_parameter_count():
    cfg = MIXED.config(depth=2, embed_dim=64, num_heads=4, mlp_ratio=4.0, attention=["qk_token", "ssa"])
    model = Spikformer(cfg)
    assert model.blocks[0].attn.qk_conv.weight.shape == (128, 64, 1)
    assert model.blocks[1].attn.qkv_conv.weight.shape == (192, 64, 1)
    ssa = Spikformer(MIXED.config(depth=2, embed_dim=64, num_heads=4, mlp_ratio=4.0, attention="ssa"))
    assert ssa.num_parameters() - model.num_parameters() == 64 * 64 + 2 * 64  # one V projection + its BN


# ------------------------------------------------------------------ energy vs spikingjelly's counters
def test_energy_of_mixed_subnets_equals_spikingjelly_counters(firing):
    torch.manual_seed(0)
    sup = firing(SpikformerSupernet(MIXED), seed=7)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(2)
    configs = [MIXED.config(depth=2, embed_dim=48, num_heads=4, attention=["qk_token", "ssa"]),
               MIXED.config(depth=2, embed_dim=64, attention=["qk_channel", "qk_channel"]),
               MIXED.smallest()] + [MIXED.sample(rng) for _ in range(2)]
    for cfg in configs:
        sup.set_config(cfg)
        ours = measure_energy(sup, x)
        macs, acs = spikingjelly_counts(sup, x)
        assert ours.acs > 0 and ours.macs > 0
        assert ours.macs == pytest.approx(macs, rel=1e-9, abs=1e-6), cfg
        assert ours.acs == pytest.approx(acs, rel=1e-9, abs=1e-6), cfg
        sub = sup.extract(cfg).eval()
        theirs = measure_energy(sub, x)
        sub_macs, sub_acs = spikingjelly_counts(sub, x)
        assert (theirs.macs, theirs.acs) == pytest.approx((sub_macs, sub_acs), rel=1e-9, abs=1e-6)
        assert (theirs.macs, theirs.acs) == pytest.approx((ours.macs, ours.acs), rel=1e-9, abs=1e-6)


def test_qk_block_costs_its_qk_and_proj_projections_only(firing):
    torch.manual_seed(0)
    sup = firing(SpikformerSupernet(MIXED), seed=7)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    cfg = MIXED.config(depth=1, embed_dim=48, num_heads=4, time_steps=2, attention="qk_token")
    sup.set_config(cfg)
    rep = measure_energy(sup, x)
    block = {layer.name: layer for layer in rep.layers if layer.name.startswith("blocks.0.attn.")}
    assert set(block) == {"blocks.0.attn.qkv_conv", "blocks.0.attn.proj_conv"}  # no attention matmul
    L = (16 // 4) ** 2
    assert block["blocks.0.attn.qkv_conv"].macs == cfg.time_steps * L * (2 * 48) * 48  # q, k rows: 2e x e
    sup.set_config(MIXED.config(depth=1, embed_dim=48, num_heads=4, time_steps=2, attention="ssa"))
    rep_ssa = measure_energy(sup, x)
    qkv = next(layer for layer in rep_ssa.layers if layer.name == "blocks.0.attn.qkv_conv")
    assert qkv.macs == 1.5 * block["blocks.0.attn.qkv_conv"].macs
    assert any(layer.kind == "attention" for layer in rep_ssa.layers)


# ------------------------------------------------------------------ space, genome, config
def test_spaces_without_attention_are_unchanged():
    assert TINY.size() == 187_920 and TINY.n_genes == 11 and not TINY.has_attention
    assert TINY.mixers == ("ssa",)
    # ids of all-SSA configs are those from before the field existed (digits-tiny's extremes)
    assert (TINY.largest().id, TINY.smallest().id) == ("91da088467", "b4efcbfa27")
    assert "attention" not in TINY.largest().to_json()
    assert "attention" not in TINY.to_dict()["dimensions"]
    assert TINY.config(attention="ssa") == TINY.largest()
    with pytest.raises(ConfigError, match="attention: 'qk_token' is not in space 'digits-tiny'"):
        TINY.config(attention="qk_token")


def test_mixer_space_size_genome_and_round_trip():
    cifar = SearchSpace.builtin("spikformer-cifar10")
    cifar_mixer = SearchSpace.builtin("spikformer-cifar10-mixer")
    assert cifar_mixer.mixers == MIXERS
    # every depth-d subnet has 3**d mixer choices
    c = cifar.choices
    per_block = {e: len(cifar.heads_for(e)) * 3 * 8 * 3 for e in c["embed_dim"]}
    assert cifar_mixer.size() == len(c["time_steps"]) * sum((per_block[e] * 3) ** d for e in c["embed_dim"]
                                                            for d in c["depth"])
    assert MIXED.size() == sum(
        len(TINY.heads_for(e)) ** d * 3 ** d * 3 ** d * 8 ** d * 3 ** d for e in (32, 48, 64) for d in (1, 2)) * 3
    assert MIXED.n_genes == 3 + 5 * 2
    assert MIXED.gene_names[3:8] == ["block0.num_heads", "block0.mlp_ratio", "block0.v_threshold", "block0.tau",
                                     "block0.attention"]
    cfg = MIXED.config(depth=2, embed_dim=48, num_heads=[2, 4], attention=["qk_channel", "ssa"])
    assert cfg.attention == ("qk_channel", "ssa") and "a[c,s]" in cfg.arch_string
    assert type(cfg).from_json(cfg.to_json()) == cfg and hash(type(cfg).from_json(cfg.to_json())) == hash(cfg)
    assert cfg.id != MIXED.config(depth=2, embed_dim=48, num_heads=[2, 4], attention="ssa").id
    g = MIXED.encode(cfg)
    assert list(g[MIXED.genes_of("attention")]) == [2, 0]
    assert MIXED.decode(g) == cfg
    short = MIXED.config(depth=1, attention="qk_token")
    assert list(MIXED.encode(short)[MIXED.genes_of("attention")]) == [1, 0]  # inactive block: canonical 0
    assert MIXED.largest().attention == ("ssa", "ssa") and MIXED.smallest().attention == ("qk_token",)


def test_mixer_values_are_validated():
    with pytest.raises(ConfigError, match="attention: 'softmax' is not in space"):
        MIXED.config(attention="softmax")
    with pytest.raises(ConfigError, match="attention: needs one value per block"):
        MIXED.config(depth=2, attention=["ssa"])
    d = TINY.to_dict()
    d["dimensions"]["attention"] = ["ssa", "linear"]
    with pytest.raises(ConfigError, match="dimensions.attention holds 'linear'"):
        SearchSpace.from_dict(d)
    d["dimensions"]["attention"] = ["qk_channel", "qk_token"]
    only_qk = SearchSpace.from_dict(d)
    assert only_qk.mixers == ("qk_token", "qk_channel")  # canonical order
    assert only_qk.largest().attention == ("qk_token", "qk_token")
    with pytest.raises(ValueError, match="attention: block 0 has 'x'"):
        type(TINY.largest())(**{**TINY.largest().to_dict(), "num_heads": (4, 4), "mlp_ratio": (4.0, 4.0),
                                "v_threshold": (1.0, 1.0), "tau": (2.0, 2.0), "attention": ("x", "ssa")})


def test_sampling_draws_mixers_only_where_declared():
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    tiny = [TINY.sample(rng_a) for _ in range(20)]
    assert all(c.all_ssa for c in tiny)
    mixed = [MIXED.sample(rng_b) for _ in range(60)]
    assert {a for c in mixed for a in c.attention} == set(MIXERS)


def test_arch_operators_vary_the_mixer_genes_and_esnn_does_not():
    from autosnn.search.operators import ArchCrossover, ArchMutation, ESNNMutation, SpaceRepair

    rng = np.random.default_rng(0)
    X = np.stack([MIXED.encode(MIXED.config(depth=2, attention="ssa")) for _ in range(200)])
    genes = MIXED.genes_of("attention")
    Y = ArchMutation(MIXED)._do(None, X, random_state=rng)
    changed = (Y[:, genes] != X[:, genes]).mean()
    assert 0.1 < changed < 0.3  # per-block prob 0.2, times 2/3 that the redraw differs
    Z = ESNNMutation(MIXED)._do(None, X, random_state=rng)
    assert np.array_equal(Z[:, genes], X[:, genes])
    a = MIXED.encode(MIXED.config(depth=2, attention="qk_token"))
    b = MIXED.encode(MIXED.config(depth=2, attention="qk_channel"))
    kids = ArchCrossover(MIXED, prob=1.0)._do(None, np.stack([np.stack([a] * 50), np.stack([b] * 50)]),
                                              random_state=rng)
    mixes = {tuple(k[genes]) for k in kids[0]}
    assert {(1, 2), (2, 1)} <= mixes  # blocks swapped independently
    bad = a.copy()
    bad[genes] = 9
    repaired = SpaceRepair(MIXED)._do(None, bad[None])[0]
    assert list(repaired[genes]) == [2, 2]


def test_space_command_shows_the_mixer_dimension(capsys):
    from autosnn.cli import main

    assert main(["space", "digits-mixer"]) == 0
    out = capsys.readouterr().out
    assert "attention    ['ssa', 'qk_token', 'qk_channel']  per block" in out
    assert f"{MIXED.size():,} distinct subnets" in out
    assert main(["spaces"]) == 0
    assert "spikformer-cifar10-mixer" in capsys.readouterr().out


def test_training_free_macs_drop_v_and_matmuls_of_qk_blocks():
    from autosnn.fitness.flops import ann_macs

    ssa = MIXED.config(depth=2, embed_dim=64, num_heads=4, time_steps=2, attention="ssa")
    mixed = MIXED.config(depth=2, embed_dim=64, num_heads=4, time_steps=2, attention=["qk_channel", "ssa"])
    L, e, d = 16, 64, 16
    assert ann_macs(ssa) - ann_macs(mixed) == 2 * (e * e * L + 2 * e * d * L)


@pytest.mark.slow
def test_mixer_campaign_runs_end_to_end_with_mixer_labels(tmp_path, capsys):
    import json

    import pandas as pd

    from autosnn.cli import main
    from autosnn.search_spaces.subnet_config import SubnetConfig

    cfg = tmp_path / "mixer.yaml"
    cfg.write_text("name: mixer\nseed: 0\nspace: digits-mixer\ndata: {name: digits, batch_size: 64}\n"
                   "supernet: {epochs: 1}\nfitness: {max_val_batches: 1}\nsearch: {population: 4, generations: 2}\n")
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    evaluated = [SubnetConfig.from_json(c) for c in pd.read_parquet(out / "evaluations.parquet")["config"]]
    assert any(not c.all_ssa for c in evaluated) and len({c.attention for c in evaluated}) > 2
    front = [SubnetConfig.from_json(c) for c in pd.read_csv(out / "pareto.csv")["config"]]
    assert main(["pareto", str(out)]) == 0
    table = capsys.readouterr().out
    for c in front:
        assert (c.arch_string in table) and (c.all_ssa or c.attention_string in table)
    export = next(p for p in (out / "exports").iterdir() if p.is_dir())
    exported = SubnetConfig.from_dict(json.loads((export / "config.json").read_text())["config"])
    assert exported.id == export.name
    assert main(["evaluate", str(export), "--split", "val"]) == 0
