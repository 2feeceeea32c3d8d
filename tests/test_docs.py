"""The documentation's code runs, so the docs cannot drift from the code.

Every fenced block of ``README.md`` and ``docs/**/*.md`` is collected and run, one test
per block (the test id names the file and line):

- ``python``: executed in a fresh namespace, in a scratch folder;
- ``console``: each ``$ command`` line runs (a plain ``autosnn ...`` in process through
  :func:`autosnn.cli.main`, anything with shell syntax through bash, with the venv's
  ``autosnn`` on the PATH) and must exit 0; the lines after it, when given, are its
  expected output, compared like a doctest (``...`` matches anything, whitespace
  normalised);
- ``bash`` / ``sh`` / ``shell``: the block runs as one bash script (``set -e``);
- ``yaml``: a space (it has ``dimensions``) or a campaign, or a part of one, must load.

Other blocks (``text``, output listings) are not code. The scratch folder has the
repository's ``configs/`` and, when a block mentions ``runs/demo``, a finished tiny
stand-in of the demo's run folder. A YAML block preceded by ``<!-- save: NAME -->`` is also
written there as ``NAME`` for the blocks after it on the same page.

A block that needs more than seconds on a CPU carries a marker on the line(s) before it,
``<!-- skip: MARKER (why) -->``, with MARKER one of :data:`MARKERS`; it is skipped, and the
skip reason names the marker (``pytest -ra`` counts them). ``pending`` marks a block of a
feature not merged on this branch yet: after the merge the marker must go.

``test_docs_build`` builds the site as ``make docs`` does (warnings are errors, nit-picky).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import TINY_CAMPAIGN

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: The markers a block may carry, and what each stands for.
MARKERS = {
    "gpu": "needs a CUDA GPU",
    "dataset": "needs a dataset folder (CIFAR, DVS)",
    "cluster": "needs a Ray cluster of several machines",
    "install": "installs software or creates a virtual environment",
    "slow": "minutes of work on a CPU (a full demo, a benchmark)",
    "pending": "a feature of another branch, not merged here yet",
}
RUN_LANGS = {"python", "console", "bash", "sh", "shell", "yaml"}
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_SKIP = re.compile(r"<!--\s*skip:\s*(?P<marker>[\w-]+)")
_SAVE = re.compile(r"<!--\s*save:\s*(?P<name>[\w.-]+)\s*-->")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int          # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None = None
    save: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_absolute() else self.path}:{self.line}"


def doc_files() -> list[Path]:
    files = [ROOT / "README.md"] + sorted(p for p in DOCS.rglob("*.md")
                                          if not {"_generated", "_build"} & set(p.relative_to(DOCS).parts))
    return [f for f in files if f.exists()]


def parse_blocks(text: str, path: Path) -> list[Block]:
    """Every fenced block of a Markdown text, with the markers on the lines before it.
    MyST directives (```` ```{name} ````) are not code blocks."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        end = i + 1
        while end < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        lang = info.split()[0].lower() if info else ""
        if not lang.startswith("{"):
            marker = save = None
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("<!--") and lines[j].strip().endswith("-->"):
                if (s := _SKIP.search(lines[j])):
                    marker = s.group("marker")
                if (s := _SAVE.search(lines[j])):
                    save = s.group("name")
                j -= 1
            blocks.append(Block(path, i + 1, lang, "\n".join(lines[i + 1:end]) + "\n", marker, save))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for f in doc_files() for b in parse_blocks(f.read_text(), f)]


def runnable_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in RUN_LANGS]


# ----------------------------------------------------------------- console blocks
def parse_console(code: str) -> list[tuple[str, str]]:
    """``[(command, expected output)]`` of a console block (``$ `` prompts; a command
    line ending in ``\\`` continues on the next)."""
    steps: list[tuple[str, list[str]]] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            steps.append((cmd, []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block: output before the first '$ ' command: {line!r}")
        i += 1
    return [(cmd, "\n".join(out).strip("\n")) for cmd, out in steps]


def output_matches(want: str, got: str) -> bool:
    if not want.strip():
        return True
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return doctest.OutputChecker().check_output(want + "\n", got, flags)


_SHELL_SYNTAX = re.compile(r"[;|&<>$`*?(){}\[\]!'\"\\]")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(ROOT)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_command(cmd: str, cwd: Path) -> tuple[int, str]:
    """Run one console command in ``cwd``: ``(exit status, stdout + stderr)``."""
    words = shlex.split(cmd, comments=True)
    plain = words and words[0] == "autosnn" and not _SHELL_SYNTAX.search(cmd.split("#")[0])
    if plain:  # in process: the console script is autosnn.cli:main
        from autosnn.cli import main

        out = io.StringIO()
        old = Path.cwd()
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    code = main(words[1:])
                except SystemExit as exc:  # argparse: --help, usage errors
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.chdir(old)
        return int(code or 0), out.getvalue()
    proc = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    return proc.returncode, proc.stdout


# ----------------------------------------------------------------- yaml blocks
def check_yaml(code: str, where: str) -> None:
    from autosnn.campaign import Campaign
    from autosnn.search_spaces import SearchSpace

    data = yaml.safe_load(code)
    assert isinstance(data, dict), f"{where}: a YAML block must be a mapping"
    if "dimensions" in data:
        SearchSpace.from_dict(data, source=where)
    else:
        Campaign.from_dict(data, source=where)


# ----------------------------------------------------------------- the scratch folder
#: The tiny stand-in of the demo's run folder (the demo itself takes minutes).
TINY_DEMO = TINY_CAMPAIGN.replace("name: tiny", "name: demo")


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    (root / "configs").symlink_to(ROOT / "configs", target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def demo_run(scratch) -> Path:
    """``runs/demo`` in the scratch folder: a finished run of a tiny campaign named demo."""
    (scratch / "tiny-demo.yaml").write_text(TINY_DEMO)
    code, out = run_command("autosnn run tiny-demo.yaml --no-progress", scratch)
    assert code == 0, out
    return scratch / "runs" / "demo"


def _save_files(block: Block, cwd: Path) -> None:
    """Write the page's ``save:`` blocks up to ``block`` into ``cwd``."""
    for b in parse_blocks(block.path.read_text(), block.path):
        if b.line >= block.line:
            break
        if b.save:
            (cwd / b.save).write_text(b.code)


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: f"{b.where}-{b.lang}")
def test_doc_block(block: Block, scratch: Path, request):
    if block.marker is not None:
        assert block.marker in MARKERS, f"{block.where}: unknown marker '{block.marker}'; known: {sorted(MARKERS)}"
        pytest.skip(f"docs marker '{block.marker}' ({MARKERS[block.marker]})")
    if "runs/demo" in block.code:
        request.getfixturevalue("demo_run")
    _save_files(block, scratch)
    if block.lang == "yaml":
        check_yaml(block.code, block.where)
        if block.save:
            (scratch / block.save).write_text(block.code)
    elif block.lang == "python":
        old = Path.cwd()
        os.chdir(scratch)
        try:
            exec(compile(block.code, block.where, "exec"), {"__name__": "__docs__"})
        finally:
            os.chdir(old)
    elif block.lang == "console":
        steps = parse_console(block.code)
        assert steps, f"{block.where}: a console block without a '$ ' command"
        for cmd, want in steps:
            code, got = run_command(cmd, scratch)
            assert code == 0, f"{block.where}: `{cmd}` exited {code}:\n{got[-3000:]}"
            assert output_matches(want, got), f"{block.where}: `{cmd}` printed\n{got[-3000:]}\nexpected\n{want}"
    else:
        proc = subprocess.run(["bash", "-e", "-c", block.code], cwd=scratch, env=_env(), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"{block.where}: exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}"


# ----------------------------------------------------------------- the runner itself
SAMPLE = """# page

```python
x = 1
```

<!-- skip: gpu (a GPU) -->
```console
$ autosnn run big.yaml --device cuda
```

<!-- save: s.yaml -->
```yaml
name: a
```

```{include} other.md
```

```text
not code
```
"""


def test_the_collector_reads_languages_markers_and_saves():
    blocks = parse_blocks(SAMPLE, Path("page.md"))
    assert [(b.lang, b.line, b.marker, b.save) for b in blocks] == [
        ("python", 3, None, None), ("console", 8, "gpu", None), ("yaml", 13, None, "s.yaml"), ("text", 20, None, None)]
    assert blocks[0].code == "x = 1\n"


def test_console_blocks_split_into_commands_and_expected_output():
    steps = parse_console("$ echo a \\\n  b\na b\n$ true\n")
    assert steps == [("echo a  b", "a b"), ("true", "")]
    assert output_matches("exit status 2", "exit status 2\n")
    assert output_matches("autosnn: error: ...lr...", "autosnn: error: c.yaml: supernet.lr must be\n")
    assert not output_matches("exit status 0", "exit status 2\n")
    with pytest.raises(ValueError):
        parse_console("output first\n$ true\n")


def test_a_wrong_doc_block_fails(scratch):
    code, out = run_command("autosnn space no-such-space", scratch)
    assert code == 2 and "autosnn: error:" in out
    with pytest.raises(Exception):
        check_yaml("supernet: {lr: -1}\n", "page.md:1")
    with pytest.raises(Exception):
        check_yaml("supernet: {no_such_key: 1}\n", "page.md:1")


def test_every_marker_is_known_and_every_page_has_code():
    blocks = all_blocks()
    unknown = [f"{b.where}: {b.marker}" for b in blocks if b.marker is not None and b.marker not in MARKERS]
    assert not unknown, f"unknown markers (known: {sorted(MARKERS)}): {unknown}"
    runnable = [b for b in blocks if b.lang in RUN_LANGS]
    assert sum(b.marker is None for b in runnable) >= 20, "most of the docs' code must run"
    assert any(b.path.name == "README.md" and b.lang == "python" and b.marker is None for b in runnable)


# ----------------------------------------------------------------- references into the docs
_CITE = re.compile(r"docs/(?P<page>[a-z0-9-]+)\.md(?:, \"?(?P<section>[A-Z][\w '-]*?)\"?(?=[),.;\n]))?")


def _headings(page: Path) -> set[str]:
    return {re.sub(r"[`*]", "", m.group(1)).strip().lower()
            for m in re.finditer(r"^#{1,6} (.+)$", page.read_text(), re.M)}


def test_citations_of_the_docs_name_existing_pages_and_sections():
    """Code, tests, configs and benchmarks cite the docs as ``docs/PAGE.md[, Section]``."""
    bad = []
    for folder in ("autosnn", "tests", "configs", "bench"):
        for f in sorted((ROOT / folder).rglob("*")):
            if f.suffix not in {".py", ".yaml", ".md"} or not f.is_file():
                continue
            for m in _CITE.finditer(f.read_text()):
                page = DOCS / f"{m.group('page')}.md"
                if not page.exists():
                    bad.append(f"{f.relative_to(ROOT)}: {m.group(0)} (no such page)")
                elif m.group("section") and m.group("section").strip().lower() not in _headings(page):
                    bad.append(f"{f.relative_to(ROOT)}: {m.group(0)} (no such section)")
    assert not bad, bad


# ----------------------------------------------------------------- the site
@pytest.mark.slow
def test_docs_build(tmp_path):
    """``make docs``: the site builds with every warning an error (a broken reference,
    a field without a meaning, an unresolvable name)."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(DOCS), str(tmp_path / "html")], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    html = (tmp_path / "html" / "campaign.html").read_text()
    from autosnn.campaign import Campaign, SupernetTrainingConfig

    for name in ("bn_recalibration_batches", "crossover_prob", "timeout_s", "fifo_capacity_elements"):
        assert name in html
    import dataclasses

    assert all(f.name in html for f in dataclasses.fields(SupernetTrainingConfig))
    assert all(f.name in html for f in dataclasses.fields(Campaign))
