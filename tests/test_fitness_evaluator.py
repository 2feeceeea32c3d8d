"""LocalEvaluator: one pass gives accuracy and energy; deterministic; failures are results."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import autosnn.distributed
from autosnn.campaign import Campaign
from autosnn.fitness import (EnergyCosts, EvalResult, LocalEvaluator, TrainingFreeEvaluator,
                             default_target_mj, measure_energy)
from autosnn.pipeline import build_evaluator
from autosnn.fitness.sj_reference import excite
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.training import accuracy


@pytest.fixture
def supernet(space, data):
    torch.manual_seed(0)
    net = SpikformerSupernet(space)
    x, _ = next(iter(data.loader("train", 64)))
    excite(net, x, seed=1)
    return net


def _configs(space, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [space.smallest()] + [space.sample(rng) for _ in range(n - 1)]


def test_one_pass_gives_accuracy_and_energy(space, data, supernet):
    ev = LocalEvaluator(supernet, data, batch_size=128, max_val_batches=2)
    cfgs = _configs(space)
    results = ev.evaluate(cfgs)
    assert [r.config for r in results] == cfgs
    for cfg, r in zip(cfgs, results):
        assert r.ok and r.status == "ok" and r.score is None and r.objective() == r.accuracy
        supernet.set_config(cfg)
        val = data.loader("val", 128)
        assert r.accuracy == pytest.approx(accuracy(supernet, val, torch.device("cpu"), max_batches=2))
        batches = [x for i, (x, _) in enumerate(val) if i < 2]
        supernet.eval()
        ref = measure_energy(supernet, batches)
        assert ref.samples == 256
        # the same counts from the same forward, exactly (not merely close)
        assert (r.macs, r.acs, r.energy_mj) == (ref.macs, ref.acs, ref.energy_mj) and r.energy_mj > 0
        assert r.params == supernet.num_parameters(cfg)
        assert set(r.firing_rates) == set(ref.firing_rates) and len(r.firing_rates) == 5 + 5 * cfg.depth
        assert all(0.0 <= v <= 1.0 for v in r.firing_rates.values()) and max(r.firing_rates.values()) > 0.05
        assert [d["name"] for d in r.layers] == [layer.name for layer in ref.layers]
        assert sum(d["energy_mj"] for d in r.layers) == pytest.approx(r.energy_mj)
        assert r.seconds > 0 and r.worker == "local"
        row = r.to_row()
        assert row["energy_mj"] == r.energy_mj and "layers" in row


def test_deterministic_and_leaves_supernet_untouched(space, data, supernet):
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    supernet.set_config(space.largest())
    supernet.train()
    ev = LocalEvaluator(supernet, data, batch_size=128, max_val_batches=1, bn_recalibration_batches=2)
    cfgs = _configs(space, n=2, seed=5)
    a = ev.evaluate(cfgs)
    b = ev.evaluate(list(reversed(cfgs)))[::-1]
    for x, y in zip(a, b):
        assert (x.accuracy, x.energy_mj, x.acs, x.firing_rates) == (y.accuracy, y.energy_mj, y.acs, y.firing_rates)
    after = supernet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # recalibrated statistics were restored
    assert supernet.config == space.largest() and supernet.training


def test_a_failing_candidate_becomes_a_failed_result(space, data, supernet):
    def out_of_memory(module, args, output):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = supernet.blocks[1].register_forward_hook(out_of_memory)  # only depth-2 subnets run block 1
    ev = LocalEvaluator(supernet, data, batch_size=256, max_val_batches=1)
    one = space.config(depth=1, embed_dim=32, num_heads=2, mlp_ratio=2.0, time_steps=2)
    two = space.config(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2.0, time_steps=2)
    r1, r2, r1_again = ev.evaluate([one, two, one])
    handle.remove()
    assert r1.ok and math.isfinite(r1.accuracy) and r1_again.accuracy == r1.accuracy
    assert r2.status == "failed" and r2.reason.startswith("out of memory") and math.isnan(r2.accuracy)
    assert math.isnan(r2.energy_mj) and r2.config == two
    other = SearchSpace.builtin("spikformer-cifar10").smallest()  # not a subnet of this space
    r3 = ev.evaluate([other])[0]
    assert r3.status == "failed" and "ConfigError" in r3.reason and r3.config == other
    with torch.no_grad():
        supernet.head.bias.fill_(float("nan"))
    r4 = ev.evaluate([one])[0]
    assert r4.status == "failed" and "non-finite" in r4.reason


def test_costs_scale_energy(space, data, supernet):
    cfg = [space.smallest()]
    base = LocalEvaluator(supernet, data, batch_size=256, max_val_batches=1).evaluate(cfg)[0]
    fp16 = LocalEvaluator(supernet, data, batch_size=256, max_val_batches=1, costs=EnergyCosts.fp16()).evaluate(cfg)[0]
    assert fp16.energy_mj == pytest.approx((1.5 * base.macs + 0.4 * base.acs) * 1e-9)
    assert base.energy_mj == pytest.approx((4.6 * base.macs + 0.9 * base.acs) * 1e-9)


def test_default_target_is_largest_subnet_energy(space, data, supernet):
    ev = LocalEvaluator(supernet, data, batch_size=256, max_val_batches=1)
    target = default_target_mj(ev, space)
    assert target == ev.evaluate([space.largest()])[0].energy_mj
    others = ev.evaluate(_configs(space, n=2, seed=2))
    assert all(r.energy_mj <= target * 1.5 for r in others)


def test_build_evaluator_picks_the_campaigns_kind(space, data, supernet, monkeypatch):
    camp = Campaign.from_dict({"fitness": {"bn_recalibration_batches": 3, "max_val_batches": 2,
                                           "energy": {"e_mac_pj": 1.0, "e_ac_pj": 0.5}},
                               "data": {"batch_size": 32}})
    ev = build_evaluator(camp, space, supernet, data, "cpu")
    assert isinstance(ev, LocalEvaluator)
    assert (ev.bn_recalibration_batches, ev.max_val_batches, ev.batch_size) == (3, 2, 32)
    assert ev.costs == EnergyCosts(1.0, 0.5)

    camp_tf = Campaign.from_dict({"fitness": {"mode": "training-free"}, "seed": 4})
    tf = build_evaluator(camp_tf, space, None, data, "cpu")
    assert isinstance(tf, TrainingFreeEvaluator) and tf.seed == 4

    made = {}

    class FakeRay:
        def __init__(self, *args):
            made["args"] = args

    monkeypatch.setattr(autosnn.distributed, "RayEvaluator", FakeRay, raising=False)
    camp_ray = Campaign.from_dict({"evaluator": {"kind": "ray", "workers": 2}})
    assert isinstance(build_evaluator(camp_ray, space, supernet, data, "cpu"), FakeRay)
    assert made["args"][0] is camp_ray and made["args"][2] is supernet


def test_failed_result_shape():
    cfg = SearchSpace.builtin("digits-tiny").smallest()
    r = EvalResult.failed(cfg, "boom")
    assert not r.ok and math.isnan(r.objective())


def test_recalibration_reestimates_the_sliced_statistics(space, data, supernet):
    """Inside the block the active slice holds exactly the statistics of what the layer saw
    on the recalibration batches (cumulative average of the batch means / unbiased
    variances); the fixture's statistics (from another batch) are gone, and come back on exit."""
    from autosnn.supernet.recalibrate import bn_recalibrated

    supernet.set_config(space.smallest())
    supernet.eval()
    bn = supernet.blocks[0].mlp.fc1_bn
    width = space.smallest().hidden_dim(0)
    before = bn.running_mean.clone(), bn.running_var.clone()
    seen: list[torch.Tensor] = []
    hook = bn.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    try:
        with bn_recalibrated(supernet, data.loader("train", 64, shuffle=True), 2, torch.device("cpu")):
            mean, var = bn.running_mean[:width].clone(), bn.running_var[:width].clone()
            untouched = bn.running_mean[width:].clone()
    finally:
        hook.remove()
    assert len(seen) == 2 and seen[0].shape[1] == width  # one call per batch, [T*N, C, L]
    want_mean = torch.stack([x.mean(dim=(0, 2)) for x in seen]).mean(0)
    want_var = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1, unbiased=True) for x in seen]).mean(0)
    torch.testing.assert_close(mean, want_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(var, want_var, rtol=1e-4, atol=1e-5)
    assert (mean - before[0][:width]).abs().max() > 1e-3  # the fixture's statistics were replaced
    assert torch.equal(untouched, torch.zeros_like(untouched))  # unused slices reset, not left stale
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])  # restored


