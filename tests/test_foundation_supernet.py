import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, neuron

from autosnn import SearchSpace, Spikformer, SpikformerSupernet
from autosnn.supernet import subnet_num_parameters
from autosnn.supernet.reference import from_reference_state_dict, reference_spikformer

CIFAR = SearchSpace.builtin("spikformer-cifar10")


@pytest.mark.parametrize("depth, embed, heads, expected", [
    (4, 384, 12, 9_310_906), (2, 384, 12, 5_758_138), (4, 256, 8, 4_145_962)])
def test_parameter_counts_equal_spikingjelly(depth, embed, heads, expected):
    from autosnn import SubnetConfig
    cfg = SubnetConfig(depth=depth, embed_dim=embed, num_heads=(heads,) * depth, mlp_ratio=(4.0,) * depth,
                       v_threshold=(1.0,) * depth, tau=(2.0,) * depth, time_steps=4)
    ref = reference_spikformer(cfg)
    assert sum(p.numel() for p in ref.parameters()) == expected
    assert Spikformer(cfg).num_parameters() == expected
    assert subnet_num_parameters(cfg) == expected


def test_supernet_of_cifar_space_is_the_largest_subnet_in_parameters():
    sup = SpikformerSupernet(CIFAR)
    assert sum(p.numel() for p in sup.parameters()) == 9_310_906
    assert sup.extract(CIFAR.config(depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0)).num_parameters() == 9_310_906


@pytest.mark.parametrize("depth, embed, heads", [(2, 384, 12), (2, 192, 6)])
def test_same_logits_as_spikingjelly_with_its_weights(firing, depth, embed, heads):
    cfg = CIFAR.config(depth=depth, embed_dim=embed, num_heads=heads, mlp_ratio=4.0, time_steps=2)
    ref = firing(reference_spikformer(cfg))
    ours = Spikformer(cfg)
    ours.load_state_dict(from_reference_state_dict(ref.state_dict()))
    ours.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ref(x).mean(0)
        functional.reset_net(ref)
        got = ours(x)
    assert expected.std() > 0.1  # the network really computes something
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _spiking_supernet(space, firing, seed=1):
    torch.manual_seed(seed)
    return firing(SpikformerSupernet(space), seed)


@pytest.mark.parametrize("name", ["digits-tiny", "spikformer-cifar10"])
def test_extract_equals_supernet_on_random_configs(firing, name):
    space = SearchSpace.builtin(name)
    sup = _spiking_supernet(space, firing)
    rng = np.random.default_rng(0)
    x = torch.randn(2, space.in_channels, space.image_size, space.image_size)
    for _ in range(3 if name == "digits-tiny" else 2):
        cfg = space.sample(rng)
        sup.set_config(cfg)
        with torch.no_grad():
            a = sup(x)
            b = sup.extract(cfg)(x)
        assert a.shape == (2, space.num_classes)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_every_dimension_changes_the_computation(firing):
    space = SearchSpace.builtin("digits-tiny")
    sup = _spiking_supernet(space, firing)
    x = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    base = dict(depth=2, embed_dim=48, num_heads=[2, 4], mlp_ratio=[3.0, 3.0], v_threshold=[1.0, 1.0],
                tau=[2.0, 2.0], time_steps=3)
    def run(**change):
        sup.set_config(space.config(**{**base, **change}))
        with torch.no_grad():
            return sup(x)
    ref = run()
    for change in [dict(depth=1, num_heads=[2], mlp_ratio=[3.0], v_threshold=[1.0], tau=[2.0]),
                   dict(embed_dim=64), dict(num_heads=[4, 4]), dict(num_heads=[2, 2]), dict(mlp_ratio=[3.0, 4.0]),
                   dict(v_threshold=[1.0, 1.4]), dict(tau=[1.25, 2.0]), dict(time_steps=4)]:
        assert not torch.allclose(run(**change), ref), change


def test_neuron_parameters_follow_the_config():
    space = SearchSpace.builtin("digits-tiny")
    cfg = space.config(depth=2, v_threshold=[0.6, 1.4], tau=[10.0, 1.25])
    model = Spikformer(cfg)
    for b, block in enumerate(model.blocks):
        for name, lif in block.named_modules():
            if isinstance(lif, neuron.LIFNode):
                assert lif.tau == cfg.tau[b]
                expected = cfg.v_threshold[b] / 2 if name == "attn.attn_lif" else cfg.v_threshold[b]
                assert lif.v_threshold == pytest.approx(expected)
    # the default threshold gives Spikformer's 0.5 at the attention output
    assert Spikformer(space.config()).blocks[0].attn.attn_lif.v_threshold == 0.5


def test_event_frames_input_uses_their_own_time_steps(firing):
    """``[T, N, C, H, W]`` frames run for their own T, frame by frame: four copies of an
    image at a T=2 config give exactly the T=4 config's output on the image, and the
    last frame (beyond the config's T) changes the output."""
    space = SearchSpace.builtin("digits-tiny")
    sup = _spiking_supernet(space, firing)
    images = torch.rand(3, 1, 16, 16) * 2
    with torch.no_grad():
        sup.set_config(space.config(time_steps=4))
        want = sup(images)
        sup.set_config(space.config(time_steps=2))
        at_t2 = sup(images)
        repeated = sup(images.unsqueeze(0).repeat(4, 1, 1, 1, 1))
        frames = images.unsqueeze(0).repeat(4, 1, 1, 1, 1)
        frames[3] = torch.rand(3, 1, 16, 16) * 2
        last_changed = sup(frames)
    assert repeated.shape == (3, 10)
    assert not torch.allclose(want, at_t2)  # T matters for this net, so the next line can fail
    torch.testing.assert_close(repeated, want, rtol=1e-5, atol=1e-6)
    assert (last_changed - repeated).abs().max() > 1e-4
    with pytest.raises(ValueError, match="expected"):
        sup(torch.rand(3, 16, 16))


def test_set_config_rejects_configs_of_another_space():
    sup = SpikformerSupernet(SearchSpace.builtin("digits-tiny"))
    with pytest.raises(ValueError):
        sup.set_config(CIFAR.largest())
