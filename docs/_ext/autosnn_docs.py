"""Build-time generation of the docs' reference parts from the code itself.

At ``builder-inited`` this writes Markdown into ``docs/_generated/`` (ignored by git),
which the pages include with MyST's ``{include}``:

- ``campaign_reference.md``: every section and field of the campaign file, from the
  dataclasses of :mod:`autosnn.campaign`: type and choices from the annotations, default
  from the field, range from its ``ranged(...)`` / ``matching(...)`` declaration, meaning
  from the ``Fields:`` list of the class docstring or, failing that, the field's trailing
  ``# comment``. A field with no meaning is a build warning (an error under ``-W``).
- ``campaign_defaults.md``: the resolved campaign file with every default.
- ``spaces.md``: the built-in search spaces (dimensions, sizes, largest and smallest subnets).
- ``layout.md``: the import rules of ``tests/test_layout.py`` (its ``RULES``) and the
  imports between the parts as they are.
- ``cli.md``: ``autosnn --help`` and every subcommand's help, from the parser.
- ``api.md``: an autodoc entry for every name of ``autosnn.__all__``.

The same functions are importable (``python docs/_ext/autosnn_docs.py`` prints them).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib.util
import inspect
import io
import os
import re
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Union

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"

Warn = Callable[[str], None]


# ------------------------------------------------------------------ helpers
def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: str) -> str:
    return f"`{value}`"


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
    return str(value)


# ------------------------------------------------------------------ campaign file
def field_docs(cls: type) -> dict[str, str]:
    """``{field: meaning}`` from the field list after ``Fields:`` in ``cls``'s docstring
    (``:name: text``, continued on indented lines)."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    if "Fields:" not in lines:
        return out
    current = None
    for line in lines[lines.index("Fields:") + 1:]:
        m = re.match(r"^:(\w+): (.*)$", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current is not None and line.startswith(" "):
            out[current] += " " + line.strip()
        elif line.strip():
            break
    return out


def class_summary(cls: type) -> str:
    """The first paragraph of ``cls``'s docstring (before ``Fields:``)."""
    doc = inspect.getdoc(cls) or ""
    para = doc.split("\n\n")[0]
    return "" if para.strip() == "Fields:" else " ".join(para.split())


def trailing_comments(cls: type) -> dict[str, str]:
    """``{field: text}`` of the ``# comment`` on each field's line in ``cls``'s source."""
    src = textwrap.dedent(inspect.getsource(cls))
    out: dict[str, str] = {}
    names_by_line: dict[int, str] = {}
    for node in ast.parse(src).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names_by_line[node.lineno] = node.target.id
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in names_by_line:
            out[names_by_line[tok.start[0]]] = tok.string.lstrip("#").strip()
    return out


def _type_text(tp: Any) -> tuple[str, str, bool]:
    """``(type, choices, optional)`` of an annotation."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        kind, choices, _ = _type_text(args[0])
        return kind, choices, True
    if origin is Literal:
        return "choice", ", ".join(_code(str(a)) for a in typing.get_args(tp)), False
    names = {int: "integer", float: "number", bool: "true / false", str: "text"}
    return names.get(tp, getattr(tp, "__name__", str(tp))), "", False


def campaign_sections() -> list[tuple[str, type]]:
    """``[(dotted path, dataclass)]`` of the campaign file, the top level first, each
    section followed by its subsections."""
    from autosnn.campaign import Campaign

    out: list[tuple[str, type]] = []

    def walk(path: str, cls: type) -> None:
        out.append((path, cls))
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(f"{path}.{f.name}" if path else f.name, hints[f.name])

    walk("", Campaign)
    return out


def _anchor(path: str) -> str:
    return "campaign-" + (path.replace(".", "-") if path else "top-level")


def campaign_reference(warn: Warn = print) -> str:
    """The campaign file reference, one table per section."""
    from autosnn.campaign import Range

    parts: list[str] = []
    for path, cls in campaign_sections():
        hints = typing.get_type_hints(cls)
        meanings, comments = field_docs(cls), trailing_comments(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        for stale in sorted(set(meanings) - set(names)):
            warn(f"autosnn.campaign.{cls.__name__}: the docstring describes '{stale}', which is no field")
        title = _code(path) if path else "Top level"
        parts.append(f"({_anchor(path)})=\n### {title}\n")
        summary = class_summary(cls)
        if summary:
            parts.append(summary + "\n")
        parts.append("| field | type | default | allowed | meaning |\n|---|---|---|---|---|")
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            key = f"{path}.{f.name}" if path else f.name
            if dataclasses.is_dataclass(tp):
                sub = class_summary(tp)
                parts.append(f"| {_code(f.name)} | section | | | {_cell(sub)} See [{_code(key)}](#{_anchor(key)}). |")
                continue
            kind, choices, optional = _type_text(tp)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            if "range" in f.metadata:
                rng: Range = f.metadata["range"]
                allowed = rng.describe()
            elif "what" in f.metadata:
                allowed = f.metadata["what"]
            else:
                allowed = choices or ("any" if kind == "text" else "")
            if optional:
                allowed = f"{allowed}, or `null`" if allowed else "`null` or a value"
            meaning = meanings.get(f.name) or comments.get(f.name)
            if not meaning:
                warn(f"autosnn.campaign.{cls.__name__}.{f.name}: no meaning (add it to the class docstring's "
                     f"'Fields:' list or as a trailing comment)")
                meaning = ""
            parts.append(f"| {_code(f.name)} | {kind} | {_code(_yaml_value(default))} | {_cell(allowed)} | "
                         f"{_cell(meaning)} |")
        parts.append("")
    return "\n".join(parts)


def campaign_defaults() -> str:
    from autosnn.campaign import Campaign

    return "```yaml\n" + Campaign().to_yaml() + "```\n"


# ------------------------------------------------------------------ search spaces
def spaces_table() -> str:
    """The built-in spaces: a summary table, then each space's dimensions."""
    import torch

    from autosnn.fitness.flops import ann_macs
    from autosnn.search_spaces import SearchSpace
    from autosnn.supernet import Spikformer

    def cost(cfg) -> str:
        with torch.device("meta"):
            params = Spikformer(cfg).num_parameters()
        return f"{params / 1e6:.3g} M params, {ann_macs(cfg) / 1e6:,.3g} M MACs"

    rows = ["| space | input (C x H x W, patch, classes) | subnets | largest | smallest |", "|---|---|---|---|---|"]
    details = []
    for name in SearchSpace.builtin_names():
        s = SearchSpace.builtin(name)
        f = s.fixed()
        lo, hi = s.smallest(), s.largest()
        rows.append(f"| [{_code(name)}](#space-{name}) | {f['in_channels']} x {f['image_size']} x {f['image_size']}, "
                    f"{f['patch_size']}, {f['num_classes']} | {s.size():,} | {_code(str(hi))}<br>{cost(hi)} | "
                    f"{_code(str(lo))}<br>{cost(lo)} |")
        dims = ["| dimension | choices | per block |", "|---|---|---|"]
        for d in s.dimensions:
            values = ", ".join(_yaml_value(v) for v in s.choices[d])
            if d == "v_threshold" and s.continuous_threshold:
                values = f"{len(s.choices[d])} values from {_yaml_value(s.choices[d][0])} to {_yaml_value(s.choices[d][-1])}"
            dims.append(f"| {_code(d)} | {_cell(values)} | {'yes' if d in s.block_fields else ''} |")
        details.append(f"(space-{name})=\n### {_code(name)}\n\n{_cell(s.description)}. Neuron defaults: "
                       f"`v_threshold` {_yaml_value(s.default_v_threshold)}, `tau` {_yaml_value(s.default_tau)}; "
                       f"{s.size():,} subnets.\n\n" + "\n".join(dims) + "\n")
    note = ("Parameters are the standalone model's; MACs are ANN-equivalent multiply-accumulates per "
            "image over all T steps (`autosnn.fitness.flops.ann_macs`).\n")
    return "\n".join(rows) + "\n\n" + note + "\n" + "\n".join(details)


# ------------------------------------------------------------------ layout
def _layout_module():
    spec = importlib.util.spec_from_file_location("_autosnn_test_layout", ROOT / "tests" / "test_layout.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def layout_table() -> str:
    """The rules ``tests/test_layout.py`` enforces, and which parts import which today."""
    layout = _layout_module()
    rules = ["| part | must not import |", "|---|---|"]
    for part, forbidden in layout.RULES:
        rules.append(f"| `autosnn/{part}/` | {', '.join(_code(m.rstrip('.')) for m in forbidden)} |")
    rules.append("| `autosnn/pipeline/` | nothing forbids it anything; nothing below imports it, and it must "
                 "import search, report, export, fitness and supernet (`test_the_pipeline_composes_the_parts`) |")
    pkg = ROOT / "autosnn"
    parts = sorted(p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    graph = ["| part | imports (from other parts and top-level modules) |", "|---|---|"]
    for part in parts:
        mods = set().union(*layout._imports(part).values()) if layout._imports(part) else set()
        used = sorted({m.split(".")[1] for m in mods if m.count(".") >= 1 and m.split(".")[1] != part
                       and (m.split(".")[1] in parts or (pkg / f"{m.split('.')[1]}.py").exists())})
        graph.append(f"| `{part}` | {', '.join(_code(u) for u in used) or '(none)'} |")
    return ("\n".join(rules) + "\n\nAs the code imports today (computed at build time with the test's own "
            "import reader):\n\n" + "\n".join(graph) + "\n")


# ------------------------------------------------------------------ command line
def cli_reference() -> str:
    from autosnn.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        out = ["## `autosnn`\n", "```text\n" + parser.format_help() + "```\n"]
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        for name, p in sub.choices.items():
            out.append(f"(cli-{name})=\n## `autosnn {name}`\n")
            out.append("```text\n" + p.format_help() + "```\n")
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out)


# ------------------------------------------------------------------ API
def api_reference() -> str:
    import autosnn

    out = []
    for name in autosnn.__all__:
        obj = getattr(autosnn, name)
        kind = "autoclass" if inspect.isclass(obj) else "autofunction"
        out.append(f"## `{name}`\n\n```{{eval-rst}}\n.. {kind}:: autosnn.{name}\n```\n")
    out.append("## Types the API refers to\n\nNot exported from `autosnn`, but named by the signatures "
               "above: the sections of a campaign file ({doc}`campaign` lists their fields), and the "
               "values some functions return or take.\n")
    for target in REFERENCED:
        out.append(f"```{{eval-rst}}\n.. autoclass:: {target}\n   :no-members:\n```\n")
    return "\n".join(out)


#: Classes outside ``autosnn.__all__`` that the public API's signatures and docstrings name.
REFERENCED = [
    *(f"autosnn.campaign.{c}" for c in ("DataConfig", "SupernetTrainingConfig", "FitnessConfig", "EnergyConfig",
                                         "SimpleEnergyConfig", "LemaireEnergyConfig", "AEBConfig", "SearchConfig",
                                         "OperatorConfig", "ConstraintsConfig", "EvaluatorConfig", "ExportConfig")),
    "autosnn.fitness.energy.EnergyReport",
    "autosnn.fitness.energy.LayerEnergy",
    "autosnn.fitness.result.InProcessEvaluator",
    "autosnn.data.splits.DataSplits",
]


# ------------------------------------------------------------------ results
def energy_models_results(path: Path = ROOT / "bench" / "results" / "energy_models.json") -> str:
    """Tables of ``bench/experiments/energy_models.py``'s last results."""
    import ast as _ast
    import json

    d = json.loads(path.read_text())
    ca = d["choice_analysis"]
    models = list(d["energy_models"])
    fronts = d["fronts"] if isinstance(d["fronts"], dict) else _ast.literal_eval(d["fronts"])
    out = [f"Supernet trained {d['supernet_epochs']} epochs (validation accuracy: largest "
           f"{d['supernet_val_accuracy']['largest']:.3f}, smallest {d['supernet_val_accuracy']['smallest']:.3f}); "
           f"pool of {d['pool']['subnets']} subnets; {d['seconds']:.0f} s.\n",
           "| model | front points | F_AEB pick | pick accuracy | most / least energy in the pool |",
           "|---|---|---|---|---|"]
    for m in models:
        f = fronts[m]
        out.append(f"| `{m}` | {f['front_size']} | `{f['pick']['config']}` | {f['pick']['accuracy']:.3f} | "
                   f"{ca['energy_ratio_max_over_min'][m]:.1f}x |")
    choices = list(next(iter(ca["spearman_energy_vs_choice"].values())))
    out += ["", "Spearman rank correlation of energy with each choice over the pool:", "",
            "| model | " + " | ".join(f"`{c}`" for c in choices) + " |", "|---|" + "---|" * len(choices)]
    for m in models:
        out.append(f"| `{m}` | " + " | ".join(f"{ca['spearman_energy_vs_choice'][m][c]:+.2f}" for c in choices) + " |")
    out += ["", "Share of each component in the pool's energy:", "", "| model | components |", "|---|---|"]
    for m in models:
        shares = ca["component_shares"][m]
        out.append(f"| `{m}` | " + ", ".join(f"`{k}` {v:.1%}" for k, v in shares.items()) + " |")
    out += ["", "Rank agreement of the models' energies (Spearman): " +
            ", ".join(f"{k} {v:.3f}" for k, v in ca["spearman_between_models"].items()) + ".", ""]
    return "\n".join(out)


def evaluation_columns() -> str:
    from autosnn.search.table import COLUMNS

    return ", ".join(_code(c) for c in COLUMNS) + "\n"


GENERATORS: dict[str, Callable[..., str]] = {
    "energy_models.md": energy_models_results,
    "columns.md": evaluation_columns,
    "campaign_reference.md": campaign_reference,
    "campaign_defaults.md": campaign_defaults,
    "spaces.md": spaces_table,
    "layout.md": layout_table,
    "cli.md": cli_reference,
    "api.md": api_reference,
}


def generate(warn: Warn = print, out: Path = GENERATED) -> list[Path]:
    """Write every generated file (only those whose text changed, so Sphinx rebuilds
    only what depends on them)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in GENERATORS.items():
        text = "<!-- generated by docs/_ext/autosnn_docs.py at build time: do not edit -->\n\n" + (
            fn(warn) if name == "campaign_reference.md" else fn())
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def setup(app) -> dict[str, Any]:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)

    def on_init(app) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            generate(lambda msg: logger.warning(msg, type="autosnn", subtype="docs"))

    app.connect("builder-inited", on_init)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    for name, fn in GENERATORS.items():
        print(f"===== {name}\n{fn()}")
