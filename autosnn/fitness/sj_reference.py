"""spikingjelly 2.0's own operation counters, as the reference our energy model must match.

``SynOpCounter`` counts ACs (spike-driven weight accumulations of mm / addmm / bmm /
baddbmm / convolution); ``MACCounter`` counts MACs, and we drop its BatchNorm rule since
BatchNorm folds into the preceding weights at inference. Both run under
``DispatchCounterMode``, which intercepts every aten operation: far slower than
:class:`~autosnn.fitness.energy.EnergyMeter`, used by the tests and the benchmark only.
:func:`spikingjelly_energy` runs spikingjelly's ``simple`` and ``lemaire`` estimators
(their profilers) the same way, one sample at a time (autosnn's "per inference").
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["spikingjelly_counts", "spikingjelly_energy", "spikingjelly_module_energy", "excite"]

#: our component names -> the keys of spikingjelly's ``breakdown_pj``
_SIMPLE_KEYS = {"mac": "mac_pj", "ac": "ac_pj", "parameter_memory": "parameter_memory_pj",
                "neuron_state_memory": "neuron_state_memory_pj"}
_LEMAIRE_KEYS = {"ops": "ops_pj", "addressing": "addressing_pj", "inout": "inout_pj", "params": "params_pj",
                 "potential": "potential_pj"}


@torch.no_grad()
def spikingjelly_counts(model: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """``(macs, acs)`` per sample of ``model`` on the batch ``inputs`` (``[N, C, H, W]`` or
    ``[T, N, C, H, W]``) as counted by spikingjelly's ``MACCounter`` (no BatchNorm rule)
    and ``SynOpCounter``."""
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter

    syn, mac = SynOpCounter(), MACCounter()
    mac.rules.pop(torch.ops.aten.native_batch_norm.default, None)
    with DispatchCounterMode([syn, mac]):
        model(inputs)
    n = inputs.shape[1] if inputs.dim() == 5 else inputs.shape[0]
    return mac.get_total() / n, syn.get_total() / n


@torch.no_grad()
def spikingjelly_energy(model: nn.Module, inputs: torch.Tensor, energy_model: object, *,
                        exclude_bookkeeping: bool = False) -> dict[str, float]:
    """Energy components (mJ per inference) of ``model`` on the batch ``inputs`` by
    spikingjelly 2.0's own estimator for ``energy_model`` (a
    :class:`~autosnn.fitness.energy_models.SimpleCosts` or
    :class:`~autosnn.fitness.energy_models.LemaireCosts`), plus ``"total"``.

    Per inference as autosnn defines it: the estimator runs on one sample at a time
    (batch size 1), and the components are averaged over the samples. Lemaire runs
    non-strict (it refuses BatchNorm, pooling and the attention module otherwise, and
    omits their energy either way).

    ``exclude_bookkeeping``: spikingjelly 2.0's simple profiler sees the ``sum`` its own
    memory counter takes over a spike-occupancy map (one per spike-driven convolution:
    ``T x H' x W' x groups - 1`` "additions" per sample) and charges it as ACs. That is
    the profiler observing itself, not the network; with this flag it is taken out of
    ``ac`` (and ``total``). autosnn never counts it.
    """
    import warnings

    from spikingjelly.activation_based.op_counter import (LemaireEnergyConfig, LemaireEnergyCostConfig,
                                                          LemaireEnergyProfiler, SimpleEnergyConfig,
                                                          SimpleEnergyCostConfig, SimpleEnergyProfiler)

    frames = inputs.dim() == 5
    n = inputs.shape[1] if frames else inputs.shape[0]
    if energy_model.name == "simple":
        keys = _SIMPLE_KEYS
        cfg = SimpleEnergyConfig(cost_config=SimpleEnergyCostConfig(**energy_model.params()))
        make = lambda: SimpleEnergyProfiler(config=cfg)  # noqa: E731
    elif energy_model.name == "lemaire":
        keys = _LEMAIRE_KEYS
        p = energy_model.params()
        cost = LemaireEnergyCostConfig(e_add_pj=p["e_add_pj"], e_mul_pj=p["e_mul_pj"],
                                       memory_breakpoints=tuple(tuple(b) for b in p["memory_breakpoints"]))
        cfg = LemaireEnergyConfig(strict=False, cost_config=cost,
                                  snn_fifo_capacity_elements=p["fifo_capacity_elements"])
        make = lambda: LemaireEnergyProfiler(config=cfg)  # noqa: E731
    else:
        raise ValueError(f"no spikingjelly estimator for {energy_model!r}")
    out = {k: 0.0 for k in keys}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(n):
            prof = make()
            prof.bind_model(model)
            with prof:
                model(inputs[:, i:i + 1] if frames else inputs[i:i + 1])
            rep = prof.get_report()
            for ours, theirs in keys.items():
                out[ours] += rep.breakdown_pj[theirs] / 1e9 / n
            if exclude_bookkeeping and energy_model.name == "simple":
                own_sums = prof.ac_counter.get_counts().get("Global", {}).get(torch.ops.aten.sum.default, 0)
                out["ac"] -= own_sums * energy_model.e_ac_pj / 1e9 / n
    out["total"] = sum(out[k] for k in keys)
    return out


@torch.no_grad()
def spikingjelly_module_energy(model: nn.Module, inputs: torch.Tensor, energy_model: object) -> dict[str, dict[str, float]]:
    """What spikingjelly 2.0 attributes to each module of ``model``: energy components (mJ
    per inference, one sample at a time and averaged, as :func:`spikingjelly_energy`)
    keyed by the module's dotted name (``""``: the whole model).

    ``energy_model``: :class:`~autosnn.fitness.energy.EnergyCosts` (sops: ``mac``, ``ac``
    from ``MACCounter`` without its BatchNorm rule and ``SynOpCounter``) or
    :class:`~autosnn.fitness.energy_models.SimpleCosts` (``mac``, ``ac``,
    ``parameter_memory``, ``neuron_state_memory`` from ``SimpleEnergyProfiler``'s own
    counters). A module's scope holds everything run inside it, its children included
    (and, for ``simple``, the profiler's bookkeeping sums of its convolutions' parents)."""
    from spikingjelly.activation_based.op_counter import (DispatchCounterMode, MACCounter, SimpleEnergyConfig,
                                                          SimpleEnergyCostConfig, SimpleEnergyProfiler, SynOpCounter)

    frames = inputs.dim() == 5
    n = inputs.shape[1] if frames else inputs.shape[0]
    root = type(model).__name__
    out: dict[str, dict[str, float]] = {}

    def add(scope: str, key: str, value: float) -> None:
        if scope == "Global":
            return
        name = "" if scope == root else scope[len(root) + 1:]
        row = out.setdefault(name, {})
        row[key] = row.get(key, 0.0) + value / 1e9 / n

    for i in range(n):
        x = inputs[:, i:i + 1] if frames else inputs[i:i + 1]
        if energy_model.name == "sops":
            syn, mac = SynOpCounter(), MACCounter()
            mac.rules.pop(torch.ops.aten.native_batch_norm.default, None)
            with DispatchCounterMode([syn, mac]):
                model(x)
            priced = ((mac, "mac", energy_model.e_mac_pj), (syn, "ac", energy_model.e_ac_pj))
        elif energy_model.name == "simple":
            prof = SimpleEnergyProfiler(config=SimpleEnergyConfig(
                cost_config=SimpleEnergyCostConfig(**energy_model.params())))
            prof.bind_model(model)
            with prof:
                model(x)
            priced = ((prof.mac_counter, "mac", energy_model.e_mac_pj), (prof.ac_counter, "ac", energy_model.e_ac_pj))
            per_byte = energy_model.e_memory_pj_per_byte
            for scope, c in prof.memory_counter.get_counts().items():
                add(scope, "parameter_memory", per_byte * (c.get("weight_read_bytes", 0) + c.get("bias_read_bytes", 0)))
                add(scope, "neuron_state_memory",
                    per_byte * (c.get("neuron_state_read_bytes", 0) + c.get("neuron_state_write_bytes", 0)))
        else:
            raise ValueError(f"no per-module spikingjelly counts for {energy_model!r}")
        for counter, key, pj in priced:
            for scope, ops in counter.get_counts().items():
                add(scope, key, pj * sum(ops.values()))
    return out


@torch.no_grad()
def excite(model: nn.Module, inputs: torch.Tensor, seed: int = 0) -> None:
    """Give every BatchNorm statistics and affine parameters under which the neurons fire
    (at initialisation, in eval mode, almost nothing spikes, which proves nothing).

    Running statistics become those of one forward of ``inputs`` (batch statistics,
    layer by layer); weights are drawn from U(0.5, 2) and biases from N(0.2, 0.5), seeded.
    The model is left in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0
    model.train()
    model(inputs)
    model.eval()
    g = torch.Generator().manual_seed(seed)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
        n = m.num_features
        m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
        m.bias.copy_(torch.randn(n, generator=g) * 0.5 + 0.2)
