"""Bad input is refused at the door, as a class (issue 14, part 1): every number of the
campaign file is checked against the range its field declares; an empty, binary or
non-mapping file is one line naming it; nothing is written into a run folder before the
campaign, its space and its data are known good; a run folder whose files cannot be read
is refused before anything in it changes. All: exit 2, one line, no traceback."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_CAMPAIGN

from autosnn.campaign import Campaign, Range
from autosnn.checkpoint import save_checkpoint
from autosnn.cli import main
from autosnn.errors import ConfigError
from autosnn.run_folder import RunFolder
from autosnn.search_spaces import SearchSpace
from autosnn.supernet import SpikformerSupernet

ROOT = Path(__file__).resolve().parents[1]



# ------------------------------------------------------------------ helpers
def _numeric_fields(cls: type = Campaign, prefix: str = "") -> list[tuple[str, type, dataclasses.Field]]:
    """(dotted path, number type, field) of every int / float field of the campaign tree."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        optional = typing.get_origin(tp) in (typing.Union, types.UnionType)  # Optional[X] and X | None alike
        args = [a for a in typing.get_args(tp) if a is not type(None)] if optional else [tp]
        if dataclasses.is_dataclass(args[0]):
            out += _numeric_fields(args[0], prefix + f.name + ".")
        elif args[0] in (int, float):
            out.append((prefix + f.name, args[0], f))
    return out


def _nested(path: str, value) -> dict:
    d: dict = {}
    cur = d
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    cur[keys[-1]] = value
    return d


