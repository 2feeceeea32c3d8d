"""The energy model: MACs and ACs counted during a forward pass, priced in pJ.

Energy per inference of one sample, over all T time steps (docs/energy-models.md, after
Horowitz 2014 as used by the Spikformer papers and by spikingjelly's ``op_counter``)::

    E = E_MAC * MACs + E_AC * ACs        (pJ; ``energy_mj`` = E * 1e-9)

Counting rules (the same as spikingjelly 2.0's ``SynOpCounter`` for ACs and its
``MACCounter`` without the BatchNorm rule for MACs):

* a convolution or linear map whose input is a 0/1 tensor costs one AC per weight a
  spike touches: for a conv, every spike times the number of output positions whose
  receptive field holds it (zero padding included, so a border spike of a 3x3 conv
  touches fewer) times the output channels; for a linear / pointwise map, spikes x
  output features. Summed over time steps (time is folded into the batch);
* the same operation on a non-binary input (the image into the first conv, the
  residual sums that feed every block's ``qkv_conv`` and ``fc1_conv``, the token means
  into the head) costs full MACs: ``batch x out_positions x out_channels x fan_in``;
* the attention ``(v @ k^T) @ q`` counts matmul by matmul: ``v @ k^T`` with both
  operands binary costs ``sum(v @ k^T)`` ACs (one per coincident pair of spikes);
  ``A @ q`` with ``A = v @ k^T`` costs ``sum(A @ q)`` ACs when ``A`` happens to be
  binary too, else ``nnz(q) x head_dim`` (every spike of ``q`` reads a column of ``A``);
* BatchNorm (folded into the weights at inference), pooling, the attention scale,
  residual additions and neurons cost nothing.
* QKFormer's Q-K attention (token or channel mixer) costs its q|k projection (``2e``
  output rows, no V) and its output projection, counted as convs above; its mask (a
  sum of ``q`` through a neuron) and the mask-times-``k`` product are not counted, as
  spikingjelly's counters count only mm / bmm / convolution.

**Binary or not is decided per sample.** Every rule above that asks whether an input is a
0/1 tensor (the first convolution's input, the residual sums into ``qkv_conv`` /
``fc1_conv``, the token means into the head, whether ``A = v @ k^T`` is itself 0/1)
asks it of each sample's own slice of the tensor, over all its time steps (and heads),
exactly as spikingjelly's counters ask it of the whole tensor when the model runs on
that sample alone (batch 1). So a sample's energy is what it costs alone, whatever else
is in its batch: one event frame counting 3 events at one pixel makes the first
convolution dense for that sample only. Inputs a neuron produced are binary by
construction and never checked. (The sample axis is read from each layer's layout:
``[T*N, ...]`` for convolutions, ``[T, N, ...]`` for attention and the head; a tensor
that fits neither is decided as a whole.) The decision is made on the model's device,
with no host synchronisation when ``sync_free``, so CPU and CUDA count alike.

Counting is done by forward hooks (:class:`EnergyMeter`) inside the ordinary forward pass:
accumulators stay on the model's device and are read once, so there is no second pass
and no device synchronisation per layer.

This is the ``sops`` energy model, the default. The same hooks also price the pass under
spikingjelly's ``simple`` and ``lemaire`` estimators (``energy_model=``; see
:mod:`autosnn.fitness.energy_models`, which also defines "per inference" for models with
memory terms).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Iterable, Mapping, Union

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron

from autosnn.fitness.energy_models import (ENERGY_MODELS, LemaireCosts, LemaireTally, SimpleCosts, SimpleTally, _select,
                                           _total, count_sum)
from autosnn.supernet.layers import EncoderBlock, PatchStem, QKAttention, SpikeAttention, SwitchableAttention

__all__ = ["EnergyCosts", "LayerEnergy", "EnergyReport", "EnergyMeter", "measure_energy", "PJ_PER_MJ",
           "EnergyModel", "resolve_energy_model", "energy_model_from_config"]

#: picojoules in one millijoule
PJ_PER_MJ = 1e9


@dataclass(frozen=True)
class EnergyCosts:
    """Energy of one multiply-accumulate and one accumulate, in pJ.

    The default is the 45 nm FP32 pair (E_MAC = 4.6 pJ, E_AC = 0.9 pJ); :meth:`fp16` and
    :meth:`int8` are spikingjelly's ``SimpleEnergyCostConfig`` presets (Horowitz 2014).
    """

    name: ClassVar[str] = "sops"
    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9

    def __post_init__(self) -> None:
        for name in ("e_mac_pj", "e_ac_pj"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")

    @classmethod
    def fp32(cls) -> "EnergyCosts":
        return cls(4.6, 0.9)

    @classmethod
    def fp16(cls) -> "EnergyCosts":
        """FMult16 1.1 pJ + FAdd16 0.4 pJ: E_MAC = 1.5 pJ, E_AC = 0.4 pJ."""
        return cls(1.5, 0.4)

    @classmethod
    def int8(cls) -> "EnergyCosts":
        """Mult8 0.2 pJ + Add8 0.03 pJ: E_MAC = 0.23 pJ, E_AC = 0.03 pJ."""
        return cls(0.23, 0.03)

    @classmethod
    def from_config(cls, cfg: Any) -> "EnergyCosts":
        """From a campaign's ``fitness.energy`` section (anything with ``e_mac_pj``, ``e_ac_pj``)."""
        return cls(float(cfg.e_mac_pj), float(cfg.e_ac_pj))

    def energy_mj(self, macs: float, acs: float) -> float:
        """Millijoules of ``macs`` multiply-accumulates and ``acs`` accumulates."""
        return (self.e_mac_pj * macs + self.e_ac_pj * acs) / PJ_PER_MJ

    def params(self) -> dict[str, Any]:
        return {"e_mac_pj": self.e_mac_pj, "e_ac_pj": self.e_ac_pj}

    def describe(self) -> str:
        return f"sops (synaptic operations): {self.e_mac_pj:g} pJ x MAC + {self.e_ac_pj:g} pJ x AC"


