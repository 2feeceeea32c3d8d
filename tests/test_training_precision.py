"""``supernet.precision``: bf16 autocast on the CPU (opt-in) trains and evaluates with the
neurons fed bf16; fp16 is refused on the CPU; the old ``amp`` key reads as its
equivalent; a non-finite loss skips the step under loss scaling (and stops training when
every step of an epoch had one) and stops it at once without, one line naming the epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron

from conftest import TINY_CAMPAIGN, excited_supernet, run_cli

from autosnn.campaign import Campaign, SupernetTrainingConfig
from autosnn.errors import ConfigError, TrainingDivergedError, UserError
from autosnn.fitness import EnergyCosts, LocalEvaluator
from autosnn.fitness.energy import EnergyMeter
from autosnn.fitness.energy_models import count_sum
from autosnn.supernet.training import Trainer

CPU = torch.device("cpu")


def _spike_dtypes(model: nn.Module) -> tuple[set[torch.dtype], list]:
    """Hooks recording the dtype of every LIF neuron's output."""
    seen: set[torch.dtype] = set()
    handles = [m.register_forward_hook(lambda mod, a, out: seen.add(out.dtype))
               for m in model.modules() if isinstance(m, neuron.LIFNode)]
    return seen, handles


# ----------------------------------------------------------------------------- bf16 on the CPU
def test_bf16_training_step_on_the_cpu(data):
    space, net, _ = excited_supernet("digits-tiny", 4)
    x, y = next(iter(data.loader("train", 32, shuffle=True, seed=1)))
    losses, dtypes, moved = {}, {}, {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = type(net)(space)
        model.load_state_dict(net.state_dict())
        model.train()
        seen, handles = _spike_dtypes(model)
        trainer = Trainer(model, SupernetTrainingConfig(precision=precision, warmup_epochs=0), 4, CPU)
        before = {k: p.detach().clone() for k, p in model.named_parameters()}
        losses[precision] = trainer.step(x, y, [lambda: model.set_config(space.largest())])
        for h in handles:
            h.remove()
        dtypes[precision] = seen
        assert all(p.dtype == torch.float32 for p in model.parameters())          # master weights stay fp32
        moved[precision] = sum(not torch.equal(before[k], p) for k, p in model.named_parameters())
    assert dtypes == {"fp32": {torch.float32}, "bf16": {torch.bfloat16}}        # the neurons were fed bf16
    assert math.isfinite(losses["bf16"]) and moved["bf16"] == moved["fp32"] > 10
    assert losses["bf16"] != losses["fp32"] and abs(losses["bf16"] - losses["fp32"]) < 0.05 * losses["fp32"]


def test_bf16_evaluation_on_the_cpu_counts_spikes_exactly(data):
    space, net, _ = excited_supernet("digits-tiny", 64)
    configs = [space.largest(), space.smallest()]
    results, dtypes = {}, {}
    for precision in ("fp32", "bf16"):
        seen, handles = _spike_dtypes(net)
        evaluator = LocalEvaluator(net, data, costs=EnergyCosts(), batch_size=64, device=CPU, max_val_batches=2,
                                   bn_recalibration_batches=1, precision=precision)
        results[precision] = evaluator.evaluate(configs)
        for h in handles:
            h.remove()
        dtypes[precision] = seen
    assert dtypes == {"fp32": {torch.float32}, "bf16": {torch.bfloat16}}
    for a, b in zip(results["fp32"], results["bf16"]):
        assert a.status == b.status == "ok"
        assert abs(a.accuracy - b.accuracy) <= 0.05
        assert a.acs > 0 and abs(b.acs - a.acs) <= 0.05 * a.acs                 # same forward, a few spikes moved
        assert b.macs == a.macs                                               # MACs depend on shapes only
    assert any(a.acs != b.acs for a, b in zip(results["fp32"], results["bf16"]))   # bf16 did run


def test_counts_of_bf16_spikes_are_exact():
    # 1001 spikes: a bf16 sum rounds it (bf16 holds integers exactly up to 256 only)
    x = torch.zeros(7, 1000, dtype=torch.bfloat16)
    x.view(-1)[:1001] = 1
    assert x.sum().item() != 1001 and count_sum(x).item() == 1001
    lin = nn.Linear(1000, 3, bias=False)
    with EnergyMeter(lin) as meter, torch.autocast("cpu", dtype=torch.bfloat16):
        lin(x)
    assert meter.report(samples=1).acs == 1001 * 3


# ----------------------------------------------------------------------------- fp16 and the settings
def test_fp16_is_refused_on_the_cpu_with_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="supernet.precision: fp16 needs a CUDA device"):
        Trainer(nn.Linear(2, 2), SupernetTrainingConfig(precision="fp16"), 1, CPU)
    config = tmp_path / "c.yaml"
    config.write_text(TINY_CAMPAIGN.replace("supernet: {epochs: 1}", "supernet: {epochs: 1, precision: fp16}"))
    code, _, err = run_cli(["run", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "supernet.precision: fp16" in err
    assert not (tmp_path / "run").exists()


def test_the_old_amp_key_reads_as_its_precision(capsys):
    assert Campaign.from_dict({"supernet": {"amp": True}}).supernet.precision == "auto"
    assert Campaign.from_dict({"supernet": {"amp": False}}).supernet.precision == "fp32"
    assert "supernet.amp: false is read as supernet.precision: fp32" in capsys.readouterr().err
    assert "amp" not in Campaign.from_dict({"supernet": {"amp": True}}).to_dict()["supernet"]
    with pytest.raises(ConfigError, match="give supernet.precision only"):
        Campaign.from_dict({"supernet": {"amp": True, "precision": "bf16"}})
    with pytest.raises(ConfigError, match=r"supernet.precision must be one of \['auto', 'fp32', 'bf16', 'fp16'\]"):
        Campaign.from_dict({"supernet": {"precision": "fp8"}})


# ----------------------------------------------------------------------------- non-finite losses
class _Poisoned(nn.Module):
    """A linear classifier whose loss is NaN on the batches whose first input is NaN."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def _batches(poisoned: list[bool]):
    g = torch.Generator().manual_seed(0)
    out = []
    for bad in poisoned:
        x = torch.randn(8, 4, generator=g)
        if bad:
            x[0, 0] = float("nan")
        out.append((x, torch.randint(0, 3, (8,), generator=g)))
    return out


def _scaled_trainer(steps: int) -> Trainer:
    """A trainer with loss scaling on: what fp16 on CUDA gets (the CPU GradScaler runs the
    same unscale / skip / back-off logic)."""
    model = _Poisoned()
    trainer = Trainer(model, SupernetTrainingConfig(warmup_epochs=0, epochs=3, precision="fp32"), steps, CPU)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    return trainer


def test_under_loss_scaling_a_non_finite_loss_skips_its_step():
    trainer = _scaled_trainer(3)
    weights = [trainer.model.fc.weight.detach().clone()]
    losses = []
    for x, y in _batches([False, True, False]):
        losses.append(trainer.step(x, y))
        weights.append(trainer.model.fc.weight.detach().clone())
    assert math.isnan(losses[1])                                   # no error: the scaler's business
    assert not torch.equal(weights[0], weights[1])                # a good step trains
    assert torch.equal(weights[1], weights[2])                    # the NaN step was skipped
    assert not torch.equal(weights[2], weights[3]) and torch.isfinite(weights[3]).all()
    assert trainer.skipped_steps == 1 and trainer.nonfinite_steps == 1
    assert trainer.scaler.get_scale() == 2.0 ** 9                  # backed off once
    # an epoch with one bad step goes on; its loss is the mean of the finite ones
    trainer = _scaled_trainer(3)
    loss = trainer.epoch(_batches([False, True, False]), "epoch 1", progress=False)
    assert trainer.skipped_steps == trainer.nonfinite_steps == 1
    assert loss == pytest.approx(np.mean([losses[0], losses[2]]), rel=1e-6)


def test_under_loss_scaling_an_epoch_of_non_finite_losses_stops_training_naming_it():
    trainer = _scaled_trainer(2)
    trainer.epoch(_batches([False, True]), "epoch 1", progress=False)
    with pytest.raises(TrainingDivergedError, match=r"^training stopped in epoch 2: all 2 steps had a non-finite loss"):
        trainer.epoch(_batches([True, True]), "epoch 2", progress=False)


def test_without_loss_scaling_a_non_finite_loss_stops_training_naming_the_epoch():
    model = _Poisoned()
    trainer = Trainer(model, SupernetTrainingConfig(warmup_epochs=0, epochs=3, precision="fp32"), 2, CPU)
    trainer.epoch(_batches([False, False]), "epoch 1", progress=False)
    with pytest.raises(TrainingDivergedError) as info:
        trainer.epoch(_batches([False, True]), "epoch 2", progress=False)
    message = str(info.value)
    assert isinstance(info.value, UserError) and info.value.exit_code == 2 and "\n" not in message
    assert message.startswith("training stopped in epoch 2: the loss became nan (supernet.precision: fp32)")
