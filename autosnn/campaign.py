"""The campaign file: one YAML describing a whole campaign, every section with defaults.

``Campaign.from_yaml(path)`` reads and validates it; unknown keys and wrong types are
:class:`~autosnn.errors.ConfigError` naming the key (``supernet.lr: expected a number``).
``campaign.to_dict()`` is the resolved file (every default written out) saved in the run
folder as ``campaign.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml

from autosnn.errors import ConfigError
from autosnn.yaml_file import read_yaml

__all__ = [
    "Campaign", "DataConfig", "SupernetTrainingConfig", "EnergyConfig", "AEBConfig", "FitnessConfig",
    "OperatorConfig", "ConstraintsConfig", "SearchConfig", "EvaluatorConfig", "ExportConfig",
]


@dataclass
class DataConfig:
    name: Literal["digits", "mnist5k", "cifar10", "cifar100", "cifar10-dvs", "dvs128-gesture"] = "digits"
    root: Optional[str] = None
    batch_size: int = 128
    num_workers: int = 0


@dataclass
class SupernetTrainingConfig:
    epochs: int = 40
    lr: float = 1.0e-3
    weight_decay: float = 0.06
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    sampling: Literal["uniform", "sandwich"] = "uniform"
    sandwich_random: int = 2               # sandwich: largest + smallest + this many random subnets per step
    distillation: Literal["none", "inplace"] = "none"  # inplace: the largest teaches the others (BigNAS)
    distillation_temperature: float = 1.0
    grad_clip: float = 5.0
    amp: bool = True                       # used only on CUDA


@dataclass
class EnergyConfig:
    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9


@dataclass
class AEBConfig:
    target_mj: Optional[float] = None      # default: energy of the space's largest subnet
    alpha: float = 0.07
    beta: float = 0.07


@dataclass
class FitnessConfig:
    mode: Literal["supernet", "training-free"] = "supernet"
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    aeb: AEBConfig = field(default_factory=AEBConfig)
    bn_recalibration_batches: int = 0
    max_val_batches: Optional[int] = None  # cap the validation batches per evaluation


@dataclass
class OperatorConfig:
    """Variation probabilities (defaults after Auto-Spikformer)."""

    crossover_prob: float = 0.9            # probability that a mating recombines at all
    crossover_swap_prob: float = 0.5       # per-gene swap probability of uniform crossover
    block_mutation_prob: float = 0.2       # per-block architecture genes (heads, mlp ratio)
    global_mutation_prob: float = 0.4      # depth, embed_dim
    neuron_mutation_prob: float = 0.2      # ESNN: per-block v_threshold / tau
    time_steps_mutation_prob: float = 0.4  # ESNN: T
    polynomial_eta: float = 20.0           # ESNN: mutPolynomialBounded (continuous thresholds)


@dataclass
class ConstraintsConfig:
    params_max: Optional[int] = None
    energy_max_mj: Optional[float] = None
    time_steps_max: Optional[int] = None


@dataclass
class SearchConfig:
    algorithm: Literal["nsga2", "random", "ga-aeb"] = "nsga2"
    population: int = 24
    generations: int = 10
    operators: OperatorConfig = field(default_factory=OperatorConfig)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)


@dataclass
class EvaluatorConfig:
    kind: Literal["local", "ray"] = "local"
    workers: int = 2
    address: Optional[str] = None
    gpus_per_worker: float = 0.0           # fraction of a GPU per actor when CUDA is present
    max_retries: int = 1


@dataclass
class ExportConfig:
    pick: str = "aeb"                      # aeb | knee | a candidate id
    top: int = 1


@dataclass
class Campaign:
    name: str = "campaign"
    seed: int = 0
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
        raise ConfigError(f"{source}: {section} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; allowed in {section}: {names}")
    kwargs = {k: _coerce(hints[k], v, prefix + k, source) for k, v in data.items()}
    obj = cls(**kwargs)
    _check_ranges(obj, source, prefix)
    return obj


_POSITIVE = {"batch_size", "epochs", "population", "generations", "workers", "lr", "e_mac_pj", "e_ac_pj", "top",
             "distillation_temperature"}
_NON_NEGATIVE = {"num_workers", "weight_decay", "warmup_epochs", "label_smoothing", "grad_clip", "alpha", "beta",
                 "bn_recalibration_batches", "gpus_per_worker", "max_retries", "polynomial_eta", "sandwich_random"}


def _check_ranges(obj: Any, source: str, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if f.name in _POSITIVE and v <= 0:
            raise ConfigError(f"{source}: {prefix}{f.name} must be > 0, got {v}")
        if f.name in _NON_NEGATIVE and v < 0:
            raise ConfigError(f"{source}: {prefix}{f.name} must be >= 0, got {v}")
        if f.name.endswith("_prob") and not 0.0 <= v <= 1.0:
            raise ConfigError(f"{source}: {prefix}{f.name} must be in [0, 1], got {v}")