#: an energy model with its costs: ``sops`` (:class:`EnergyCosts`), ``simple`` or ``lemaire``
EnergyModel = Union[EnergyCosts, SimpleCosts, LemaireCosts]


def resolve_energy_model(energy_model: "str | EnergyModel | None" = None,
                         costs: EnergyCosts | None = None) -> EnergyModel:
    """The model to price a pass with: an instance as given; a name with its default costs
    (``"sops"`` takes ``costs`` when given); ``None``: ``costs`` (which may be any model's
    costs instance) or the default ``sops``."""
    if isinstance(energy_model, (EnergyCosts, SimpleCosts, LemaireCosts)):
        return energy_model
    if energy_model is None and isinstance(costs, (SimpleCosts, LemaireCosts)):
        return costs
    if energy_model is None or energy_model == "sops":
        return costs if isinstance(costs, EnergyCosts) else EnergyCosts()
    if energy_model == "simple":
        return SimpleCosts()
    if energy_model == "lemaire":
        return LemaireCosts()
    raise ValueError(f"unknown energy model {energy_model!r}; choose one of {list(ENERGY_MODELS)}")


def energy_model_from_config(cfg: Any) -> EnergyModel:
    """The model a campaign's ``fitness.energy`` section chooses (``model``: sops | simple |
    lemaire, default sops), with its costs from the same section."""
    model = getattr(cfg, "model", "sops")
    if model == "sops":
        return EnergyCosts.from_config(cfg)
    if model == "simple":
        s = cfg.simple
        base = SimpleCosts.preset(s.preset)
        return SimpleCosts(base.e_mac_pj if s.e_mac_pj is None else float(s.e_mac_pj),
                           base.e_ac_pj if s.e_ac_pj is None else float(s.e_ac_pj), float(s.e_memory_pj_per_byte))
    if model == "lemaire":
        lm = cfg.lemaire
        return LemaireCosts(e_add_pj=float(lm.e_add_pj), e_mul_pj=float(lm.e_mul_pj),
                            fifo_capacity_elements=int(lm.fifo_capacity_elements))
    raise ValueError(f"unknown energy model {model!r}; choose one of {list(ENERGY_MODELS)}")


@dataclass
class LayerEnergy:
    """One counted operation of the network, per sample over all T steps.

    ``input_rate``: firing rate of the input spikes over the samples whose input was
    binary (for attention, over q, k and v together), ``None`` when no sample's was
    (charged MACs). ``binary``: every sample's input was a 0/1 tensor, on every call. Under the ``simple`` and ``lemaire`` models, ``macs`` /
    ``acs`` are that model's counts, rows also cover neurons, BatchNorm, residual sums and
    readout means (kinds ``neuron``, ``batchnorm``, ``residual``, ``mean``), and
    ``components_mj`` splits ``energy_mj`` as spikingjelly's estimator does (empty under
    ``sops``, and then left out of :meth:`to_dict`).
    """

    name: str
    kind: str                  # conv2d | conv1d | linear | attention (| neuron | batchnorm | residual | mean)
    input_rate: float | None   # None when no sample's input was binary
    binary: bool
    macs: float
    acs: float
    energy_mj: float
    components_mj: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["components_mj"]:
            del d["components_mj"]
        return d


