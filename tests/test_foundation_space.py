import json
import numpy as np
import pytest

from autosnn import SearchSpace, SubnetConfig
from autosnn.errors import ConfigError


@pytest.fixture(params=SearchSpace.builtin_names())
def space(request):
    return SearchSpace.builtin(request.param)


def test_builtins_are_the_eight_named():
    assert SearchSpace.builtin_names() == ["digits-bench", "digits-mixer", "digits-tiny", "spikformer-cifar10", "spikformer-cifar10-dvs",
                                           "spikformer-cifar10-mixer", "spikformer-cifar100",
                                           "spikformer-dvs128-gesture"]


@pytest.mark.parametrize("name, classes", [("spikformer-cifar10-dvs", 10), ("spikformer-dvs128-gesture", 11)])
def test_event_spaces_are_around_spikformers_dvs_model(name, classes):
    s = SearchSpace.builtin(name)
    assert (s.image_size, s.in_channels, s.patch_size, s.num_classes) == (128, 2, 16, classes)
    assert s.choices["time_steps"] == (8, 12, 16)
    largest = s.largest()
    assert (largest.depth, largest.embed_dim, largest.time_steps) == (2, 256, 16)


def test_cifar_space_matches_auto_spikformer():
    s = SearchSpace.builtin("spikformer-cifar10")
    assert s.choices["depth"] == (2, 3, 4)
    assert s.choices["embed_dim"] == (192, 240, 336, 384)
    assert s.choices["num_heads"] == (6, 12)
    assert s.choices["mlp_ratio"] == (3.0, 3.5, 4.0)
    assert s.choices["v_threshold"] == (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
    assert s.choices["tau"] == (1.25, 2.0, 10.0)
    assert s.choices["time_steps"] == (2, 3, 4, 5, 6)
    assert (s.image_size, s.in_channels, s.patch_size, s.num_classes) == (32, 3, 4, 10)
    assert SearchSpace.builtin("spikformer-cifar100").num_classes == 100


def test_size_counts_distinct_subnets_by_enumeration():
    s = SearchSpace.from_dict({
        "name": "t", "fixed": {"in_channels": 1, "image_size": 8, "num_classes": 3, "patch_size": 1},
        "dimensions": {"depth": [1, 2], "embed_dim": [8, 24], "time_steps": [2], "num_heads": [2, 3],
                       "mlp_ratio": [1.0], "v_threshold": [1.0], "tau": [2.0]}})
    # embed 8: heads {2}; embed 24: heads {2, 3} -> (1 + 1) + (2 + 4) = 8
    assert s.size() == 8
    rng = np.random.default_rng(0)
    seen = {s.sample(rng) for _ in range(500)}
    assert len(seen) == 8


def test_digits_tiny_is_a_real_search_problem():
    """Pinned: 3 widths x 3 T x (144 + 144^2) blocks, 144 = 2 heads x 3 ratios x 8
    thresholds x 3 taus per block (every width takes both head counts)."""
    space = SearchSpace.builtin("digits-tiny")
    per_block = 2 * 3 * 8 * 3
    assert 3 * 3 * (per_block + per_block ** 2) == 187_920
    assert space.size() == 187_920


def test_config_is_frozen_hashable_and_json_round_trips(space):
    rng = np.random.default_rng(3)
    for _ in range(50):
        cfg = space.sample(rng)
        again = SubnetConfig.from_json(cfg.to_json())
        assert again == cfg and hash(again) == hash(cfg) and again.id == cfg.id
        assert json.loads(cfg.to_json())["depth"] == cfg.depth
    with pytest.raises(Exception):
        cfg.depth = 1  # frozen


def test_scalar_applies_to_every_block(space):
    d = max(space.choices["depth"])
    tau = space.choices["tau"][-1]
    cfg = space.config(depth=d, num_heads=space.choices["num_heads"][0], tau=tau)
    assert cfg.num_heads == (space.choices["num_heads"][0],) * d
    assert cfg.tau == (tau,) * d


def test_genome_round_trip_and_canonical_inactive_genes(space):
    rng = np.random.default_rng(0)
    for _ in range(200):
        cfg = space.sample(rng)
        g = space.encode(cfg)
        assert g.shape == (space.n_genes,)
        assert space.decode(g) == cfg
        # perturbing inactive genes decodes to the same subnet, canonical form equal
        noisy = g.copy()
        start = space.block_start(cfg.depth)
        noisy[start:] = rng.integers(0, space.n_choices[start:])
        assert space.decode(noisy) == cfg
        assert np.array_equal(space.canonical(noisy), g)


def test_largest_and_smallest(space):
    big, small = space.largest(), space.smallest()
    assert big.depth == max(space.choices["depth"]) and big.embed_dim == max(space.choices["embed_dim"])
    assert small.depth == min(space.choices["depth"]) and small.time_steps == min(space.choices["time_steps"])


@pytest.mark.parametrize("kwargs, field", [
    ({"embed_dim": 100}, "embed_dim"),
    ({"depth": 7}, "depth"),
    ({"mlp_ratio": 5.0}, "mlp_ratio"),
    ({"v_threshold": 0.7}, "v_threshold"),
    ({"depth": 2, "num_heads": [6, 12, 6]}, "num_heads"),
    ({"embed_dim": 240, "num_heads": 12, "tau": [2.0]}, "tau"),
    ({"time_steps": 9}, "time_steps"),
])
def test_values_outside_the_space_name_the_field(kwargs, field):
    s = SearchSpace.builtin("spikformer-cifar10")
    with pytest.raises(ValueError) as err:
        s.config(**kwargs)
    assert str(err.value).startswith(field)
    assert "allowed" in str(err.value) or "needs one value per block" in str(err.value)


def test_heads_must_divide_embed_dim():
    s = SearchSpace.from_dict({
        "name": "t", "fixed": {"in_channels": 1, "image_size": 8, "num_classes": 3, "patch_size": 1},
        "dimensions": {"depth": [1], "embed_dim": [8, 24], "time_steps": [2], "num_heads": [2, 3],
                       "mlp_ratio": [1.0], "v_threshold": [1.0], "tau": [2.0]}})
    with pytest.raises(ValueError, match="num_heads: block 0 has 3 heads, which does not divide embed_dim 8"):
        s.config(embed_dim=8, num_heads=3)
    g = s.encode(s.config(embed_dim=24, num_heads=3))
    g[1] = 0  # embed 8: 3 heads invalid -> repair picks 2
    assert s.decode(s.repair(g)).num_heads == (2,)


def test_space_yaml_errors_are_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfixed: {in_channels: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        SearchSpace.from_yaml(bad)
    bad.write_text("name: x\nfixed: {in_channels: 1, image_size: 8, num_classes: 2, patch_size: 1}\n"
                   "dimensions: {depth: [1], embed_dim: [8], time_steps: [2], num_heads: [2], mlp_ratio: [1.0],"
                   " v_threshold: [1.0], tau: [2.0], colour: [1]}\n")
    with pytest.raises(ConfigError, match="colour"):
        SearchSpace.from_yaml(bad)


def test_continuous_threshold_range():
    d = SearchSpace.builtin("digits-tiny").to_dict()
    d["dimensions"]["v_threshold"] = {"low": 0.5, "high": 2.0, "step": 0.05}
    s = SearchSpace.from_dict(d)
    assert s.continuous_threshold and len(s.choices["v_threshold"]) == 31
    assert s.config(v_threshold=1.35).v_threshold[0] == 1.35
