"""The package layout of docs/design.md holds: the pipeline sits above every part, fitness
does not reach up to the Ray back end, and the Ray back end does not import the search."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "autosnn"


def _imports(part: str) -> dict[str, set[str]]:
    """``{module file: autosnn modules it imports}`` for every file of ``autosnn/<part>``."""
    root = PKG / part
    files = [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    out = {}
    for f in files:
        names = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autosnn"):
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.startswith("autosnn"))
        out[str(f.relative_to(PKG))] = names
    return out


#: ``(part, prefixes it must not import)``: the import direction of the parts. The
#: design page of the docs (docs/design.md, The parts) renders its table from this list.
RULES = [
    ("fitness", ("autosnn.distributed", "autosnn.search.", "autosnn.pipeline", "autosnn.report", "autosnn.export")),
    ("distributed", ("autosnn.search.", "autosnn.pipeline", "autosnn.report")),
    ("search", ("autosnn.pipeline", "autosnn.report", "autosnn.export", "autosnn.distributed")),
    ("report", ("autosnn.pipeline", "autosnn.export", "autosnn.distributed")),
    ("export", ("autosnn.pipeline", "autosnn.search.")),  # its pick comes from report; retrain --tune runs on Ray
    ("supernet", ("autosnn.pipeline", "autosnn.search.", "autosnn.fitness", "autosnn.distributed")),
    ("search_spaces", ("autosnn.pipeline", "autosnn.supernet", "autosnn.fitness", "autosnn.search.")),
]


@pytest.mark.parametrize("part, forbidden", RULES)
def test_no_part_imports_one_above_or_beside_it(part, forbidden):
    bad = {f: sorted(m for m in mods if m.startswith(forbidden)) for f, mods in _imports(part).items()}
    bad = {f: m for f, m in bad.items() if m}
    assert not bad, f"{part} imports from above it: {bad}"


def test_the_pipeline_composes_the_parts():
    mods = set().union(*_imports("pipeline").values())
    for part in ("autosnn.search", "autosnn.report", "autosnn.export", "autosnn.fitness", "autosnn.supernet"):
        assert any(m.startswith(part) for m in mods), part