def test_recalibrated_extract_reproduces_the_evaluator_even_with_augmentation(space, data, supernet):
    """The evaluator and an export recalibrate on the same batches (fixed shuffle and
    augmentation seed), whatever the global torch RNG holds."""
    from torch.utils.data import TensorDataset

    from autosnn.data.splits import DataSplits
    from autosnn.supernet.recalibrate import recalibrate_bn, recalibration_batches

    class Flip(TensorDataset):  # a random augmentation drawing from the global torch RNG
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return (x.flip(-1) if torch.rand(()) < 0.5 else x), y

    xs, ys = zip(*[data.train[i] for i in range(len(data.train))])
    augmented = DataSplits("digits", Flip(torch.stack(xs), torch.tensor(ys)), data.val, data.test, 10)
    cfg = _configs(space, 1, seed=5)[0]
    evaluator = LocalEvaluator(supernet, augmented, batch_size=64, bn_recalibration_batches=2)
    torch.manual_seed(123)
    first = evaluator.evaluate([cfg])[0]
    torch.manual_seed(456)
    again = evaluator.evaluate([cfg])[0]
    assert (first.accuracy, first.energy_mj) == (again.accuracy, again.energy_mj)
    model = supernet.extract(cfg)
    recalibrate_bn(model, recalibration_batches(augmented, 64, 2), 2, torch.device("cpu"))
    assert accuracy(model, data.loader("val", 64), torch.device("cpu")) == first.accuracy