def _outside(rng: Range, tp: type) -> list:
    """Values just outside ``rng`` (and, for floats, the non-finite ones)."""
    step = 1 if tp is int else 1e-6
    vals = []
    if rng.gt is not None:
        vals.append(tp(rng.gt))
    if rng.ge is not None:
        vals.append(tp(rng.ge) - step)
    if rng.lt is not None:
        vals.append(tp(rng.lt))
    if rng.le is not None:
        vals.append(tp(rng.le) + step)
    if tp is float:
        vals += [math.nan, math.inf, -math.inf]
    return vals


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every path under ``folder`` with its bytes and modification time (folders: None)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def _cli(args: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("autosnn: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


# ------------------------------------------------------------------ numbers
def test_every_numeric_field_declares_its_range():
    fields = _numeric_fields()
    assert len(fields) >= 30  # the whole tree was walked
    missing = [path for path, _, f in fields if "range" not in f.metadata]
    assert not missing, f"declare a range with campaign.ranged(...) for: {missing}"


@dataclasses.dataclass
class _Inner:
    rate: float | None = None


@dataclasses.dataclass
class _Probe:
    plain: int = 1
    new_style: int | None = None
    old_style: typing.Optional[float] = None
    nested: _Inner | None = None
    text: str | None = None


def test_the_field_walker_sees_every_spelling_of_optional():
    # the range test above is only as good as the walk: X | None, Optional[X] and nested
    # optional sections must all be found
    assert [(path, tp) for path, tp, _ in _numeric_fields(_Probe)] == [
        ("plain", int), ("new_style", int), ("old_style", float), ("nested.rate", float)]


@pytest.mark.parametrize("path, tp, f", _numeric_fields(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_range_is_enforced_with_the_fields_path(path, tp, f):
    rng = f.metadata["range"]
    default = f.default
    if default is not None:  # the default itself is valid
        assert rng.contains(default), (path, default)
    bad = _outside(rng, tp)
    assert bad, f"{path}: range {rng} refuses nothing"
    for value in bad:
        with pytest.raises(ConfigError) as err:
            Campaign.from_dict(_nested(path, value), source="c.yaml")
        assert f"c.yaml: {path} must be" in str(err.value) and len(str(err.value).splitlines()) == 1
    # the bound itself is inside when it is inclusive
    for bound in (rng.ge, rng.le):
        if bound is not None:
            Campaign.from_dict(_nested(path, tp(bound)))


def test_a_campaign_changed_in_code_is_checked_again():
    c = Campaign.from_dict({})
    c.search.operators.crossover_prob = 1.5
    with pytest.raises(ConfigError, match=r"search\.operators\.crossover_prob must be a finite number in \[0, 1\]"):
        c.validate()
    for name in ("../elsewhere", "..", "", " ", "a\x00b"):
        with pytest.raises(ConfigError, match="name must be a plain folder name"):
            Campaign.from_dict({"name": name})
    assert Campaign.from_dict({"name": "my campaign-2"}).name == "my campaign-2"
    with pytest.raises(ConfigError, match=r"export\.pick must be aeb, knee or a candidate id \(hex digits\), got 'best'"):
        Campaign.from_dict({"export": {"pick": "best"}})
    assert Campaign.from_dict({"export": {"pick": "b4efcb"}}).export.pick == "b4efcb"


@pytest.mark.parametrize("line, words", [
    ("supernet: {lr: .nan}", "supernet.lr must be a finite number > 0, got nan"),
    ("supernet: {epochs: 0}", "supernet.epochs must be an integer >= 1, got 0"),
    ("data: {batch_size: -3}", "data.batch_size must be an integer >= 1"),
    ("search: {population: 1}", "search.population must be an integer >= 2"),
    ("search: {operators: {block_mutation_prob: 1.2}}", "search.operators.block_mutation_prob must be a finite number in [0, 1]"),
    ("fitness: {energy: {e_ac_pj: -0.9}}", "fitness.energy.e_ac_pj must be a finite number > 0"),
    ("fitness: {aeb: {alpha: .inf}}", "fitness.aeb.alpha must be a finite number >= 0, got inf"),
    ("seed: " + "9" * 400, "seed must be an integer in [0, 4294967295]"),
    ("search: {operators: {polynomial_eta: 1.0e+400}}", "search.operators.polynomial_eta must be a finite number >= 0, got inf"),
])
def test_bad_number_refused_before_anything_is_written(tmp_path, capsys, line, words):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY_CAMPAIGN + line + "\n")
    out = tmp_path / "run"
    _one_line_error(*_cli(["run", str(cfg), "--out", str(out)], capsys), str(cfg), words)
    assert not out.exists()
    _one_line_error(*_cli(["train-supernet", str(cfg), "--out", str(out)], capsys), words)
    assert not out.exists()


def test_exponent_without_a_dot_is_a_number_and_still_checked():
    """PyYAML reads ``1e-3`` as a string; a float field takes it as the number it is."""
    import yaml

    c = Campaign.from_dict(yaml.safe_load("supernet: {lr: 1e-3, weight_decay: 5e-2}"))
    assert (c.supernet.lr, c.supernet.weight_decay) == (1e-3, 5e-2)
    for text, words in (("supernet: {lr: -1e-3}", "supernet.lr must be a finite number > 0, got -0.001"),
                        ("supernet: {lr: nan}", "supernet.lr must be a finite number > 0, got nan"),
                        ("supernet: {lr: fast}", "supernet.lr must be a number, got 'fast'")):
        with pytest.raises(ConfigError) as err:
            Campaign.from_dict(yaml.safe_load(text), source="c.yaml")
        assert words in str(err.value)


def test_bad_seed_override_refused(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY_CAMPAIGN)
    out = tmp_path / "run"
    _one_line_error(*_cli(["run", str(cfg), "--out", str(out), "--seed", "-1"], capsys), "--seed: seed must be")
    assert not out.exists()


# ------------------------------------------------------------------ files
@pytest.mark.parametrize("content, words", [
    (b"", "the campaign file is empty"),
    (b"# only a comment\n\n", "the campaign file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", "not a text file"),
    (b"- name: x\n- seed: 1\n", "must be a mapping of keys to values (key: value lines), got a list"),
    (b"just words", "must be a mapping of keys to values (key: value lines), got a str"),
    (b"name: x\nsearch: [1, 2]\n", "search must be a mapping"),
    (b"seed: " + b"9" * 5000 + b"\n", "cannot be read as YAML"),
    (b"name: " + b"[" * 3000 + b"]" * 3000 + b"\n", "cannot be read as YAML"),
])
def test_empty_binary_or_not_a_mapping_is_one_line_naming_the_file(tmp_path, capsys, content, words):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    out = tmp_path / "run"
    for cmd in ("run", "train-supernet"):
        _one_line_error(*_cli([cmd, str(cfg), "--out", str(out)], capsys), str(cfg), words)
    assert not out.exists()
    _one_line_error(*_cli(["run", str(tmp_path), "--out", str(out)], capsys), "is a folder")


@pytest.mark.parametrize("space_text, words", [
    (b"", "the search space file is empty"),
    (b"\xff\xfe\x00\x01", "not a text file"),
    (b"- 1\n", "must be a mapping"),
    (None, "dimensions.tau holds nan"),
    (b"name: s\nfixed: {in_channels: 1, image_size: 16, num_classes: 10, patch_size: 4}\n"
     b"dimensions: {depth: [1], embed_dim: [32], time_steps: [2], num_heads: [2], mlp_ratio: [2.0], tau: [2.0],\n"
     b"  v_threshold: {low: .nan, high: 2.0, step: 0.2}}\n", "dimensions.v_threshold.low must be a finite number"),
])
def test_bad_space_refused_before_anything_is_written(tmp_path, capsys, space_text, words):
    space = tmp_path / "s.yaml"
    if space_text is None:
        d = SearchSpace.builtin("digits-tiny").to_dict()
        d["dimensions"]["tau"] = [2.0, float("nan")]
        import yaml

        space_text = yaml.safe_dump(d).encode()
    space.write_bytes(space_text)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY_CAMPAIGN.replace("space: digits-tiny", f"space: {space}"))
    out = tmp_path / "run"
    for cmd in ("run", "train-supernet"):
        _one_line_error(*_cli([cmd, str(cfg), "--out", str(out)], capsys), str(space), words)
    assert not out.exists()


def test_missing_dataset_refused_before_the_run_folder_is_made(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: c\nspace: spikformer-cifar10\ndata: {{name: cifar10, root: {tmp_path / 'no'}}}\n")
    out = tmp_path / "run"
    _one_line_error(*_cli(["run", str(cfg), "--out", str(out)], capsys), "cifar-10-batches-py")
    assert not out.exists()


# ------------------------------------------------------------------ run folders
def _finished_run(root: Path) -> Path:
    """A run folder that looks finished to ``autosnn run`` / ``search``: its files are
    small but each in the real format (the check reads them, it does not train)."""
    from autosnn.search.state import GenerationState, SearchMeta, StateStore

    campaign = Campaign.from_yaml(_write(root.parent.parent / "tiny.yaml", TINY_CAMPAIGN))
    folder = RunFolder(root)
    folder.prepare(campaign)
    space = campaign.resolve_space()
    save_checkpoint(_weightless(space) | {"model": SpikformerSupernet(space).state_dict()}, folder.supernet)
    genome = space.encode(space.largest()).tolist()
    pd.DataFrame({"id": ["a" * 12] * 1, "genome": [json.dumps(genome)], "generation": [1], "status": ["ok"],
                  "accuracy": [0.5], "energy_mj": [0.01]}).to_parquet(folder.evaluations, index=False)
    store = StateStore(folder.search_state)
    store.save_meta(SearchMeta(algorithm="nsga2", seed=0, population=4, reference_energy_mj=0.1, target_mj=0.1))
    for g in (1, 2):
        store.save(GenerationState(generation=g, genomes=[genome], data={}, rng={}, n_iter=g))
    folder.pareto_csv.write_text("id\n" + "a" * 12 + "\n")
    folder.report_html.write_text("<html></html>")
    export = folder.exports / ("a" * 12)
    export.mkdir(parents=True)
    return root


def _weightless(space) -> dict:
    return {"kind": "autosnn-supernet", "space": json.dumps(space.to_dict()), "epoch": 1}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "evaluations.parquet truncated": ("evaluations.parquet", _truncate),
    "supernet.pt truncated": ("supernet.pt", _truncate),
    "supernet.pt garbage": ("supernet.pt", lambda p: p.write_bytes(bytes(range(256)) * 4)),
    "supernet.pt without weights": ("supernet.pt", lambda p: save_checkpoint(
        _weightless(SearchSpace.builtin("digits-tiny")), p)),
    "history.csv garbage": ("history.csv", lambda p: p.write_bytes(b"\x00\x93garbage\xff\n\x01")),
    "search.json truncated": ("search_state/search.json", _truncate),
    "gen_0001.json truncated": ("search_state/gen_0001.json", _truncate),
    "export config.json garbage": ("exports/" + "a" * 12 + "/config.json", lambda p: p.write_bytes(b"\x00{")),
}


@pytest.fixture()
def finished(tmp_path) -> Path:
    return _finished_run(tmp_path / "runs" / "tiny")


def test_an_intact_finished_run_is_left_as_it_is(finished, capsys):
    before = _snapshot(finished)
    capsys.readouterr()
    assert main(["run", str(finished.parent.parent / "tiny.yaml"), "--out", str(finished)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["search", str(finished)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _snapshot(finished) == before


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_folder_is_refused_and_left_unchanged(finished, capsys, damage):
    """run / search (which resume the search or call it finished) read every file first;
    train-supernet (which resumes supernet.pt) reads that one."""
    name, hurt = DAMAGE[damage]
    target = finished / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_text("{}")
    hurt(target)
    before = _snapshot(finished)
    cfg = finished.parent.parent / "tiny.yaml"
    _one_line_error(*_cli(["run", str(cfg), "--out", str(finished)], capsys), name.split("/")[-1])
    _one_line_error(*_cli(["search", str(finished)], capsys), name.split("/")[-1])
    _one_line_error(*_cli(["search", str(finished), "--generations", "3"], capsys), name.split("/")[-1])
    if name == "supernet.pt":  # what train-supernet resumes; an allowed change would rewrite campaign.yaml
        changed = _write(cfg.parent / "workers.yaml", TINY_CAMPAIGN + "evaluator: {workers: 3}\n")
        for c in (cfg, changed):
            _one_line_error(*_cli(["train-supernet", str(c), "--out", str(finished)], capsys), name)
    assert _snapshot(finished) == before


# ------------------------------------------------------------------ the real command
def test_the_autosnn_command_prints_one_line_and_no_traceback(tmp_path):
    """As a user runs it: a separate process, exit status 2, one line on stderr (a number
    out of range: tests/test_foundation_training.py)."""
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(256)))
    run = _finished_run(tmp_path / "runs" / "tiny")
    _truncate(run / "evaluations.parquet")
    before = _snapshot(run)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for args, words in ((["run", str(binary)], "not a text file"),
                        (["search", str(run)], "evaluations.parquet")):
        p = subprocess.run([sys.executable, "-m", "autosnn.cli", *args], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
        _one_line_error(p.returncode, p.stderr.strip(), words)
        assert p.stdout == ""
    assert not (tmp_path / "runs" / "campaign").exists()
    assert _snapshot(run) == before


@pytest.mark.parametrize("args, words", [
    (["--device", "cuda:99"], "--device cuda:99: this machine has"),
    (["--device", "tpu"], "--device tpu: expected auto, cpu, cuda or cuda:N"),
])
def test_bad_device_refused_before_anything_is_written(tmp_path, capsys, args, words):
    cfg = _write(tmp_path / "c.yaml", TINY_CAMPAIGN)
    out = tmp_path / "run"
    for cmd in ("run", "train-supernet"):
        _one_line_error(*_cli([cmd, str(cfg), "--out", str(out), *args], capsys), words)
    assert not out.exists()


def test_any_damaged_checkpoint_is_one_checkpoint_error(tmp_path):
    """Random bytes make torch's unpickler fail in many ways (IndexError, KeyError, ...):
    every one of them is a CheckpointError, never a traceback."""
    import random
    import warnings

    from autosnn.checkpoint import load_checkpoint
    from autosnn.errors import CheckpointError

    rng = random.Random(0)
    path = tmp_path / "supernet.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(300):
            path.write_bytes(rng.randbytes(rng.choice([16, 256, 2048])))
            with pytest.raises(CheckpointError):
                load_checkpoint(path, kind="autosnn-supernet")


def test_number_options_refuse_non_finite_values():
    import argparse

    from autosnn.cli_args import number

    assert number("1e-3") == 1e-3
    for text in ("nan", "inf", "-inf", "fast"):
        with pytest.raises(argparse.ArgumentTypeError):
            number(text)
