"""The field's energy models beyond synaptic operations, counted by the accuracy pass's hooks.

Three models price one forward pass (``fitness.energy.model`` in a campaign,
``energy_model=`` in :func:`~autosnn.fitness.energy.measure_energy`):

``sops`` (:class:`~autosnn.fitness.energy.EnergyCosts`, the default)
    ``E_MAC * MACs + E_AC * ACs`` over the synaptic operations (docs/energy-models.md).
``simple`` (:class:`SimpleCosts`)
    spikingjelly 2.0's ``op_counter.estimate_simple_energy``: compute
    ``E_MAC * MAC + E_AC * AC`` with spikingjelly's *hardware* counters (``MACCounter``
    and ``ACCounter`` with their BatchNorm rules, the additions inside every neuron
    update, residual additions and the readout means) plus memory traffic
    ``e_memory_pj_per_byte * bytes`` (one weight read per weight use, bias reads,
    one read and one write of every neuron state per time step). Components:
    ``mac``, ``ac``, ``parameter_memory``, ``neuron_state_memory``.
``lemaire`` (:class:`LemaireCosts`)
    spikingjelly 2.0's ``op_counter.estimate_lemaire_energy`` (Lemaire et al. 2022, 45 nm):
    operations, addressing and SRAM accesses of Conv / Linear layers and IF / LIF
    neurons, each access priced by the size of the buffer it hits. Components:
    ``ops``, ``addressing``, ``inout``, ``params``, ``potential``. Its scope is
    spikingjelly's: BatchNorm, pooling, residual additions and the attention matmuls
    ``(v @ k^T) @ q`` are outside it and cost nothing under this model.

**Per inference** (every model, everywhere in autosnn): the energy of one sample over
all T time steps, *as if processed alone* (batch size 1). Every count is the batch
total divided by the number of samples: both memory models charge a weight read per
weight use, never once per batch, so nothing is shared between the samples of a batch.
Where a cost depends on the batch, namely Lemaire's buffer sizes (membrane potentials
and dense inputs scale with the batch, and the price of a byte grows with its buffer),
buffers are sized for one sample. Whether a layer's input is binary (spikes) is decided
for each sample on its own slice, as spikingjelly's counters decide it when they see that
sample alone, so a sample's energy does not depend on what else is in its batch (see
:mod:`autosnn.fitness.energy`).

Equality with spikingjelly: on our Spikformers (supernet and extracted) every component
equals spikingjelly's estimator run on the extracted model, one sample at a time, within
rounding (tests/test_fitness_energy_models.py). Three things are ours, by necessity:

* on the supernet, counts use the *active* slices (spikingjelly's estimators read
  ``module.weight`` and would see the largest weights: its ``simple`` counter fails on
  the supernet and its ``lemaire`` one prices the full parameter buffers);
* spikingjelly's dispatch counters see the neuron update and BatchNorm as aten ops on the
  CPU reference path (``sub``/``add``/``rsub``, ``native_batch_norm``); on CUDA its fused
  kernels hide them. We count them as on the CPU path on every device, so a subnet's
  energy does not depend on where it was measured;
* ``simple``'s per-neuron additions are those of spikingjelly's multi-step ``LIFNode``
  (3 for the charge, 1 for the threshold, 2 for a hard reset or 1 for a soft one), with
  its add rule (two binary operands cost their spikes, not one add per element) applied
  where it bites on Spikformers (hard reset to 0, as every Spikformer neuron has; a soft
  reset gets no such correction): while a sample's potential is all zeros (from t = 0 on,
  as long as every non-zero input turned into a spike), a step where every non-zero input
  spiked costs one add less per element (the reset sum is 0 + 0), and a step whose input
  is all zeros (a silent attention product) three less. Inputs that are binary but not
  all zero (never the case for BatchNorm outputs or products scaled by 1/8) are not
  special-cased. Other neuron types are refused under ``simple`` rather than guessed;
* spikingjelly 2.0's simple profiler also charges, as ACs, the ``sum`` its own memory
  counter takes over a spike-occupancy map (``T x H' x W' x groups - 1`` per sample and
  spike-driven convolution): the profiler observing itself, not the network, so it is not
  counted here (about 0.1-0.3 % of the AC term on the digits spaces, less on CIFAR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Callable, ClassVar

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron

__all__ = ["SimpleCosts", "LemaireCosts", "ENERGY_MODELS", "PER_INFERENCE", "SimpleTally", "LemaireTally"]

#: the energy models a campaign may choose
ENERGY_MODELS = ("sops", "simple", "lemaire")

#: the "per inference" convention, as printed in reports
PER_INFERENCE = ("energy per inference = one sample over all T time steps, as if processed alone "
                 "(batch size 1): whether an input is spikes is decided per sample, counts are batch "
                 "totals / samples, weights are read per use (never shared by a batch), and "
                 "batch-dependent buffers (Lemaire) are sized for one sample")

_PJ_PER_MJ = 1e9


def _check_costs(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, Real) or not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v!r}")


@dataclass(frozen=True)
class SimpleCosts:
    """Costs of spikingjelly's ``simple`` model (``SimpleEnergyCostConfig``), in pJ.

    Default and :meth:`fp32`: Horowitz 2014, 45 nm FP32 (E_MAC 4.6, E_AC 0.9) and
    24.96 pJ per byte of memory traffic (3.12 pJ/bit, after STEP); :meth:`fp16`,
    :meth:`int8`: spikingjelly's presets of the same names.
    """

    name: ClassVar[str] = "simple"
    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9
    e_memory_pj_per_byte: float = 24.96

    def __post_init__(self) -> None:
        _check_costs(self, ("e_mac_pj", "e_ac_pj", "e_memory_pj_per_byte"))

    @classmethod
    def fp32(cls) -> "SimpleCosts":
        return cls(4.6, 0.9, 24.96)

    @classmethod
    def fp16(cls) -> "SimpleCosts":
        """FMult16 1.1 + FAdd16 0.4: E_MAC 1.5 pJ, E_AC 0.4 pJ."""
        return cls(1.5, 0.4, 24.96)

    @classmethod
    def int8(cls) -> "SimpleCosts":
        """Mult8 0.2 + Add8 0.03: E_MAC 0.23 pJ, E_AC 0.03 pJ."""
        return cls(0.23, 0.03, 24.96)

    @classmethod
    def preset(cls, name: str) -> "SimpleCosts":
        presets = {"fp32": cls.fp32, "fp16": cls.fp16, "int8": cls.int8}
        if name not in presets:
            raise ValueError(f"unknown simple-energy preset {name!r}; choose one of {sorted(presets)}")
        return presets[name]()

    def params(self) -> dict[str, Any]:
        return {"e_mac_pj": self.e_mac_pj, "e_ac_pj": self.e_ac_pj, "e_memory_pj_per_byte": self.e_memory_pj_per_byte}

    def describe(self) -> str:
        return (f"simple (spikingjelly estimate_simple_energy): {self.e_mac_pj:g} pJ x MAC + {self.e_ac_pj:g} pJ x AC "
                f"+ {self.e_memory_pj_per_byte:g} pJ/byte x (weight, bias and neuron-state traffic)")


#: Lemaire et al.'s SRAM cost curve as spikingjelly gives it: (buffer bytes, pJ per byte)
LEMAIRE_MEMORY_BREAKPOINTS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (8.0 * 1024.0, 10.0 / 4.0), (32.0 * 1024.0, 20.0 / 4.0), (1024.0 * 1024.0, 100.0 / 4.0))


@dataclass(frozen=True)
class LemaireCosts:
    """Costs of spikingjelly's ``lemaire`` model (``LemaireEnergyCostConfig`` and the
    ``snn_fifo_capacity_elements`` of ``LemaireEnergyConfig``): 32-bit integer add and
    multiply at 45 nm, and a piecewise-linear cost per byte of an SRAM access as a
    function of the buffer's size (four ``(bytes, pJ per byte)`` breakpoints)."""

    name: ClassVar[str] = "lemaire"
    e_add_pj: float = 0.1
    e_mul_pj: float = 3.1
    memory_breakpoints: tuple[tuple[float, float], ...] = LEMAIRE_MEMORY_BREAKPOINTS
    fifo_capacity_elements: int = 1000

    def __post_init__(self) -> None:
        _check_costs(self, ("e_add_pj", "e_mul_pj"))
        pts = tuple(tuple(float(v) for v in p) for p in self.memory_breakpoints)
        if len(pts) != 4 or any(len(p) != 2 for p in pts):
            raise ValueError("memory_breakpoints must be 4 (bytes, pJ per byte) pairs")
        if any(not (math.isfinite(v) and v >= 0) for p in pts for v in p) or any(
                b[0] <= a[0] for a, b in zip(pts, pts[1:])):
            raise ValueError("memory_breakpoints must be finite, >= 0, with strictly increasing sizes")
        object.__setattr__(self, "memory_breakpoints", pts)
        if isinstance(self.fifo_capacity_elements, bool) or int(self.fifo_capacity_elements) <= 0:
            raise ValueError(f"fifo_capacity_elements must be > 0, got {self.fifo_capacity_elements!r}")

    def memory_cost_pj(self, capacity_bytes: float) -> float:
        """pJ per byte of an access to a buffer of ``capacity_bytes`` (spikingjelly's interpolation)."""
        p = self.memory_breakpoints
        m = max(p[0][0], min(capacity_bytes, p[3][0]))
        i = 0 if m <= p[1][0] else (1 if m <= p[2][0] else 2)
        (x0, y0), (x1, y1) = p[i], p[i + 1]
        return y0 + (y1 - y0) / (x1 - x0) * (m - x0)

    def params(self) -> dict[str, Any]:
        return {"e_add_pj": self.e_add_pj, "e_mul_pj": self.e_mul_pj,
                "memory_breakpoints": [list(p) for p in self.memory_breakpoints],
                "fifo_capacity_elements": int(self.fifo_capacity_elements)}

    def describe(self) -> str:
        return (f"lemaire (spikingjelly estimate_lemaire_energy, Lemaire et al. 2022): add {self.e_add_pj:g} pJ, "
                f"mul {self.e_mul_pj:g} pJ, SRAM {self.memory_breakpoints[1][1]:g} / {self.memory_breakpoints[2][1]:g}"
                f" / {self.memory_breakpoints[3][1]:g} pJ per byte at {self.memory_breakpoints[1][0]:g} / "
                f"{self.memory_breakpoints[2][0]:g} / {self.memory_breakpoints[3][0]:g} bytes, "
                f"spike FIFO {int(self.fifo_capacity_elements)} elements")


