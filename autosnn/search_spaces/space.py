"""``SearchSpace``: the choices of one Spikformer search space, and its integer genome.

Genome layout (fixed length ``3 + 4 * max_depth``, each gene an index into its
dimension's choices)::

    [depth, embed_dim, time_steps,
     block0.num_heads, block0.mlp_ratio, block0.v_threshold, block0.tau,
     block1.num_heads, ...]

A space that declares the per-block token mixer ``attention`` has one more gene per
block, after ``tau`` (length ``3 + 5 * max_depth``); a space that does not is all
``ssa`` and keeps the layout above.

Genes of blocks at or beyond ``depth`` are inactive; :meth:`SearchSpace.canonical`
sets them to 0 so that two genomes that decode to the same subnet are equal.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from autosnn.errors import ConfigError
from autosnn.yaml_file import read_yaml
from autosnn.search_spaces.subnet_config import BLOCK_FIELDS, MIXERS, SubnetConfig

__all__ = ["SearchSpace", "GLOBAL_FIELDS", "NEURON_FIELDS"]

GLOBAL_FIELDS: tuple[str, ...] = ("depth", "embed_dim", "time_steps")
#: The genes ESNN owns: per-block neuron parameters and the global time steps.
NEURON_FIELDS: tuple[str, ...] = ("v_threshold", "tau", "time_steps")
FIXED_FIELDS: tuple[str, ...] = ("in_channels", "image_size", "num_classes", "patch_size")
_FLOAT_FIELDS = ("mlp_ratio", "v_threshold", "tau")
_ALL_DIMS = GLOBAL_FIELDS + BLOCK_FIELDS
#: The optional per-block dimension: the token mixer of every block.
ATTENTION = "attention"


def _finite(value: Any, where: str) -> float:
    """``value`` as a float; anything but a finite number is a ``ConfigError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _expand_range(name: str, spec: Mapping[str, Any], source: str) -> tuple[float, ...]:
    extra = set(spec) - {"low", "high", "step"}
    if extra or not {"low", "high", "step"} <= set(spec):
        raise ConfigError(f"dimensions.{name}: a range needs exactly low, high and step (got {sorted(spec)})")
    low, high, step = (_finite(spec[k], f"{source}: dimensions.{name}.{k}") for k in ("low", "high", "step"))
    if not (step > 0 and high >= low):
        raise ConfigError(f"dimensions.{name}: need step > 0 and high >= low (got {dict(spec)})")
    n = int(math.floor((high - low) / step + 1e-9)) + 1
    if n > 10_000:
        raise ConfigError(f"{source}: dimensions.{name}: {n:,} values from low {low:g} to high {high:g} in steps of "
                          f"{step:g}; at most 10,000")
    return tuple(round(low + i * step, 6) for i in range(n))