def test_event_frames_evaluate_like_the_same_image_repeated(space, data, supernet):
    """Event-frame samples ``[T, C, H, W]`` are batched time-major and counted per sample."""
    from torch.utils.data import TensorDataset

    from autosnn.data.splits import DataSplits

    xs, ys = zip(*[data.val[i] for i in range(48)])
    x, y = torch.stack(xs), torch.tensor(ys)
    frames = TensorDataset(x.unsqueeze(1).repeat(1, 3, 1, 1, 1), y)  # [N, T=3, C, H, W] samples
    images = TensorDataset(x, y)
    cfg = space.config(depth=2, embed_dim=48, num_heads=4, mlp_ratio=3.0, time_steps=3)
    as_frames = LocalEvaluator(supernet, DataSplits("f", frames, frames, frames, 10), batch_size=16).evaluate([cfg])[0]
    as_images = LocalEvaluator(supernet, DataSplits("i", images, images, images, 10), batch_size=16).evaluate([cfg])[0]
    assert as_frames.ok, as_frames.reason
    assert as_frames.accuracy == as_images.accuracy
    assert (as_frames.macs, as_frames.acs, as_frames.energy_mj) == (as_images.macs, as_images.acs, as_images.energy_mj)


def test_printed_extremes_are_the_accuracies_the_search_uses(space, data, supernet, capsys):
    from autosnn.supernet.commands import print_extremes

    camp = Campaign.from_dict({"fitness": {"bn_recalibration_batches": 2}, "data": {"batch_size": 32}})
    print_extremes(supernet, space, data, "cpu", camp)
    printed = [float(line.split("validation accuracy ")[1].split()[0]) for line in capsys.readouterr().out.splitlines()]
    ev = LocalEvaluator(supernet, data, batch_size=32, bn_recalibration_batches=2)
    largest, smallest = ev.evaluate([space.largest(), space.smallest()])
    assert printed == [pytest.approx(largest.accuracy, abs=1e-4), pytest.approx(smallest.accuracy, abs=1e-4)]
    print_extremes(supernet, space, data, "cpu")  # no campaign: the stored statistics
    plain = [float(line.split("validation accuracy ")[1]) for line in capsys.readouterr().out.splitlines()]
    supernet.set_config(space.smallest())
    assert plain[1] == pytest.approx(accuracy(supernet, data.loader("val", 256), "cpu"), abs=1e-4)
    assert plain != printed  # recalibration moves them: the two calls printed different numbers
