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

Whether a tensor is binary is decided per call, on the whole batch, as spikingjelly does.
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

from autosnn.fitness.energy_models import ENERGY_MODELS, LemaireCosts, LemaireTally, SimpleCosts, SimpleTally
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

    ``input_rate``: firing rate of the input spikes (for attention, over q, k and v
    together), ``None`` when the input was not binary (charged MACs). ``binary``: the input
    was a 0/1 tensor on every call. Under the ``simple`` and ``lemaire`` models, ``macs`` /
    ``acs`` are that model's counts, rows also cover neurons, BatchNorm, residual sums and
    readout means (kinds ``neuron``, ``batchnorm``, ``residual``, ``mean``), and
    ``components_mj`` splits ``energy_mj`` as spikingjelly's estimator does (empty under
    ``sops``, and then left out of :meth:`to_dict`).
    """

    name: str
    kind: str                  # conv2d | conv1d | linear | attention (| neuron | batchnorm | residual | mean)
    input_rate: float | None   # None when the input was never binary
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


def _binary_check(x: torch.Tensor, sync_free: bool) -> bool | torch.Tensor:
    """Whether every element of ``x`` is 0 or 1: a 0-d bool tensor when ``sync_free`` (no
    device synchronisation), else a Python bool (a small prefix is checked first, so a
    non-binary tensor is usually rejected at once)."""
    if x.dtype == torch.bool:
        return True
    if not sync_free:
        head = x.reshape(-1)[:4096]
        if not bool((head.eq(0) | head.eq(1)).all()):
            return False
        return bool((x.eq(0) | x.eq(1)).all())
    return (x.eq(0) | x.eq(1)).all()


def _where(flag: bool | torch.Tensor, yes, no):
    """``yes()`` if ``flag`` else ``no()``; both evaluated and selected when ``flag`` is a tensor."""
    if isinstance(flag, bool):
        return yes() if flag else no()
    a, b = yes(), no()
    return torch.where(flag, torch.as_tensor(a, dtype=torch.float64, device=flag.device),
                       torch.as_tensor(b, dtype=torch.float64, device=flag.device))


def _and(*flags: bool | torch.Tensor) -> bool | torch.Tensor:
    """Logical and of Python bools and 0-d bool tensors."""
    if all(isinstance(f, bool) for f in flags):
        return all(flags)
    if any(f is False for f in flags):
        return False
    tensors = [f for f in flags if torch.is_tensor(f)]
    out = tensors[0]
    for t in tensors[1:]:
        out = out & t
    return out


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


def _conv_counts(module: nn.Module, x: torch.Tensor, y: torch.Tensor, binary, nnz):
    """(macs, acs, nnz) of a Conv1d/Conv2d call: input ``x`` ``[B, Cin, *S]``, output ``y``
    ``[B, Cout, *S']``. ``nnz`` (spikes in ``x``) may be ``None`` (computed when needed)."""
    nd = x.dim() - 2
    B, cin, cout, g = x.shape[0], x.shape[1], y.shape[1], module.groups
    ks, st = _tuple(module.kernel_size, nd), _tuple(module.stride, nd)
    pd, dl = _tuple(module.padding, nd), _tuple(module.dilation, nd)
    if isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise NotImplementedError(f"{type(module).__name__}: only explicit zero padding is counted")
    full = float(B * cout * math.prod(y.shape[2:]) * (cin // g) * math.prod(ks))
    if binary is False:
        return full, 0.0, 0.0
    if all(k == 1 for k in ks) and all(s == 1 for s in st) and all(p == 0 for p in pd):
        if nnz is None:
            nnz = x.sum()  # = spikes, since x is binary (summing is far faster than count_nonzero)
        acs = _f64(nnz) * cout
    else:  # spikes per input position (and group), weighted by how many outputs read it
        if g == 1:
            s = x.reshape(B * cin, -1).sum(0).to(torch.float64).view(1, *x.shape[2:])  # [1, *S]
        else:
            s = x.reshape(B, g, cin // g, *x.shape[2:]).sum(dim=(0, 2)).to(torch.float64)  # [g, *S]
        if nnz is None:
            nnz = s.sum()
        cover = _coverage_map(tuple(x.shape[2:]), tuple(y.shape[2:]), ks, st, pd, dl, x.device)
        acs = (s * cover).sum() * (cout // g)
    if binary is True:
        return 0.0, acs, nnz
    return _where(binary, lambda: 0.0, lambda: full), _where(binary, lambda: acs, lambda: 0.0), _f64(nnz)


def _linear_counts(x: torch.Tensor, y: torch.Tensor, binary, nnz):
    """(macs, acs, nnz) of a linear map ``[..., in] -> [..., out]``."""
    fin, fout = x.shape[-1], y.shape[-1]
    full = float(x.numel() // max(1, fin) * fin * fout)
    if binary is False:
        return full, 0.0, 0.0
    if nnz is None:
        nnz = x.sum()  # = spikes, since x is binary (summing is far faster than count_nonzero)
    acs = _f64(nnz) * fout
    if binary is True:
        return 0.0, acs, nnz
    return _where(binary, lambda: 0.0, lambda: full), _where(binary, lambda: acs, lambda: 0.0), _f64(nnz)


def _matmul_counts(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None, a_binary, b_binary):
    """(macs, acs) of the batched matmul ``a @ b`` (``[..., m, k] @ [..., k, n]``) by
    spikingjelly's rules: both binary -> ``sum(a @ b)`` ACs; one binary -> its spikes times
    the other's free dimension; neither -> full MACs."""
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    full = float(a.numel() // max(1, m * k) * m * k * n)

    def both():
        if out is not None:
            return out.sum(dtype=torch.float64)
        # sum(a @ b) = sum_j colsum_j(a) * rowsum_j(b)
        return (a.sum(-2, dtype=torch.float64) * b.sum(-1, dtype=torch.float64)).sum()

    acs = _where(a_binary,
                 lambda: _where(b_binary, both, lambda: _f64(a.sum()) * n),
                 lambda: _where(b_binary, lambda: _f64(b.sum()) * m, lambda: 0.0))
    macs = _where(a_binary, lambda: 0.0, lambda: _where(b_binary, lambda: 0.0, lambda: full))
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
    element-wise, as spikingjelly does.

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
        #: per layer: [macs, acs, spikes in binary calls, elements of binary calls, binary calls, calls]
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
                (bx, nx), (by, ny) = self._input(x), self._input(output)
                both = _and(bx, by)
                if both is False:
                    self._tally.residual(name, False, 0.0, output.numel())
                    return
                nnz = _f64(x.sum() if nx is None else nx) + _f64(output.sum() if ny is None else ny)
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

    def _input(self, x: torch.Tensor) -> tuple[Any, Any]:
        known, nnz = self._spikes_of(x)
        return (True, nnz) if known else (_binary_check(x, self.sync_free), None)

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
                if kind == "attention":
                    macs, acs, nnz, binary = self._attention_counts(*args[:3])
                    numel = sum(t.numel() for t in args[:3])
                else:
                    x = args[0]
                    binary, nnz = self._input(x)
                    counts = _linear_counts if kind == "linear" else (lambda *a: _conv_counts(module, *a))
                    macs, acs, nnz = counts(x, output, binary, nnz)
                    numel = x.numel()
                if isinstance(binary, bool):
                    self._add(name, [macs, acs, nnz, numel if binary else 0, int(binary), 1])
                else:
                    b = binary.to(torch.float64)  # spikes count only where the input was binary
                    self._add(name, [macs, acs, nnz * b, b * numel, b, 1])
                if self._tally is not None:
                    if kind != "attention" and nnz is None and binary is not False:
                        nnz = x.sum()
                    self._tally.synaptic(name, kind, module, None if kind == "attention" else args[0], output,
                                         binary, nnz, macs, acs, self._batch)
        return hook

    def _attention_counts(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """(macs, acs, spikes, binary) of ``(v @ k^T) @ q``, matmul by matmul."""
        (bq, _), (bk, _), (bv, _) = self._input(q), self._input(k), self._input(v)
        kt = k.transpose(-2, -1)
        a = v @ kt                                                      # [.., d, d]
        binary = _and(bq, bk, bv)
        if binary is True:  # the usual case: q, k, v are views of a neuron's output
            sq = q.sum()
            spikes = _f64(sq + k.sum() + v.sum())
            acs1 = a.sum(dtype=torch.float64)                           # spike x spike: coincidences
            if self.sync_free:
                a_binary = a.amax() <= 1                                # a holds counts >= 0
                acs2 = torch.where(a_binary, (a.sum(-2, dtype=torch.float64) * q.sum(-1, dtype=torch.float64)).sum(),
                                   _f64(sq) * a.shape[-2])
            elif bool(a.amax() <= 1):
                acs2 = (a.sum(-2, dtype=torch.float64) * q.sum(-1, dtype=torch.float64)).sum()
            else:
                acs2 = _f64(sq) * a.shape[-2]                           # every spike of q reads a column of a
            return 0.0, acs1 + acs2, spikes, True
        m1, a1 = _matmul_counts(v, kt, a, bv, bk)
        m2, a2 = _matmul_counts(a, q, None, _binary_check(a, self.sync_free), bq)
        spikes = _where(binary, lambda: _f64(q.sum() + k.sum() + v.sum()), lambda: 0.0)
        return _f64(m1) + _f64(m2), _f64(a1) + _f64(a2), spikes, binary

    def _neuron_hook(self, name: str, binary_by_construction: bool):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not torch.is_tensor(output):
                return
            with torch.no_grad():
                # spikes: the sum, for binary outputs (count_nonzero is ~100x slower on the CPU)
                nnz = output.sum() if binary_by_construction else output.count_nonzero()
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
