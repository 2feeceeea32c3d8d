"""``SubnetConfig``: one candidate network, as a frozen, hashable, JSON-round-trippable value."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

__all__ = ["SubnetConfig", "BLOCK_FIELDS", "MIXERS", "MIXER_LETTERS"]

#: Fields that hold one value per encoder block (in every space).
BLOCK_FIELDS: tuple[str, ...] = ("num_heads", "mlp_ratio", "v_threshold", "tau")

#: Token mixers a block may use, in canonical order: Spikformer's spiking self-attention
#: and QKFormer's token-wise and channel-wise Q-K attention.
MIXERS: tuple[str, ...] = ("ssa", "qk_token", "qk_channel")
#: One-letter labels of the mixers (``a[s,t,c]`` in tables and plots).
MIXER_LETTERS: dict[str, str] = {"ssa": "s", "qk_token": "t", "qk_channel": "c"}


_REQUIRED = ("depth", "embed_dim", "num_heads", "mlp_ratio", "v_threshold", "tau", "time_steps")


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class SubnetConfig:
    """One subnet of a search space, plus the fixed settings needed to build it.

    ``num_heads``, ``mlp_ratio``, ``v_threshold`` and ``tau`` hold one value per block
    (``len == depth``). The fixed settings (``in_channels``, ``image_size``,
    ``num_classes``, ``patch_size``) come from the space, so a ``SubnetConfig`` alone is
    enough to construct :class:`autosnn.Spikformer`.

    A block's ``tau`` is the membrane time constant of all its LIF neurons; its
    ``v_threshold`` is the firing threshold of all of them except the attention neuron
    (SSA's output neuron, Q-K attention's mask neuron), which takes half: the default 1.0
    gives spikingjelly's Spikformer (0.5); at other thresholds the block equals
    spikingjelly's layers built with that threshold and their attention neuron set to half
    (spikingjelly itself would pass the full threshold to it).

    ``attention`` is every block's token mixer (one of :data:`MIXERS`); left empty it is
    all ``"ssa"``. A config whose blocks are all ``"ssa"`` serialises without the field,
    so its JSON and :attr:`id` are those of a config from before the field existed.
    """

    depth: int
    embed_dim: int
    num_heads: tuple[int, ...]
    mlp_ratio: tuple[float, ...]
    v_threshold: tuple[float, ...]
    tau: tuple[float, ...]
    time_steps: int
    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10
    patch_size: int = 4
    attention: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Normalise types so equal configs hash equally whatever built them.
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "embed_dim", int(self.embed_dim))
        object.__setattr__(self, "time_steps", int(self.time_steps))
        for name, cast in (("num_heads", int), ("mlp_ratio", float), ("v_threshold", float), ("tau", float)):
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                raise ValueError(f"{name}: expected one value per block (a list of length {self.depth}), got {value!r}")
            object.__setattr__(self, name, tuple(round(cast(v), 6) if cast is float else cast(v) for v in value))
        for name in BLOCK_FIELDS:
            if len(getattr(self, name)) != self.depth:
                raise ValueError(
                    f"{name}: needs one value per block ({self.depth} for depth {self.depth}), "
                    f"got {len(getattr(self, name))}: {list(getattr(self, name))}"
                )
        attention = ("ssa",) * self.depth if len(self.attention) == 0 else self.attention
        if isinstance(attention, str):
            raise ValueError(f"attention: expected one mixer per block (a list of length {self.depth}), got {attention!r}")
        attention = tuple(str(a) for a in attention)
        if len(attention) != self.depth:
            raise ValueError(f"attention: needs one value per block ({self.depth} for depth {self.depth}), "
                             f"got {len(attention)}: {list(attention)}")
        for i, a in enumerate(attention):
            if a not in MIXERS:
                raise ValueError(f"attention: block {i} has {a!r}; allowed: {list(MIXERS)}")
        object.__setattr__(self, "attention", attention)
        for i, h in enumerate(self.num_heads):
            if h <= 0 or self.embed_dim % h != 0:
                raise ValueError(f"num_heads: block {i} has {h} heads, which does not divide embed_dim {self.embed_dim}")

    # ----------------------------------------------------------------- views
    def hidden_dim(self, block: int) -> int:
        """MLP hidden width of ``block``: ``int(embed_dim * mlp_ratio)``."""
        return int(self.embed_dim * self.mlp_ratio[block])

    @property
    def arch_string(self) -> str:
        """A short human-readable architecture, e.g. ``d3-e240-h[12,6,12]-r[4,3.5,4]``."""
        heads = ",".join(str(h) for h in self.num_heads)
        ratios = ",".join(_fmt(r) for r in self.mlp_ratio)
        mixers = "" if self.all_ssa else f"-{self.attention_string}"
        return f"d{self.depth}-e{self.embed_dim}-h[{heads}]-r[{ratios}]{mixers}"

    @property
    def all_ssa(self) -> bool:
        """Every block uses Spikformer's SSA (the configs of spaces without ``attention``)."""
        return all(a == "ssa" for a in self.attention)

    @property
    def attention_string(self) -> str:
        """Per-block token mixers in short form, e.g. ``a[t,t,s]`` (s: SSA, t: token Q-K,
        c: channel Q-K)."""
        return "a[" + ",".join(MIXER_LETTERS[a] for a in self.attention) + "]"

    @property
    def neuron_string(self) -> str:
        """Neuron genes in short form, e.g. ``T4-th[1,1.2]-tau[2,2]``."""
        return f"T{self.time_steps}-{self.threshold_tau_string}"

    @property
    def threshold_tau_string(self) -> str:
        """Per-block thresholds and time constants, e.g. ``th[1,1.2]-tau[2,2]``."""
        th = ",".join(_fmt(v) for v in self.v_threshold)
        tau = ",".join(_fmt(v) for v in self.tau)
        return f"th[{th}]-tau[{tau}]"

    def __str__(self) -> str:
        return f"{self.arch_string}-{self.neuron_string}"

    # --------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in BLOCK_FIELDS:
            d[name] = list(d[name])
        if self.all_ssa:
            del d["attention"]  # an all-SSA config keeps its JSON (and id) from before mixers
        else:
            d["attention"] = list(d["attention"])
        return d

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SubnetConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"SubnetConfig: unknown field(s) {unknown}; allowed: {sorted(known)}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise ValueError(f"SubnetConfig: missing field(s) {missing}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})

    @classmethod
    def from_json(cls, text: str) -> "SubnetConfig":
        return cls.from_dict(json.loads(text))

    @property
    def id(self) -> str:
        """A stable 10-hex-digit id derived from the canonical JSON."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:10]