# ---------------------------------------------------------------- helpers
def count_sum(x: torch.Tensor, dim: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """``x.sum(dim)`` of spikes (or other counts), exact under autocast: a bf16 / fp16
    tensor is summed into float32 (its own dtype holds integers exactly only up to 256 /
    2048); any other dtype is summed as it is."""
    dtype = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else None
    return x.sum(dtype=dtype) if dim is None else x.sum(dim, dtype=dtype)


def _f64(v: Any) -> Any:
    return v.to(torch.float64) if torch.is_tensor(v) else float(v)


def _total(v: Any) -> Any:
    """The batch total of ``v``: a per-sample tensor ``[n]`` summed, a total as it is."""
    if torch.is_tensor(v) and v.dim() == 1:
        return v.sum(dtype=torch.float64)
    return _f64(v)


def _share(where: torch.Tensor, v: Any) -> Any:
    """Total of ``v`` over the samples ``where`` holds (``where``: bool ``[n]``): a per-sample
    ``[n]`` tensor is summed where it holds; a batch total is shared equally by the
    samples. Nothing of the other samples leaks in (no ``0 * inf``)."""
    if torch.is_tensor(v) and v.dim() == 1:
        return torch.where(where, v.to(torch.float64), 0.0).sum()
    frac = where.to(torch.float64).mean()
    return torch.where(frac > 0, frac * _f64(v), 0.0)


def _select(flag: Any, yes: Any, no: Any) -> Any:
    """Batch total of ``yes`` for the samples whose ``flag`` holds and ``no`` for the others,
    with no device synchronisation.

    ``flag``: a bool (every sample alike) or a bool tensor ``[n]`` (one flag per sample;
    ``[1]`` or 0-d: one flag for the whole batch). ``yes`` / ``no``: a per-sample tensor
    ``[n]`` or a batch total (float or 0-d tensor) that the samples share equally. The
    branch not taken never leaks into the result, even when it holds a NaN or an inf."""
    if isinstance(flag, bool):
        return _total(yes if flag else no)
    where = flag.reshape(-1).to(torch.bool)
    return _share(where, yes) + _share(~where, no)


def _time_steps(module: nn.Module, x: torch.Tensor) -> int:
    """spikingjelly's time steps of one call: ``x.shape[0]`` for a multi-step module, else 1."""
    return int(x.shape[0]) if getattr(module, "step_mode", "s") == "m" else 1


def _conv_geometry(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int, int, int]:
    """(active output channels per group, active fan-in per output, kernel taps, prod(ceil(k/s)))
    of a conv call (elastic layers: read from the call's shapes, not from the stored weight)."""
    g = module.groups
    ks = tuple(module.kernel_size)
    st = tuple(module.stride)
    taps = math.prod(ks)
    return y.shape[1] // g, x.shape[1] // g * taps, taps, math.prod(math.ceil(k / s) for k, s in zip(ks, st))


def _active_params(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Number of parameters an (elastic) conv / linear call uses."""
    if isinstance(module, nn.Linear):
        n = x.shape[-1] * y.shape[-1]
        out = y.shape[-1]
    else:
        cout_g, fan_in, _, _ = _conv_geometry(module, x, y)
        n = y.shape[1] * fan_in
        out = y.shape[1]
    return n + (out if module.bias is not None else 0)


def lif_update_adds(module: nn.Module) -> int:
    """Additions and subtractions spikingjelly's ``ACCounter`` sees per neuron per time step
    of a multi-step ``LIFNode`` (CPU reference path): ``v - v_reset``, ``x - (...)``,
    ``v + (...)`` to charge, ``h - v_threshold`` to fire, then ``1 - spike`` and a sum for
    a hard reset, or one subtraction for a soft reset (``v_reset=None``)."""
    if not isinstance(module, neuron.LIFNode):
        raise NotImplementedError(f"the simple energy model counts LIFNode updates only, not {type(module).__name__}")
    return 3 + 1 + (2 if module.v_reset is not None else 1)


class _Rows:
    """Per-row accumulators (batch totals; floats or 0-d tensors), in first-seen order."""

    def __init__(self, width: int, order: list[str]) -> None:
        self.width, self.order, self.rows, self.kinds = width, order, {}, {}

    def add(self, name: str, kind: str, values: dict[int, Any]) -> None:
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = [0.0] * self.width
            self.kinds[name] = kind
            if name not in self.order:
                self.order.append(name)
        for i, v in values.items():
            row[i] = row[i] + _f64(v)


# ---------------------------------------------------------------- simple
class SimpleTally:
    """Counts of spikingjelly's ``simple`` model, fed by :class:`~autosnn.fitness.energy.EnergyMeter`.

    Row values (batch totals): MAC, AC, parameter bytes, neuron-state bytes.
    """

    MAC, AC, PARAM, STATE = range(4)
    extra_hooks = True

    def __init__(self, costs: SimpleCosts, order: list[str], sync_free: bool = False) -> None:
        self.costs, self.sync_free = costs, sync_free
        self.rows = _Rows(4, order)

    def check(self, neurons: dict[str, nn.Module]) -> None:
        for m in neurons.values():
            lif_update_adds(m)

    def synaptic(self, name: str, kind: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 binary: Any, nnz: Any, macs: Any, acs: Any, batch: int) -> None:
        values = {self.MAC: macs, self.AC: acs}
        if kind != "attention":  # weight reads: one per weight use (= the MACs or the synaptic ACs)
            w = module.weight.element_size()
            bias = 0 if module.bias is None else y.numel() * module.bias.element_size()
            values[self.PARAM] = (_f64(macs) + _f64(acs)) * w + bias
        self.rows.add(name, kind, values)

    def neuron(self, name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor, nnz: Any, batch: int) -> None:
        state = sum(s.numel() * s.element_size() for s in module.memories() if torch.is_tensor(s))
        T = _time_steps(module, x)
        acs: Any = lif_update_adds(module) * y.numel()
        if module.v_reset == 0.0 and x.dim() >= 2 and x.numel():
            # spikingjelly's add rule prices two binary operands by their spikes: while a
            # sample's potential is all zeros (from t = 0 on, as long as every non-zero
            # input turns into a spike), the reset sum of a step where every non-zero input
            # spiked is 0 + 0, and so are the charge's two tensor ops when the input is all
            # zeros (a silent attention product).
            multi = getattr(module, "step_mode", "s") == "m"
            steps, n = (x.shape[0], x.shape[1]) if multi else (1, x.shape[0])
            xs, ys = x.reshape(steps, n, -1), y.reshape(steps, n, -1)
            # Every saving needs a sample drained at t = 0; on the CPU, look at t = 0 first
            # (BatchNorm-fed neurons never drain, so the whole check is skipped for them).
            if self.sync_free or bool((xs[0].ne(0).sum(-1) == count_sum(ys[0], -1)).any()):
                nz_x = xs.ne(0).sum(-1)                                              # [T, N]
                drained = (nz_x == count_sum(ys, -1)).to(nz_x.dtype)  # with v = 0: no potential left after the step
                zero_v = torch.cat([torch.ones_like(drained[:1]), drained[:-1]]).cumprod(0)  # v = 0 entering t
                free = (zero_v * (drained + 2 * (nz_x == 0))).sum()
                acs = acs - free * (x.numel() // (steps * n))
        self.rows.add(name, "neuron", {self.AC: acs, self.STATE: 2 * state * T})

    def batchnorm(self, name: str, module: nn.Module, x: torch.Tensor, batch: int) -> None:
        # per-channel work is done once per call, i.e. once per sample processed alone
        n, c = x.numel(), x.shape[1] * batch
        train = module.training or not module.track_running_stats
        running = module.running_mean is not None and (not module.training or module.track_running_stats)
        macs = (n if module.weight is not None else 0) + (2 * c if train and running else 0)
        acs = (3 * n + (2 * c if running else 0)) if train else c + n
        self.rows.add(name, "batchnorm", {self.MAC: macs, self.AC: acs})

    def residual(self, name: str, both_binary: Any, nnz_sum: Any, numel: int) -> None:
        self.rows.add(name, "residual", {self.AC: _select(both_binary, nnz_sum, numel)})

    def readout(self, name: str, acs: int) -> None:
        self.rows.add(name, "mean", {self.AC: acs})

    def reduction(self, name: str, acs: int) -> None:
        self.rows.add(name, "sum", {self.AC: acs})

    def finish(self, totals: dict[str, list[float]], n: int) -> dict[str, tuple[str, float, float, dict[str, float]]]:
        c = self.costs
        out = {}
        for name, (mac, ac, param, state) in totals.items():
            mac, ac, param, state = mac / n, ac / n, param / n, state / n
            comp = {"mac": c.e_mac_pj * mac, "ac": c.e_ac_pj * ac, "parameter_memory": c.e_memory_pj_per_byte * param,
                    "neuron_state_memory": c.e_memory_pj_per_byte * state}
            out[name] = (self.rows.kinds[name], mac, ac, {k: v / _PJ_PER_MJ for k, v in comp.items()})
        return out

    @staticmethod
    def counts(totals: dict[str, list[float]], n: int) -> dict[str, float]:
        s = [sum(r[i] for r in totals.values()) / n for i in range(4)]
        return {"mac": s[0], "ac": s[1], "parameter_read_bytes": s[2], "neuron_state_bytes": s[3]}


# ---------------------------------------------------------------- lemaire
class LemaireTally:
    """Counts of spikingjelly's ``lemaire`` model, fed by :class:`~autosnn.fitness.energy.EnergyMeter`.

    Row values (batch totals): MAC, AC, acc_addr, mac_addr, then pJ of in/out, parameter
    and potential accesses (each access priced by its buffer sized for one sample), then
    the bytes of those accesses (read_in + write_out, read_params, read + write potential).

    A synaptic call's ``binary`` is a bool, or per-sample flags ``[n]`` when the batch
    mixes spike and non-spike inputs; ``nnz`` is then the spikes per sample ``[n]``, and
    every term is chosen sample by sample (:func:`_select`).
    """

    MAC, AC, ACC_ADDR, MAC_ADDR, INOUT, PARAMS, POTENTIAL, B_INOUT, B_PARAMS, B_POTENTIAL = range(10)
    WORD = 4  # Lemaire's access width in bytes
    extra_hooks = False

    def __init__(self, costs: LemaireCosts, order: list[str], model_has_neurons: bool) -> None:
        self.costs = costs
        self.rows = _Rows(10, order)
        self.model_has_neurons = model_has_neurons
        self.fifo = costs.fifo_capacity_elements * self.WORD
        self._price: Callable[[float], float] = costs.memory_cost_pj

    def check(self, neurons: dict[str, nn.Module]) -> None:
        pass

    def synaptic(self, name: str, kind: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 binary: Any, nnz: Any, macs: Any, acs: Any, batch: int) -> None:
        if kind == "attention":  # outside Lemaire's Conv / Linear scope, as in spikingjelly
            return
        W, price, b = self.WORD, self._price, batch
        linear = isinstance(module, nn.Linear)
        if linear:
            cout_g, fan_in, taps, reach = y.shape[-1], x.shape[-1], 1, 1
        else:
            cout_g, fan_in, taps, reach = _conv_geometry(module, x, y)
        dense = y.numel() * fan_in
        spikes = _f64(nnz if nnz is not None else 0.0)  # per sample [n] when ``binary`` is, else the total
        active = _select(binary, spikes, 0.0)          # spikes of the samples whose input was binary
        synops = _f64(active) * cout_g * reach
        fanout = spikes * cout_g * taps                # per sample (or total), selected below
        has_bias = module.bias is not None
        bias_bytes = y.numel() * W if has_bias else 0
        params_price = price(_active_params(module, x, y) * W)
        v = {}
        v[self.MAC] = _select(binary, 0.0, dense)
        v[self.AC] = synops + (y.numel() if has_bias else 0)
        dense_addr = x.numel() + y.numel() + (0 if linear else y.shape[1] * taps * b)  # weights: per sample
        v[self.ACC_ADDR] = _select(binary, fanout, dense_addr)
        v[self.MAC_ADDR] = 0.0 if linear else 2.0 * _f64(active)
        in_dense_bytes = (x.numel() if linear else dense) * W
        in_spike_bytes = spikes * W
        in_price_dense = price(x.numel() * W / b)
        v[self.INOUT] = _select(binary, in_spike_bytes * price(self.fifo), in_dense_bytes * in_price_dense)
        v[self.B_INOUT] = _select(binary, in_spike_bytes, in_dense_bytes)
        weight_bytes = _select(binary, fanout, dense) * W
        v[self.PARAMS] = (weight_bytes + bias_bytes) * params_price
        v[self.B_PARAMS] = weight_bytes + bias_bytes
        pot_bytes = fanout * W * 2  # read and write of the potentials a spike reaches
        pot_price = price(y.numel() * W // max(_time_steps(module, x), 1) / b)
        v[self.POTENTIAL] = _select(binary, pot_bytes * pot_price, 0.0)
        v[self.B_POTENTIAL] = _select(binary, pot_bytes, 0.0)
        if not self.model_has_neurons:  # dense outputs written back (a network without neurons)
            out_bytes = y.numel() * W
            v[self.INOUT] = _f64(v[self.INOUT]) + _select(binary, 0.0, out_bytes * price(out_bytes / b))
            v[self.B_INOUT] = _f64(v[self.B_INOUT]) + _select(binary, 0.0, out_bytes)
        self.rows.add(name, kind, v)

    def neuron(self, name: str, module: nn.Module, x: torch.Tensor, y: torch.Tensor, nnz: Any, batch: int) -> None:
        if not isinstance(module, (neuron.IFNode, neuron.LIFNode)):
            return  # outside spikingjelly's Lemaire neuron scope
        W, T = self.WORD, max(_time_steps(module, x), 1)
        capacity = y.numel() // T * W
        access = capacity * T
        self.rows.add(name, "neuron", {
            self.AC: nnz, self.MAC: y.numel() if isinstance(module, neuron.LIFNode) else 0,
            self.POTENTIAL: 2 * access * self._price(capacity / batch), self.B_POTENTIAL: 2 * access,
            self.INOUT: _f64(nnz) * W * self._price(self.fifo), self.B_INOUT: _f64(nnz) * W,
        })

    def finish(self, totals: dict[str, list[float]], n: int) -> dict[str, tuple[str, float, float, dict[str, float]]]:
        c = self.costs
        out = {}
        for name, r in totals.items():
            r = [v / n for v in r]
            comp = {"ops": r[self.AC] * c.e_add_pj + r[self.MAC] * (c.e_mul_pj + c.e_add_pj),
                    "addressing": r[self.ACC_ADDR] * c.e_add_pj + r[self.MAC_ADDR] * (c.e_mul_pj + c.e_add_pj),
                    "inout": r[self.INOUT], "params": r[self.PARAMS], "potential": r[self.POTENTIAL]}
            out[name] = (self.rows.kinds[name], r[self.MAC], r[self.AC], {k: v / _PJ_PER_MJ for k, v in comp.items()})
        return out

    @classmethod
    def counts(cls, totals: dict[str, list[float]], n: int) -> dict[str, float]:
        s = [sum(r[i] for r in totals.values()) / n for i in range(10)]
        return {"mac": s[cls.MAC], "ac": s[cls.AC], "acc_addr": s[cls.ACC_ADDR], "mac_addr": s[cls.MAC_ADDR],
                "inout_bytes": s[cls.B_INOUT], "params_bytes": s[cls.B_PARAMS], "potential_bytes": s[cls.B_POTENTIAL]}
