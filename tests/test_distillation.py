"""In-place distillation in supernet training (BigNAS): the largest subnet learns from the
labels, every other subnet of the step from the largest's detached soft predictions."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import kill_after_first_checkpoint, same_weights

from autosnn import SearchSpace
from autosnn.campaign import Campaign, SupernetTrainingConfig
from autosnn.errors import ConfigError
from torch.utils.data import Subset
from autosnn.supernet import SpikformerSupernet
from autosnn.supernet.distillation import distillation_loss
from autosnn.supernet.training import Trainer, subnets_for_step, train_supernet

SPACE = SearchSpace.builtin("digits-tiny")
CPU = torch.device("cpu")


def _batch(data, n=24):
    x, y = next(iter(data.loader("train", n, shuffle=True, seed=3)))
    return x, y


def _step(net, cfg, configs, x, y, distill):
    trainer = Trainer(net, cfg, steps_per_epoch=10, device=CPU)
    trainer.step(x, y, [lambda c=c: net.set_config(c) for c in configs], distill=distill)
    return trainer.last_losses, {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


def test_distillation_changes_only_the_students_loss_and_the_teacher_is_detached(data):
    torch.manual_seed(0)
    base = SpikformerSupernet(SPACE)
    cfg = SupernetTrainingConfig(lr=1e-3, grad_clip=1e9, distillation_temperature=2.0)
    configs = subnets_for_step(SPACE, "sandwich", np.random.default_rng(0), sandwich_random=1, distillation="inplace")
    assert configs[0] == SPACE.largest() and configs[1] == SPACE.smallest() and len(configs) == 3
    x, y = _batch(data)

    plain, _ = _step(copy.deepcopy(base), cfg, configs, x, y, distill=False)
    distilled, grads = _step(copy.deepcopy(base), cfg, configs, x, y, distill=True)
    assert distilled[0] == plain[0]                       # the largest still sees the labels
    assert all(abs(d - p) > 1e-3 for d, p in zip(distilled[1:], plain[1:]))

    # by hand: CE(largest, labels) + sum of KL(student || largest.detach()) at T = 2
    net = copy.deepcopy(base).train()
    ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    net.set_config(configs[0])
    teacher = net(x)
    losses = [ce(teacher, y)]
    for c in configs[1:]:
        net.set_config(c)
        losses.append(distillation_loss(net(x), teacher.detach(), 2.0))
    assert distilled == pytest.approx([float(v.detach()) for v in losses], rel=1e-5)
    sum(losses).backward()
    expected = {k: p.grad for k, p in net.named_parameters() if p.grad is not None}
    assert expected.keys() == grads.keys()
    assert all(torch.allclose(grads[k], expected[k], rtol=1e-4, atol=1e-7) for k in grads)

    # had the teacher NOT been detached, the students' losses would push gradient into
    # the largest subnet's own path too: the gradients would differ
    net2 = copy.deepcopy(base).train()
    net2.set_config(configs[0])
    t2 = net2(x)
    attached = ce(t2, y)
    for c in configs[1:]:
        net2.set_config(c)
        s = torch.log_softmax(net2(x) / 2.0, 1)
        attached = attached + 4.0 * torch.nn.functional.kl_div(s, torch.log_softmax(t2 / 2.0, 1), reduction="batchmean",
                                                                log_target=True)
    attached.backward()
    assert any(not torch.allclose(grads[k], p.grad, rtol=1e-4, atol=1e-7)
               for k, p in net2.named_parameters() if p.grad is not None)


def test_distillation_loss_is_zero_for_the_teacher_itself_and_positive_otherwise():
    t = torch.randn(5, 10)
    assert distillation_loss(t, t, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(torch.randn(5, 10), t, 1.0).item() > 0.01


def test_inplace_with_uniform_sampling_adds_the_teacher_and_draws_match_across_ranks():
    a = subnets_for_step(SPACE, "uniform", np.random.default_rng(7), distillation="inplace")
    b = subnets_for_step(SPACE, "uniform", np.random.default_rng(7), distillation="none")
    assert a[0] == SPACE.largest() and a[1:] == b and len(b) == 1
    # every torchrun rank seeds the same generator: the same subnets, step after step
    r1, r2 = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(5):
        assert subnets_for_step(SPACE, "sandwich", r1, sandwich_random=3) == \
            subnets_for_step(SPACE, "sandwich", r2, sandwich_random=3)
    assert len(subnets_for_step(SPACE, "sandwich", r1, sandwich_random=0)) == 2


@pytest.fixture(scope="module")
def few(data):
    """96 training images: 3 steps of 32 per epoch."""
    return dataclasses.replace(data, train=Subset(data.train, list(range(96))))


def _train(data, ckpt, epochs=2, distillation="inplace"):
    cfg = SupernetTrainingConfig(epochs=epochs, lr=2e-3, warmup_epochs=1, sampling="sandwich", sandwich_random=1,
                                 distillation=distillation, distillation_temperature=1.5)
    return train_supernet(SPACE, data, cfg, batch_size=32, seed=0, checkpoint=ckpt, device=CPU, progress=False,
                          log=lambda s: None)



def test_resumed_distilled_training_is_bit_identical(few, tmp_path, monkeypatch):
    straight = _train(few, tmp_path / "a.pt")
    kill_after_first_checkpoint(lambda: _train(few, tmp_path / "b.pt"), tmp_path / "b.pt", monkeypatch)
    assert same_weights(straight, _train(few, tmp_path / "b.pt"))
    # and distillation really changed the weights (vs the same recipe without it)
    assert not same_weights(straight, _train(few, None, distillation="none"))


@pytest.mark.parametrize("section, message", [
    ({"distillation": "teacher"}, "supernet.distillation must be one of ['none', 'inplace']"),
    ({"distillation_temperature": 0}, "supernet.distillation_temperature must be a finite number > 0, got 0"),
    ({"sandwich_random": -1}, "supernet.sandwich_random must be an integer >= 0, got -1"),
    ({"sandwich_random": 1.5}, "supernet.sandwich_random must be an integer"),
])
def test_bad_distillation_settings_name_the_field(section, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Campaign.from_dict({"supernet": section})
    ok = Campaign.from_dict({"supernet": {"distillation": "inplace", "sandwich_random": 0}}).supernet
    assert ok.distillation == "inplace" and ok.distillation_temperature == 1.0