@dataclass
class EnergyReport:
    """Energy of a model on some inputs, per inference (one sample over all T steps, see
    :data:`~autosnn.fitness.energy_models.PER_INFERENCE`; the mean over the samples seen).

    ``macs`` / ``acs``: operations per sample over all T steps (the chosen model's MAC and
    AC counts); ``energy_mj``: millijoules per sample; ``layers``: the per-layer table in
    forward order; ``firing_rates``: mean output firing rate of every neuron that ran
    (module name -> fraction in [0, 1]). ``energy_model`` names the model and ``costs``
    holds its parameters; ``components_mj``: the energy split as spikingjelly's estimator
    splits it (sops: ``mac``, ``ac``; simple: ``mac``, ``ac``, ``parameter_memory``,
    ``neuron_state_memory``; lemaire: ``ops``, ``addressing``, ``inout``, ``params``,
    ``potential``); ``counts``: the model's own counts per sample.
    """

    macs: float
    acs: float
    energy_mj: float
    samples: int
    costs: Any
    layers: list[LayerEnergy] = field(default_factory=list)
    firing_rates: dict[str, float] = field(default_factory=dict)
    energy_model: str = "sops"
    components_mj: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)

    def layer_dicts(self) -> list[dict[str, Any]]:
        return [layer.to_dict() for layer in self.layers]


# ----------------------------------------------------------------- counting rules
#: Neurons whose output is a 0/1 tensor by construction (a Heaviside step in the forward).
BINARY_NEURONS: tuple[type[nn.Module], ...] = (neuron.LIFNode, neuron.IFNode, neuron.ParametricLIFNode)


def _fits(x: torch.Tensor, n: int, time_major: bool) -> int:
    """How many samples ``x`` can be split into: ``n`` when its layout holds ``n`` samples
    (time-major ``[T, n, ...]``, or folded ``[G*n, ...]`` with sample ``i`` of group ``g``
    at row ``g*n + i``, as ``[T, N, ...].flatten(0, 1)`` lays it out), else 1 (the whole
    tensor is decided as one)."""
    if n <= 1:
        return 1
    if time_major:
        return n if x.dim() >= 2 and x.shape[1] == n else 1
    return n if x.dim() >= 1 and x.shape[0] % n == 0 else 1