@dataclass(frozen=True)
class SearchSpace:
    """The choices of every dimension, and the fixed settings of the task.

    ``choices[name]`` is a sorted tuple for each of ``depth``, ``embed_dim``,
    ``time_steps`` (global) and ``num_heads``, ``mlp_ratio``, ``v_threshold``, ``tau``
    (chosen per block), and ``attention`` (the per-block token mixer, one of
    ``ssa``, ``qk_token``, ``qk_channel``) when the space declares it; a space without
    it is all ``ssa``. ``continuous_threshold`` marks a threshold declared as a
    ``{low, high, step}`` range, which ESNN varies with polynomial-bounded mutation.
    """

    name: str
    choices: Mapping[str, tuple]
    in_channels: int
    image_size: int
    num_classes: int
    patch_size: int
    default_v_threshold: float = 1.0
    default_tau: float = 2.0
    continuous_threshold: bool = False
    description: str = ""

    # ------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "space") -> "SearchSpace":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a search space must be a mapping, got {type(data).__name__}")
        allowed = {"name", "description", "fixed", "dimensions", "defaults"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("name", "fixed", "dimensions"):
            if key not in data:
                raise ConfigError(f"{source}: missing key '{key}'")
        fixed = data["fixed"] or {}
        dims = data["dimensions"] or {}
        defaults = data.get("defaults") or {}
        for section, value, keys in (("fixed", fixed, FIXED_FIELDS), ("dimensions", dims, _ALL_DIMS + (ATTENTION,)),
                                     ("defaults", defaults, ("v_threshold", "tau"))):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{section}' must be a mapping")
            bad = sorted(set(value) - set(keys))
            if bad:
                raise ConfigError(f"{source}: unknown key(s) {bad} in '{section}'; allowed: {list(keys)}")
        for key in FIXED_FIELDS:
            if key not in fixed:
                raise ConfigError(f"{source}: missing 'fixed.{key}'")
            if not isinstance(fixed[key], int) or isinstance(fixed[key], bool) or fixed[key] <= 0:
                raise ConfigError(f"{source}: fixed.{key} must be a positive integer, got {fixed[key]!r}")
        choices: dict[str, tuple] = {}
        continuous = False
        for name in _ALL_DIMS:
            if name not in dims:
                raise ConfigError(f"{source}: missing 'dimensions.{name}'")
            spec = dims[name]
            if isinstance(spec, Mapping):
                if name != "v_threshold":
                    raise ConfigError(f"{source}: dimensions.{name} must be a list (only v_threshold may be a range)")
                values: tuple = _expand_range(name, spec, source)
                continuous = True
            elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) > 0:
                values = tuple(spec)
            else:
                raise ConfigError(f"{source}: dimensions.{name} must be a non-empty list, got {spec!r}")
            cast = float if name in _FLOAT_FIELDS else int
            for v in values:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                if not ok or (cast is int and float(v) != int(v)) or v <= 0:
                    raise ConfigError(f"{source}: dimensions.{name} holds {v!r}; expected positive {cast.__name__}s")
            values = tuple(sorted({round(cast(v), 6) if cast is float else cast(v) for v in values}))
            choices[name] = values
        if ATTENTION in dims:
            choices[ATTENTION] = _mixer_choices(dims[ATTENTION], source)
        if choices["tau"][0] <= 1.0:
            raise ConfigError(f"{source}: dimensions.tau must be > 1.0 (LIF time constant), got {list(choices['tau'])}")
        space = cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            choices=choices,
            in_channels=fixed["in_channels"],
            image_size=fixed["image_size"],
            num_classes=fixed["num_classes"],
            patch_size=fixed["patch_size"],
            default_v_threshold=_finite(defaults.get("v_threshold", 1.0), f"{source}: defaults.v_threshold"),
            default_tau=_finite(defaults.get("tau", 2.0), f"{source}: defaults.tau"),
            continuous_threshold=continuous,
        )
        space._check_consistent(source)
        return space

    def _check_consistent(self, source: str) -> None:
        p = self.patch_size
        if p & (p - 1) or p > 16:
            raise ConfigError(f"{source}: fixed.patch_size must be 1, 2, 4, 8 or 16, got {p}")
        if self.image_size % p:
            raise ConfigError(f"{source}: fixed.image_size {self.image_size} is not divisible by patch_size {p}")
        for e in self.choices["embed_dim"]:
            if e % 8:
                raise ConfigError(f"{source}: dimensions.embed_dim {e} is not a multiple of 8 (the stem uses E/8)")
            if not any(e % h == 0 for h in self.choices["num_heads"]):
                raise ConfigError(f"{source}: embed_dim {e} is divisible by none of num_heads {list(self.choices['num_heads'])}")
        for name, default in (("v_threshold", self.default_v_threshold), ("tau", self.default_tau)):
            if not any(abs(default - c) < 1e-6 for c in self.choices[name]):
                raise ConfigError(f"{source}: defaults.{name} {default} is not one of dimensions.{name} {list(self.choices[name])}")

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SearchSpace":
        return cls.from_dict(read_yaml(path, "search space file"), source=str(path))

    @staticmethod
    def builtin_names() -> list[str]:
        folder = resources.files("autosnn.search_spaces") / "builtin"
        return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))

    @classmethod
    def builtin(cls, name: str) -> "SearchSpace":
        if name not in cls.builtin_names():
            raise ConfigError(f"unknown built-in space '{name}'; built-ins: {cls.builtin_names()}")
        text = (resources.files("autosnn.search_spaces") / "builtin" / f"{name}.yaml").read_text()
        return cls.from_dict(yaml.safe_load(text), source=f"built-in space '{name}'")

    @classmethod
    def resolve(cls, name_or_path: str | Path) -> "SearchSpace":
        """A built-in name, or a path to a space YAML."""
        text = str(name_or_path)
        if text in cls.builtin_names():
            return cls.builtin(text)
        if text.endswith((".yaml", ".yml")) or Path(text).exists():
            return cls.from_yaml(text)
        raise ConfigError(f"space '{text}' is neither a built-in ({', '.join(cls.builtin_names())}) nor a YAML file")

    def to_dict(self) -> dict[str, Any]:
        dims: dict[str, Any] = {k: list(self.choices[k]) for k in self.dimensions}
        return {
            "name": self.name,
            "description": self.description,
            "fixed": self.fixed(),
            "dimensions": dims,
            "defaults": {"v_threshold": self.default_v_threshold, "tau": self.default_tau},
        }

    def fixed(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in FIXED_FIELDS}

    @property
    def fingerprint(self) -> str:
        """Hash of everything that shapes the supernet's weights (not the name)."""
        d = self.to_dict()
        payload = {"fixed": d["fixed"], "embed_dim": d["dimensions"]["embed_dim"],
                   "depth": d["dimensions"]["depth"], "mlp_ratio": d["dimensions"]["mlp_ratio"]}
        if self.has_attention:  # per-mixer BatchNorms (absent from all-SSA spaces' hashes)
            payload["attention"] = d["dimensions"][ATTENTION]
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    # ------------------------------------------------------------- properties
    @property
    def has_attention(self) -> bool:
        """Whether the space declares the per-block token-mixer dimension."""
        return ATTENTION in self.choices

    @property
    def mixers(self) -> tuple[str, ...]:
        """The token mixers a block may use (``("ssa",)`` when not declared)."""
        return self.choices.get(ATTENTION, ("ssa",))

    @property
    def block_fields(self) -> tuple[str, ...]:
        """The per-block dimensions of this space, in genome order."""
        return BLOCK_FIELDS + ((ATTENTION,) if self.has_attention else ())

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every dimension of this space (global, then per block)."""
        return GLOBAL_FIELDS + self.block_fields

    def block_start(self, block: int) -> int:
        """Index of the first gene of ``block``."""
        return len(GLOBAL_FIELDS) + block * len(self.block_fields)

    @property
    def max_depth(self) -> int:
        return max(self.choices["depth"])

    @property
    def max_embed_dim(self) -> int:
        return max(self.choices["embed_dim"])

    @property
    def max_hidden_dim(self) -> int:
        return int(self.max_embed_dim * max(self.choices["mlp_ratio"]))

    @property
    def gene_names(self) -> list[str]:
        names = list(GLOBAL_FIELDS)
        for b in range(self.max_depth):
            names += [f"block{b}.{f}" for f in self.block_fields]
        return names

    @property
    def n_genes(self) -> int:
        return self.block_start(self.max_depth)

    def gene_field(self, index: int) -> str:
        """The dimension a gene indexes (``'tau'`` for ``block2.tau``)."""
        return self.gene_names[index].split(".")[-1]

    @property
    def n_choices(self) -> np.ndarray:
        """Number of choices of every gene, shape ``[n_genes]`` (computed once; read-only)."""
        if "_n_choices" not in self.__dict__:  # frozen dataclass: not a field, not compared
            n = np.array([len(self.choices[self.gene_field(i)]) for i in range(self.n_genes)], dtype=np.int64)
            n.flags.writeable = False
            self.__dict__["_n_choices"] = n
        return self.__dict__["_n_choices"]

    def genes_of(self, *fields: str) -> np.ndarray:
        """Indices of the genes of the given dimensions (e.g. ``genes_of('tau')``), computed
        once per space and field set (the operators ask for every offspring); read-only."""
        cache = self.__dict__.setdefault("_genes_of", {})  # frozen dataclass: not a field, not compared
        if fields not in cache:
            idx = np.array([i for i in range(self.n_genes) if self.gene_field(i) in fields], dtype=np.int64)
            idx.flags.writeable = False
            cache[fields] = idx
        return cache[fields]

    @property
    def neuron_genes(self) -> np.ndarray:
        """The genes ESNN varies: every block's v_threshold and tau, and time_steps."""
        return self.genes_of(*NEURON_FIELDS)

    @property
    def arch_genes(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.n_genes), self.neuron_genes)

    # ------------------------------------------------------------- configs
    def _check_value(self, name: str, value: Any) -> Any:
        allowed = self.choices[name]
        for c in allowed:
            try:
                if abs(float(value) - float(c)) < 1e-6:
                    return c
            except (TypeError, ValueError):
                break
        raise ConfigError(f"{name}: {value!r} is not in space '{self.name}'; allowed: {list(allowed)}")

    def _check_mixer(self, value: Any) -> str:
        if value in self.mixers:
            return value
        raise ConfigError(f"{ATTENTION}: {value!r} is not in space '{self.name}'; allowed: {list(self.mixers)}")

    def config(self, **values: Any) -> SubnetConfig:
        """Build a validated :class:`SubnetConfig`.

        A scalar given for a per-block field applies to every block. A field left out
        takes the largest subnet's value (neuron parameters: the space defaults).
        ``attention`` may be given to any space, but only mixers the space holds
        (``ssa`` where it declares none).
        """
        fields = _ALL_DIMS + (ATTENTION,)
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"unknown field(s) {unknown}; fields: {list(fields)}")
        base = self.largest()
        merged: dict[str, Any] = {f: values.get(f, getattr(base, f)) for f in GLOBAL_FIELDS}
        merged = {f: self._check_value(f, v) for f, v in merged.items()}
        depth = merged["depth"]
        for f in BLOCK_FIELDS:
            v = values.get(f, getattr(base, f)[0])
            if isinstance(v, (list, tuple)):
                if len(v) != depth:
                    raise ConfigError(f"{f}: needs one value per block ({depth} for depth {depth}), got {len(v)}: {list(v)}")
                merged[f] = tuple(self._check_value(f, x) for x in v)
            else:
                merged[f] = (self._check_value(f, v),) * depth
        mixer = values.get(ATTENTION, base.attention[0])
        if isinstance(mixer, (list, tuple)):
            if len(mixer) != depth:
                raise ConfigError(f"{ATTENTION}: needs one value per block ({depth} for depth {depth}), "
                                  f"got {len(mixer)}: {list(mixer)}")
            merged[ATTENTION] = tuple(self._check_mixer(a) for a in mixer)
        else:
            merged[ATTENTION] = (self._check_mixer(mixer),) * depth
        for i, h in enumerate(merged["num_heads"]):
            if merged["embed_dim"] % h:
                raise ConfigError(f"num_heads: block {i} has {h} heads, which does not divide embed_dim {merged['embed_dim']}; "
                                  f"allowed here: {self.heads_for(merged['embed_dim'])}")
        return SubnetConfig(**merged, **self.fixed())

    def validate(self, cfg: SubnetConfig) -> SubnetConfig:
        """Check that ``cfg`` lies in this space (fixed settings included)."""
        for k, v in self.fixed().items():
            if getattr(cfg, k) != v:
                raise ConfigError(f"{k}: config has {getattr(cfg, k)} but space '{self.name}' fixes {v}")
        d = cfg.to_dict()
        return self.config(**{f: d[f] for f in _ALL_DIMS}, attention=cfg.attention)

    def heads_for(self, embed_dim: int) -> list[int]:
        return [h for h in self.choices["num_heads"] if embed_dim % h == 0]

    def largest(self) -> SubnetConfig:
        """Every architecture dimension and T at its maximum; neuron parameters at the defaults;
        SSA in every block if the space has it (the mixer with the most weights and work)."""
        return self._extreme(max, "ssa" if "ssa" in self.mixers else self.mixers[0])

    def smallest(self) -> SubnetConfig:
        """Every architecture dimension and T at its minimum; neuron parameters at the defaults;
        the first Q-K mixer of the space in every block, if it has one (no V, no matmul)."""
        return self._extreme(min, next((m for m in self.mixers if m != "ssa"), "ssa"))

    def _extreme(self, pick, mixer: str) -> SubnetConfig:
        depth, embed = pick(self.choices["depth"]), pick(self.choices["embed_dim"])
        return SubnetConfig(
            depth=depth, embed_dim=embed, time_steps=pick(self.choices["time_steps"]),
            num_heads=(pick(self.heads_for(embed)),) * depth,
            mlp_ratio=(pick(self.choices["mlp_ratio"]),) * depth,
            v_threshold=(self.default_v_threshold,) * depth, tau=(self.default_tau,) * depth,
            attention=(mixer,) * depth, **self.fixed(),
        )

    def sample(self, rng: np.random.Generator) -> SubnetConfig:
        """A uniformly random valid subnet (per-block choices drawn independently)."""
        c = self.choices
        depth = int(rng.choice(c["depth"]))
        embed = int(rng.choice(c["embed_dim"]))
        heads = self.heads_for(embed)
        return SubnetConfig(
            depth=depth, embed_dim=embed, time_steps=int(rng.choice(c["time_steps"])),
            num_heads=tuple(int(rng.choice(heads)) for _ in range(depth)),
            mlp_ratio=tuple(float(rng.choice(c["mlp_ratio"])) for _ in range(depth)),
            v_threshold=tuple(float(rng.choice(c["v_threshold"])) for _ in range(depth)),
            tau=tuple(float(rng.choice(c["tau"])) for _ in range(depth)),
            # drawn only where declared, so all-SSA spaces keep their random streams
            attention=tuple(str(rng.choice(c[ATTENTION])) for _ in range(depth)) if self.has_attention else (),
            **self.fixed(),
        )

    # ------------------------------------------------------------- genome
    def encode(self, cfg: SubnetConfig) -> np.ndarray:
        """The canonical genome of ``cfg`` (inactive block genes are 0)."""
        cfg = self.validate(cfg)
        g = np.zeros(self.n_genes, dtype=np.int64)
        for i, f in enumerate(GLOBAL_FIELDS):
            g[i] = self.choices[f].index(getattr(cfg, f))
        for b in range(cfg.depth):
            for j, f in enumerate(self.block_fields):
                g[self.block_start(b) + j] = self.choices[f].index(getattr(cfg, f)[b])
        return g

    def decode(self, genome: Sequence[int] | np.ndarray) -> SubnetConfig:
        """The subnet a genome stands for; raises ``ConfigError`` naming a bad gene."""
        g = np.asarray(genome)
        if g.shape != (self.n_genes,):
            raise ConfigError(f"genome: expected {self.n_genes} genes, got shape {tuple(g.shape)}")
        n = self.n_choices
        for i, (v, k) in enumerate(zip(g, n)):
            if not (0 <= int(v) < k) or int(v) != v:
                raise ConfigError(f"genome: gene {self.gene_names[i]} = {v} is outside 0..{k - 1}")
        values: dict[str, Any] = {f: self.choices[f][int(g[i])] for i, f in enumerate(GLOBAL_FIELDS)}
        depth = values["depth"]
        for j, f in enumerate(self.block_fields):
            values[f] = tuple(self.choices[f][int(g[self.block_start(b) + j])] for b in range(depth))
        return self.config(**values)

    def canonical(self, genome: Sequence[int] | np.ndarray) -> np.ndarray:
        """Zero the genes of inactive blocks (no validation of the active ones)."""
        g = np.array(genome, dtype=np.int64, copy=True)
        depth = self.choices["depth"][int(g[0])]
        g[self.block_start(depth):] = 0
        return g

    def repair(self, genome: Sequence[int] | np.ndarray) -> np.ndarray:
        """Clip genes into range, give every active block a head count that divides
        ``embed_dim`` (the nearest valid choice), and canonicalise."""
        g = np.clip(np.asarray(genome, dtype=np.int64), 0, self.n_choices - 1)
        embed = self.choices["embed_dim"][int(g[1])]
        heads = self.choices["num_heads"]
        valid = [i for i, h in enumerate(heads) if embed % h == 0]
        for b in range(self.max_depth):
            i = self.block_start(b)
            if int(g[i]) not in valid:
                g[i] = min(valid, key=lambda v: (abs(v - int(g[i])), v))
        return self.canonical(g)

    def size(self) -> int:
        """Number of distinct subnets in the space."""
        c = self.choices
        total = 0
        for embed in c["embed_dim"]:
            per_block = (len(self.heads_for(embed)) * len(c["mlp_ratio"]) * len(c["v_threshold"]) * len(c["tau"])
                         * len(self.mixers))
            total += sum(per_block ** d for d in c["depth"])
        return total * len(c["time_steps"])

    def describe(self) -> str:
        """A human-readable summary: the dimensions, the fixed settings and the size."""
        lines = [f"space {self.name}" + (f": {self.description}" if self.description else "")]
        f = self.fixed()
        lines.append(f"  input {f['in_channels']}x{f['image_size']}x{f['image_size']}, patch {f['patch_size']}, {f['num_classes']} classes")
        for name in GLOBAL_FIELDS:
            lines.append(f"  {name:<12} {list(self.choices[name])}")
        for name in self.block_fields:
            extra = " (continuous range)" if name == "v_threshold" and self.continuous_threshold else ""
            lines.append(f"  {name:<12} {list(self.choices[name])}  per block{extra}")
        lines.append(f"  defaults     v_threshold={self.default_v_threshold:g} tau={self.default_tau:g}")
        lines.append(f"  largest      {self.largest()}")
        lines.append(f"  smallest     {self.smallest()}")
        lines.append(f"  size         {self.size():,} distinct subnets")
        return "\n".join(lines)


def _mixer_choices(spec: Any, source: str) -> tuple[str, ...]:
    """The declared token mixers, deduplicated, in the canonical order of ``MIXERS``."""
    if not (isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) > 0):
        raise ConfigError(f"{source}: dimensions.{ATTENTION} must be a non-empty list of {list(MIXERS)}, got {spec!r}")
    bad = [v for v in spec if v not in MIXERS]
    if bad:
        raise ConfigError(f"{source}: dimensions.{ATTENTION} holds {bad[0]!r}; allowed: {list(MIXERS)}")
    return tuple(m for m in MIXERS if m in spec)