def _by_sample(x: torch.Tensor, n: int, time_major: bool) -> torch.Tensor:
    """``x`` as ``[G, n, F]`` (``n`` from :func:`_fits`): element ``[g, i]`` belongs to sample ``i``."""
    if n == 1:
        return x.reshape(1, 1, -1)
    return x.reshape(x.shape[0], n, -1) if time_major else x.reshape(x.shape[0] // n, n, -1)


def _per_sample_sum(x: torch.Tensor, n: int, time_major: bool) -> torch.Tensor:
    """The sum of ``x`` per sample: float64 ``[n]``."""
    return _by_sample(x, n, time_major).sum(dim=(0, 2), dtype=torch.float64)


def _binary_check(x: torch.Tensor, sync_free: bool, n: int = 1, time_major: bool = False) -> bool | torch.Tensor:
    """Whether every element of ``x`` is 0 or 1, decided for each of its ``n`` samples
    (:func:`_fits`): ``True`` / ``False`` when all samples agree, else a bool tensor ``[n]``.
    With ``sync_free`` always the tensor (no device synchronisation). Without, the first
    row of every sample is checked first, so an input that is non-binary in every sample
    (an image, a residual sum) is rejected at once."""
    if x.dtype == torch.bool:
        return True
    if not sync_free:
        head = _by_sample(x, n, time_major)[0, :, :4096]
        if not bool((head.eq(0) | head.eq(1)).all(-1).any()):
            return False
    ok = _by_sample(x.eq(0) | x.eq(1), n, time_major).all(-1).all(0)     # [n]
    if sync_free:
        return ok
    k = int(ok.sum())
    return True if k == n else (False if k == 0 else ok)


def _where(flag: bool | torch.Tensor, yes, no):
    """Batch total of ``yes()`` for the samples whose ``flag`` holds and of ``no()`` for the
    others (:func:`~autosnn.fitness.energy_models._select`); only the branch taken is
    evaluated when ``flag`` is a bool."""
    if isinstance(flag, bool):
        return _total(yes() if flag else no())
    return _select(flag, yes(), no())


def _and(*flags: bool | torch.Tensor) -> bool | torch.Tensor:
    """Logical and of Python bools and bool tensors (per-sample flags ``[n]``)."""
    if all(isinstance(f, bool) for f in flags):
        return all(flags)
    if any(f is False for f in flags):
        return False
    tensors = [f for f in flags if torch.is_tensor(f)]
    out = tensors[0]
    for t in tensors[1:]:
        out = out & t
    return out


def _not(flag: bool | torch.Tensor) -> bool | torch.Tensor:
    return (not flag) if isinstance(flag, bool) else ~flag


def _f64(v: Any) -> Any:
    return v.to(torch.float64) if torch.is_tensor(v) else float(v)


@lru_cache(maxsize=256)
def _coverage(size: int, out: int, k: int, stride: int, pad: int, dil: int) -> tuple[int, ...]:
    """For every input position along one axis, how many (output position, kernel tap)
    pairs read it. A 2-D coverage map is the outer product of two of these."""
    c = [0] * size
    for o in range(out):
        for t in range(k):
            p = o * stride - pad + t * dil
            if 0 <= p < size:
                c[p] += 1
    return tuple(c)


_COVER: dict[tuple, torch.Tensor] = {}


def _coverage_map(size: tuple[int, ...], out: tuple[int, ...], ks, st, pd, dl, device: torch.device) -> torch.Tensor:
    """How many (output position, kernel tap) pairs read every input position: ``[*size]``
    float64 on ``device`` (cached)."""
    key = (size, out, ks, st, pd, dl, str(device))
    cover = _COVER.get(key)
    if cover is None:
        cover = torch.ones((), dtype=torch.float64)
        for axis in range(len(size)):
            c = torch.tensor(_coverage(size[axis], out[axis], ks[axis], st[axis], pd[axis], dl[axis]),
                             dtype=torch.float64)
            cover = cover.unsqueeze(-1) * c
        cover = _COVER[key] = cover.to(device)
    return cover


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _conv_counts(module: nn.Module, x: torch.Tensor, y: torch.Tensor, binary, nnz, n: int = 1):
    """(macs, acs, spikes) of a Conv1d/Conv2d call: input ``x`` ``[G*n, Cin, *S]``, output
    ``y`` ``[G*n, Cout, *S']``. ``binary``: a bool, or per-sample flags ``[n]``; ``nnz``
    (spikes in ``x``, a total) may be ``None`` (computed when needed). ``spikes`` is a
    total, or per sample ``[n]`` when ``binary`` is a tensor."""
    nd = x.dim() - 2
    B, cin, cout, g = x.shape[0], x.shape[1], y.shape[1], module.groups
    ks, st = _tuple(module.kernel_size, nd), _tuple(module.stride, nd)
    pd, dl = _tuple(module.padding, nd), _tuple(module.dilation, nd)
    if isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise NotImplementedError(f"{type(module).__name__}: only explicit zero padding is counted")
    full = float(B * cout * math.prod(y.shape[2:]) * (cin // g) * math.prod(ks))
    if binary is False:
        return full, 0.0, 0.0
    per_sample = binary is not True
    if all(k == 1 for k in ks) and all(s == 1 for s in st) and all(p == 0 for p in pd):
        if per_sample:
            nnz = _per_sample_sum(x, n, False)
        elif nnz is None:
            nnz = count_sum(x)  # = spikes, since x is binary (summing is far faster than count_nonzero)
        acs = _f64(nnz) * cout
    else:  # spikes per input position (and group), weighted by how many outputs read it
        cover = _coverage_map(tuple(x.shape[2:]), tuple(y.shape[2:]), ks, st, pd, dl, x.device)
        if per_sample:  # [n, g, *S]
            s = x.reshape(B // n, n, g, cin // g, *x.shape[2:]).sum(dim=(0, 3), dtype=torch.float64)
            nnz = s.flatten(1).sum(1)
            acs = (s * cover).flatten(1).sum(1) * (cout // g)
        else:
            if g == 1:
                s = count_sum(x.reshape(B * cin, -1), 0).to(torch.float64).view(1, *x.shape[2:])  # [1, *S]
            else:
                s = count_sum(x.reshape(B, g, cin // g, *x.shape[2:]), (0, 2)).to(torch.float64)  # [g, *S]
            if nnz is None:
                nnz = s.sum()
            acs = (s * cover).sum() * (cout // g)
    if not per_sample:
        return 0.0, acs, nnz
    return _select(binary, 0.0, full), _select(binary, acs, 0.0), nnz


def _linear_counts(x: torch.Tensor, y: torch.Tensor, binary, nnz, n: int = 1, time_major: bool = False):
    """(macs, acs, spikes) of a linear map ``[..., in] -> [..., out]`` (as :func:`_conv_counts`)."""
    fin, fout = x.shape[-1], y.shape[-1]
    full = float(x.numel() // max(1, fin) * fin * fout)
    if binary is False:
        return full, 0.0, 0.0
    if binary is True:
        if nnz is None:
            nnz = count_sum(x)  # = spikes, since x is binary (summing is far faster than count_nonzero)
        return 0.0, _f64(nnz) * fout, nnz
    nnz = _per_sample_sum(x, n, time_major)
    return _select(binary, 0.0, full), _select(binary, nnz * fout, 0.0), nnz


def _matmul_counts(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None, a_binary, b_binary, n: int = 1):
    """(macs, acs) of the batched matmul ``a @ b`` (``[T, n, ..., m, k] @ [T, n, ..., k, p]``)
    by spikingjelly's rules, decided per sample: both binary -> ``sum(a @ b)`` ACs; one
    binary -> its spikes times the other's free dimension; neither -> full MACs."""
    m, k, p = a.shape[-2], a.shape[-1], b.shape[-1]
    full = float(a.numel() // max(1, m * k) * m * k * p)

    def per(t: torch.Tensor) -> torch.Tensor:
        return _per_sample_sum(t, n, True)

    def both():
        # sum(a @ b) = sum_j colsum_j(a) * rowsum_j(b)
        return per(out if out is not None else a.sum(-2, dtype=torch.float64) * b.sum(-1, dtype=torch.float64))

    not_a, not_b = _not(a_binary), _not(b_binary)
    acs = (_where(_and(a_binary, b_binary), both, lambda: 0.0)
           + _where(_and(a_binary, not_b), lambda: per(a) * p, lambda: 0.0)
           + _where(_and(not_a, b_binary), lambda: per(b) * m, lambda: 0.0))
    macs = _where(_and(not_a, not_b), lambda: full, lambda: 0.0)
    return macs, acs


# ----------------------------------------------------------------- the meter
_KINDS = {nn.Conv2d: "conv2d", nn.Conv1d: "conv1d", nn.Linear: "linear", SpikeAttention: "attention"}


def _kind(module: nn.Module) -> str | None:
    for cls, kind in _KINDS.items():
        if isinstance(module, cls):
            return kind
    return None


@dataclass
class _Spikes:
    """A neuron's output seen in this forward: known binary while unmodified."""

    ref: Any            # weakref to the output tensor
    version: int
    offset: int
    numel: int
    nnz: Any            # 0-d tensor: its number of spikes


class EnergyMeter:
    """Counts MACs, ACs and firing rates of ``model`` during its ordinary forward passes.

    Use as a context manager; every forward inside the block is counted (any number of
    batches), and :meth:`report` gives the per-sample result::

        with EnergyMeter(model) as meter:
            logits = model(x)            # x: [N, C, H, W] or [T, N, C, H, W]
        report = meter.report()

    Hooks sit on every ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Linear`` (elastic subclasses
    included: counts use the active slice, read from the input and output shapes), every
    :class:`~autosnn.supernet.layers.SpikeAttention` and every spikingjelly neuron. The
    number of samples is read from the model's input (batch dimension 0 for 4-D images,
    1 for ``[T, N, ...]`` frames) unless given to :meth:`report`.

    ``sync_free`` (default: the model is not on the CPU) keeps every decision ("is this
    input binary?") on the device as a 0-d tensor, so the forward never waits for the
    device; on the CPU, Python-level decisions are cheaper.

    Cheap by construction: a LIF / IF neuron's output is 0/1 by definition, so a layer fed
    with (a view of) an unmodified neuron output is known to be binary and reuses the
    neuron's spike count; only other inputs (image, residual sums, token means) are checked
    element-wise, as spikingjelly does, sample by sample (see the module docstring), so a
    sample's count never depends on its batch-mates.

    ``energy_model``: ``"sops"`` (default; priced with ``costs``), ``"simple"``,
    ``"lemaire"`` or an instance of :class:`EnergyCosts` / :class:`SimpleCosts` /
    :class:`LemaireCosts`. The two memory models are fed by the same hooks (plus, for
    ``simple``, hooks on BatchNorm, residual branches and the readout), never a second pass.
    """

    def __init__(self, model: nn.Module, costs: "EnergyModel" = EnergyCosts(), *,
                 sync_free: bool | None = None, energy_model: "str | EnergyModel | None" = None) -> None:
        self.model = model
        self.energy_model = resolve_energy_model(energy_model, costs)
        #: the sops costs (the energy model itself under ``sops``)
        self.costs = self.energy_model if isinstance(self.energy_model, EnergyCosts) else EnergyCosts()
        if sync_free is None:  # on accelerators, never wait for the device inside the forward
            sync_free = next((p.device.type != "cpu" for p in model.parameters()), False)
        self.sync_free = sync_free
        self._handles: list[Any] = []
        self._layers: dict[str, tuple[str, nn.Module]] = {}
        self._neurons: dict[str, nn.Module] = {}
        for name, m in model.named_modules():
            kind = _kind(m)
            if kind is not None:
                self._layers[name] = (kind, m)
            elif isinstance(m, (neuron.BaseNode, neuron.SimpleBaseNode)):
                self._neurons[name] = m
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        #: per layer: [macs, acs, spikes in binary inputs, elements of binary inputs, samples with binary input, samples]
        self._acc: dict[str, list[Any]] = {}
        #: per neuron: [spikes, elements]
        self._spk: dict[str, list[Any]] = {}
        self._seen: dict[int, _Spikes] = {}
        self.samples = 0
        self._batch = 1
        #: rows of every table in first-seen (forward) order
        self._order: list[str] = []
        em = self.energy_model
        if isinstance(em, SimpleCosts):
            self._tally: SimpleTally | LemaireTally | None = SimpleTally(em, self._order, self.sync_free)
        elif isinstance(em, LemaireCosts):
            self._tally = LemaireTally(em, self._order, model_has_neurons=bool(self._neurons))
        else:
            self._tally = None
        if self._tally is not None:
            self._tally.check(self._neurons)

    # ------------------------------------------------------------- hooks
    def __enter__(self) -> "EnergyMeter":
        self._handles.append(self.model.register_forward_pre_hook(self._start_forward))
        for name, (kind, m) in self._layers.items():
            self._handles.append(m.register_forward_hook(self._layer_hook(name, kind)))
        for name, m in self._neurons.items():
            self._handles.append(m.register_forward_hook(self._neuron_hook(name, isinstance(m, BINARY_NEURONS))))
        if self._tally is not None and self._tally.extra_hooks:
            self._add_simple_hooks()
        return self

    def _add_simple_hooks(self) -> None:
        """Hooks for what spikingjelly's ``ACCounter`` / ``MACCounter`` also count: every
        BatchNorm, the residual sums ``x + branch(x)`` of the Spikformer blocks and stem,
        the sums of Q-K attention's q (its mask), and the readout means (tokens, then time)
        around the head."""
        tally = self._tally
        for name, m in self.model.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                self._handles.append(m.register_forward_hook(
                    lambda mod, args, out, name=name: tally.batchnorm(name, mod, args[0], self._batch)))
            elif isinstance(m, EncoderBlock):
                for branch in ("attn", "mlp"):
                    self._handles.append(getattr(m, branch).register_forward_hook(self._residual_hook(
                        f"{name}.{branch}" if name else branch)))
            elif isinstance(m, (QKAttention, SwitchableAttention)):
                self._handles.append(m.register_forward_hook(self._qk_sum_hook(f"{name}.qk_sum" if name else "qk_sum")))
            elif isinstance(m, PatchStem):
                self._handles.append(m.pos.register_forward_hook(self._residual_hook(f"{name}.pos" if name else "pos")))
                self._handles.append(m.register_forward_hook(self._tokens_hook))
        head = getattr(self.model, "head", None)
        if isinstance(head, nn.Linear) and any(isinstance(m, PatchStem) for m in self.model.modules()):
            self._handles.append(head.register_forward_hook(self._readout_hook))

    def _residual_hook(self, name: str):
        """``x + branch(x)``: spikingjelly's ``add`` rule, ``nnz(x) + nnz(y)`` when both are
        binary, else one addition per element."""
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            with torch.no_grad():
                x = args[0]
                n = _fits(x, self._batch, True)
                (bx, nx), (by, ny) = self._input(x, n, True), self._input(output, n, True)
                both = _and(bx, by)
                if both is False:
                    self._tally.residual(name, False, 0.0, output.numel())
                    return
                if both is True:
                    nnz = _f64(count_sum(x) if nx is None else nx) + _f64(count_sum(output) if ny is None else ny)
                else:
                    nnz = _per_sample_sum(x, n, True) + _per_sample_sum(output, n, True)
                self._tally.residual(name, both, nnz, output.numel())
        return hook

    def _qk_sum_hook(self, name: str):
        """Q-K attention's mask sums ``q`` ``[T, N, heads, C/heads, L]`` over each head's
        channels (``qk_token``) or over the tokens (``qk_channel``): a reduction, one AC per
        input element less one per output element (spikingjelly's ``sum`` rule)."""
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if module.mixer == "ssa":
                return
            T, N, C, L = args[0].shape
            kept = module.num_heads * L if module.mixer == "qk_token" else C
            self._tally.reduction(name, T * N * (C * L - kept))
        return hook

    def _tokens_hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self._tokens = int(output.shape[-1])  # L of [T, N, E, L]

    def _readout_hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        """``head(tokens.mean(-1)).mean(0)``: both means are reductions (spikingjelly: one AC
        per input element minus one per output element)."""
        x = args[0]
        if x.dim() != 3 or getattr(self, "_tokens", None) is None:
            return
        acs = x.numel() * self._tokens - x.numel() + output.numel() - output.numel() // output.shape[0]
        self._tally.readout("head.mean", acs)

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._seen.clear()

    def _start_forward(self, module: nn.Module, args: tuple) -> None:
        self._seen.clear()
        x = args[0] if args else None
        if isinstance(x, Mapping) and x:   # event data at several T: {T: frames [T, N, C, H, W]}, same N
            x = next(iter(x.values()))
        if torch.is_tensor(x):
            self._batch = max(1, int(x.shape[1] if x.dim() == 5 else x.shape[0]))
            self.samples += self._batch

    def _spikes_of(self, x: torch.Tensor) -> tuple[bool, Any]:
        """(known binary, its spike count or None) for a tensor that may view a neuron output."""
        try:
            entry = self._seen.get(x.untyped_storage().data_ptr())
        except RuntimeError:
            return False, None
        if entry is None:
            return False, None
        base = entry.ref()
        if base is None or base._version != entry.version:
            return False, None
        whole = x.numel() == entry.numel and x.storage_offset() == entry.offset
        return True, entry.nnz if whole else None

    def _input(self, x: torch.Tensor, n: int = 1, time_major: bool = False) -> tuple[Any, Any]:
        """(binary: a bool or per-sample flags ``[n]``, spike count if known) of a layer input."""
        known, nnz = self._spikes_of(x)
        return (True, nnz) if known else (_binary_check(x, self.sync_free, n, time_major), None)

    def _add(self, name: str, values: list[Any]) -> None:
        acc = self._acc.get(name)
        if acc is None:
            self._acc[name] = [_f64(v) for v in values]
            if name not in self._order:
                self._order.append(name)
        else:
            for i, v in enumerate(values):
                acc[i] = acc[i] + _f64(v)

    def _layer_hook(self, name: str, kind: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            with torch.no_grad():
                batch = self._batch
                if kind == "attention":
                    n = _fits(args[0], batch, True)
                    macs, acs, nnz, binary = self._attention_counts(*args[:3], n)
                    numel = sum(t.numel() for t in args[:3])
                else:
                    x = args[0]
                    time_major = kind == "linear" and x.dim() >= 3      # the head's [T, N, E]
                    n = _fits(x, batch, time_major)
                    binary, nnz = self._input(x, n, time_major)
                    if kind == "linear":
                        macs, acs, nnz = _linear_counts(x, output, binary, nnz, n, time_major)
                    else:
                        macs, acs, nnz = _conv_counts(module, x, output, binary, nnz, n)
                    numel = x.numel()
                # spikes, elements and samples counted only where the input was binary
                self._add(name, [macs, acs, _select(binary, nnz, 0.0), _select(binary, float(numel), 0.0),
                                 _select(binary, float(batch), 0.0), batch])
                if self._tally is not None:
                    self._tally.synaptic(name, kind, module, None if kind == "attention" else args[0], output,
                                         binary, nnz, macs, acs, batch)
        return hook

    def _attention_counts(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n: int = 1):
        """(macs, acs, spikes, binary) of ``(v @ k^T) @ q`` (``[T, n, heads, d, L]``), matmul
        by matmul, every decision per sample."""
        (bq, _), (bk, _), (bv, _) = self._input(q, n, True), self._input(k, n, True), self._input(v, n, True)
        kt = k.transpose(-2, -1)
        with torch.autocast(v.device.type, enabled=False):              # under autocast: count coincidences exactly
            a = v.float() @ kt.float()                                  # [T, n, heads, d, d]
        binary = _and(bq, bk, bv)
        if binary is True:  # the usual case: q, k, v are views of a neuron's output
            sq = count_sum(q)
            spikes = _f64(sq + count_sum(k) + count_sum(v))
            acs1 = a.sum(dtype=torch.float64)                           # spike x spike: coincidences
            # A @ q: spike x spike where a sample's A is 0/1 too (a holds counts >= 0), else
            # every spike of q reads a column of A
            a_binary = _by_sample(a, n, True).amax(-1).amax(0) <= 1     # [n]
            if not self.sync_free:
                k_bin = int(a_binary.sum())
                a_binary = True if k_bin == n else (False if k_bin == 0 else a_binary)
            coincidences = lambda: a.sum(-2, dtype=torch.float64) * q.sum(-1, dtype=torch.float64)  # noqa: E731
            if isinstance(a_binary, bool):
                acs2 = coincidences().sum() if a_binary else _f64(sq) * a.shape[-2]
            else:
                acs2 = _select(a_binary, _per_sample_sum(coincidences(), n, True),
                               _per_sample_sum(q, n, True) * a.shape[-2])
            return 0.0, acs1 + acs2, spikes, True
        m1, a1 = _matmul_counts(v, kt, a, bv, bk, n)
        m2, a2 = _matmul_counts(a, q, None, _binary_check(a, self.sync_free, n, True), bq, n)
        if binary is False:
            spikes = 0.0
        else:
            spikes = _per_sample_sum(q, n, True) + _per_sample_sum(k, n, True) + _per_sample_sum(v, n, True)
        return _f64(m1) + _f64(m2), _f64(a1) + _f64(a2), spikes, binary

    def _neuron_hook(self, name: str, binary_by_construction: bool):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not torch.is_tensor(output):
                return
            with torch.no_grad():
                # spikes: the sum, for binary outputs (count_nonzero is ~100x slower on the CPU)
                nnz = count_sum(output) if binary_by_construction else output.count_nonzero()
                row = self._spk.setdefault(name, [0, 0])
                row[0] = row[0] + nnz
                row[1] += output.numel()
                if binary_by_construction:
                    self._seen[output.untyped_storage().data_ptr()] = _Spikes(
                        weakref.ref(output), output._version, output.storage_offset(), output.numel(), nnz)
                if self._tally is not None:
                    self._tally.neuron(name, module, args[0], output, nnz, self._batch)
        return hook

    # ------------------------------------------------------------- results
    def report(self, samples: int | None = None) -> EnergyReport:
        """Per-sample counts of everything counted since the last :meth:`reset`."""
        n = samples if samples is not None else self.samples
        if n <= 0:
            raise ValueError("no samples were counted: run the model inside the meter first")
        names = list(self._acc)
        flat = [_f64(v) for name in names for v in self._acc[name]]
        flat = _to_floats(flat)
        base: dict[str, tuple[float | None, bool]] = {}
        layers, macs, acs = [], 0.0, 0.0
        for i, name in enumerate(names):
            m, a, nnz, numel, nbin, calls = flat[6 * i: 6 * i + 6]
            m, a = m / n, a / n
            base[name] = (nnz / numel if numel > 0 else None, nbin == calls)
            layers.append(LayerEnergy(name=name, kind=self._layers[name][0],
                                      input_rate=nnz / numel if numel > 0 else None,
                                      binary=nbin == calls, macs=m, acs=a, energy_mj=self.costs.energy_mj(m, a)))
            macs += m
            acs += a
        neurons = list(self._spk)
        spk = _to_floats([_f64(v) for name in neurons for v in self._spk[name]])
        rates = {k: spk[2 * i] / max(spk[2 * i + 1], 1.0) for i, k in enumerate(neurons)}
        em = self.energy_model
        if self._tally is None:
            energy = self.costs.energy_mj(macs, acs)
            components = {"mac": self.costs.e_mac_pj * macs / PJ_PER_MJ, "ac": self.costs.e_ac_pj * acs / PJ_PER_MJ}
            return EnergyReport(macs=macs, acs=acs, energy_mj=energy, samples=n, costs=self.costs, layers=layers,
                                firing_rates=rates, energy_model="sops", components_mj=components,
                                counts={"mac": macs, "ac": acs})
        rows = self._tally.rows
        tnames = list(rows.rows)
        width = rows.width
        tflat = _to_floats([_f64(v) for name in tnames for v in rows.rows[name]])
        totals = {name: tflat[width * i: width * (i + 1)] for i, name in enumerate(tnames)}
        priced = self._tally.finish(totals, n)
        layers, macs, acs, components = [], 0.0, 0.0, {}
        for name in self._order:
            if name not in priced:
                continue
            kind, m, a, comp = priced[name]
            rate, binary = base.get(name, (None, False))
            layers.append(LayerEnergy(name=name, kind=kind, input_rate=rate, binary=binary, macs=m, acs=a,
                                      energy_mj=sum(comp.values()), components_mj=comp))
            macs += m
            acs += a
            for k, v in comp.items():
                components[k] = components.get(k, 0.0) + v
        return EnergyReport(macs=macs, acs=acs, energy_mj=sum(components.values()), samples=n, costs=em,
                            layers=layers, firing_rates=rates, energy_model=em.name, components_mj=components,
                            counts=self._tally.counts(totals, n))


def _to_floats(values: list[Any]) -> list[float]:
    """Python floats of a list of floats and 0-d tensors, with one transfer per device."""
    out: list[float] = [v if not torch.is_tensor(v) else 0.0 for v in values]
    idx = [i for i, v in enumerate(values) if torch.is_tensor(v)]
    if idx:
        got = torch.stack([values[i].to(torch.float64).reshape(()) for i in idx]).cpu().tolist()
        for i, v in zip(idx, got):
            out[i] = v
    return out


@torch.no_grad()
def measure_energy(model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor],
                   costs: EnergyCosts = EnergyCosts(), *, sync_free: bool | None = None,
                   energy_model: "str | EnergyModel | None" = None) -> EnergyReport:
    """Energy per sample of ``model`` (in its current train/eval mode) on ``inputs``.

    ``inputs``: one batch ``[N, C, H, W]`` (or ``[T, N, C, H, W]`` frames), or an iterable
    of such batches (the report is the mean per sample over all of them).
    ``energy_model``: ``"sops"`` (default, priced with ``costs``), ``"simple"``,
    ``"lemaire"`` or a costs instance (:func:`resolve_energy_model`).
    """
    with EnergyMeter(model, costs, sync_free=sync_free, energy_model=energy_model) as meter:
        for x in ([inputs] if torch.is_tensor(inputs) else inputs):
            model(x)
    return meter.report()
