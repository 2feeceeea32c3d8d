"""Pareto front, picks and report files (issue 6), on a tiny campaign made here."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autosnn.cli import main
from autosnn.report import (PLOT_SIZE, f_aeb, pareto_front, pareto_mask, pick_aeb, pick_knee, summarize,
                            write_reports)
from conftest import run_cli

def _copy_run(src: Path, dst: Path, *, evaluations: bool = True) -> Path:
    dst.mkdir(parents=True)
    for name in ("campaign.yaml", "supernet.pt") + (("evaluations.parquet",) if evaluations else ()):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


# ---------------------------------------------------------------- pure functions
def test_pareto_mask_and_picks_on_known_points():
    acc = np.array([0.50, 0.70, 0.60, 0.90, 0.95, 0.55])
    en = np.array([1.00, 2.00, 3.00, 4.00, 9.00, 1.00])
    assert pareto_mask(acc, en).tolist() == [False, True, False, True, True, True]
    df = pd.DataFrame({"id": list("abcdefg"), "accuracy": [*acc, 0.99], "objective": [*acc, 0.99],
                       "energy_mj": [*en, 0.5], "status": ["ok"] * 7, "feasible": [True] * 6 + [False],
                       "config": ["{}"] * 7})
    df.loc[5, "status"] = "failed"  # f is ignored, so a (0.5, 1.0) joins the front
    front = pareto_front(df)  # g would dominate everything but breaks the campaign's constraints
    assert front["id"].tolist() == ["a", "b", "d", "e"]  # by increasing energy
    assert pareto_front(df, energy_max=4.0)["id"].tolist() == ["a", "b", "d"]
    assert pareto_front(df, acc_min=0.8)["id"].tolist() == ["d", "e"]
    # F_AEB with target 4 mJ: d = 0.9, e = 0.95 * (9/4)^-0.07 = 0.8976, b = 0.7 * 0.5^-0.07 = 0.7348
    front = front.assign(f_aeb=[f_aeb(a, e, 4.0) for a, e in zip(front["accuracy"], front["energy_mj"])])
    assert front["f_aeb"].round(4).tolist() == [0.5510, 0.7348, 0.9, 0.8976]
    assert pick_aeb(front) == "d"
    # knee, scaled: a (0,0) b (.125,.444) d (.375,.889) e (1,1): d is farthest from the a-e line
    assert pick_knee(front) == "d"
    # hard budget: alpha 0, huge beta -> the most accurate within 2 mJ
    assert f_aeb(0.7, 2.0, 2.0, 0.0, 50.0) == pytest.approx(0.7)
    assert f_aeb(0.95, 9.0, 2.0, 0.0, 50.0) < 1e-20


# ---------------------------------------------------------------- on the tiny run
def test_summary_of_tiny_run(tiny_run):
    s = summarize(tiny_run)
    assert s.n_ok == 8 and s.n_failed == 1
    # target null and the largest subnet evaluated: its energy is the target
    largest = s.evaluations[s.evaluations["config"] == s.space.largest().to_json()]
    assert s.target.source == "largest subnet"
    assert s.target.target_mj == pytest.approx(float(largest["energy_mj"].iloc[0]))
    front = s.front
    assert front["rank"].tolist() == list(range(1, len(front) + 1))
    assert front["f_aeb"].is_monotonic_decreasing
    assert s.pick == front["id"].iloc[0]
    ok = s.evaluations[s.evaluations["status"] == "ok"]
    for _, r in ok.iterrows():  # nothing on the front is dominated, everything off it is
        dominated = ((ok["accuracy"] >= r["accuracy"]) & (ok["energy_mj"] <= r["energy_mj"])
                     & ((ok["accuracy"] > r["accuracy"]) | (ok["energy_mj"] < r["energy_mj"]))).any()
        assert dominated == (r["id"] not in set(front["id"]))
    # the pick maximises F_AEB over every ok row, not only the front
    best = max(ok.itertuples(), key=lambda r: f_aeb(r.accuracy, r.energy_mj, s.target.target_mj))
    assert s.pick == best.id


def test_target_falls_back_to_max_energy_without_largest(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "run")
    df = pd.read_parquet(run / "evaluations.parquet")
    s0 = summarize(run)
    df = df[df["config"] != s0.space.largest().to_json()]
    df.to_parquet(run / "evaluations.parquet", index=False)
    s = summarize(run)
    assert s.target.source.startswith("max energy in the table")
    assert s.target.target_mj == pytest.approx(df.loc[df["status"] == "ok", "energy_mj"].max())


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


class _Collect(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None
        self._row = None
        self.imgs: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id", f"t{len(self.tables)}"), [])
        if tag == "tr":
            self._row = []
            self._table.append(self._row)
        if tag in ("td", "th"):
            self._row.append("")

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._row is not None and self.stack and self.stack[-1] in ("td", "th"):
            self._row[-1] += data


def test_write_reports_files(tiny_run):
    write_reports(tiny_run)
    s = summarize(tiny_run)
    png = (tiny_run / "pareto.png").read_bytes()
    assert _png_size(png) == PLOT_SIZE
    csv = pd.read_csv(tiny_run / "pareto.csv")
    assert "genome" not in csv.columns
    for col in ("id", "config", "generation", "accuracy", "energy_mj", "macs", "acs", "params", "time_steps",
                "firing_rates", "f_aeb", "seconds", "worker", "status"):
        assert col in csv.columns
    assert csv["id"].tolist() == s.front["id"].tolist()
    assert np.allclose(csv["accuracy"], s.front["accuracy"]) and np.allclose(csv["energy_mj"], s.front["energy_mj"])

    text = (tiny_run / "report.html").read_text()
    p = _Collect()
    p.feed(text)
    p.close()
    assert not p.errors and p.stack == []
    assert text.startswith("<!DOCTYPE html>")
    assert len(p.imgs) == 1 and p.imgs[0].startswith("data:image/png;base64,")
    import base64
    assert _png_size(base64.b64decode(p.imgs[0].split(",", 1)[1])) == PLOT_SIZE
    table = p.tables["pareto-table"]
    assert len(table) == 1 + len(s.front)
    assert "energy mJ" in table[0] and "F_AEB" in table[0] and "architecture" in table[0]
    pick_row = next(r for r in table[1:] if s.pick in r)
    assert "pick" in pick_row[0]
    assert s.front["arch"].iloc[0] in table[1]
    assert [r[2] for r in p.tables["history-table"][1:]] == ["0.01", "0.02", "0.025"]
    layers = p.tables["layers-table"]
    assert layers[0][0] == "name" and "energy_mj" in layers[0] and "share of energy" in layers[0] and len(layers) > 5
    share = [float(r[-1].rstrip("%")) for r in layers[1:]]
    assert sum(share) == pytest.approx(100.0, abs=0.5)
    assert "firing-table" in p.tables
    assert "e_mac_pj: 4.6" in text  # campaign settings


def test_reports_of_a_run_without_evaluations_or_history(tiny_run, tmp_path, capsys):
    run = _copy_run(tiny_run, tmp_path / "run", evaluations=False)
    assert main(["pareto", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no evaluations yet" in err
    # first generation only, still running (no history.csv): reports are written
    df = pd.read_parquet(tiny_run / "evaluations.parquet")
    first = df[df["generation"] == 0]
    first.to_parquet(run / "evaluations.parquet", index=False)
    acc, energy = first["accuracy"].to_numpy(), first["energy_mj"].to_numpy()
    n_front = sum(not any((acc[j] >= acc[i] and energy[j] <= energy[i]) and (acc[j] > acc[i] or energy[j] < energy[i])
                          for j in range(len(first))) for i in range(len(first)))  # brute force, independent
    assert len(first) == 3 and 1 <= n_front <= 3
    assert main(["pareto", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{n_front} non-dominated of 3 evaluated" in out, out
    assert "No history.csv yet" in (run / "report.html").read_text()
    assert _png_size((run / "pareto.png").read_bytes()) == PLOT_SIZE


def test_damaged_history_is_one_line_exit_2_and_reports_stay(tiny_run, tmp_path, capsys):
    run = _copy_run(tiny_run, tmp_path / "run")
    (run / "history.csv").write_bytes((tiny_run / "history.csv").read_bytes())
    assert main(["pareto", str(run)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    (run / "history.csv").write_text("generation,evaluations,hypervolume\n0,3,0.01\n1,six,0.02\n")
    before["history.csv"] = (run / "history.csv").read_bytes()
    assert main(["pareto", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "history.csv: not a search history (non-numeric values in ['evaluations'])" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing rewritten


def test_cli_pareto_formats_and_filters(tiny_run, capsys):
    s = summarize(tiny_run)
    assert main(["pareto", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["rank", "id", "accuracy", "energy", "mJ", "MACs", "ACs", "params", "T", "F_AEB",
                                "architecture", "neurons", "(ESNN)"]
    pick_line = next(line for line in lines if s.pick in line)
    assert pick_line.lstrip().startswith("*")
    assert s.front.loc[s.front["id"] == s.pick, "arch"].iloc[0] in pick_line

    assert main(["pareto", str(tiny_run), "--format", "json", "--top", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["front"]] == s.front["id"].head(2).tolist()
    assert data["pick"] == s.pick and data["front"][0]["pick"] is True
    assert data["aeb"]["target_source"] == "largest subnet"

    cap = float(s.front["energy_mj"].median())
    assert main(["pareto", str(tiny_run), "--format", "csv", "--energy-max", str(cap)]) == 0
    csv_rows = capsys.readouterr().out.strip().splitlines()
    assert csv_rows[0].startswith("rank,id,accuracy,energy_mj")
    energies = [float(r.split(",")[3]) for r in csv_rows[1:]]
    assert energies and max(energies) <= cap
    assert len(energies) == int((s.front["energy_mj"] <= cap).sum())

    acc_min = float(s.front["accuracy"].max())
    assert main(["pareto", str(tiny_run), "--format", "json", "--acc-min", str(acc_min)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(r["accuracy"] >= acc_min for r in data["front"]) and len(data["front"]) >= 1


@pytest.mark.parametrize("args, needle", [
    (["pareto", "/nonexistent/run"], "not a run folder"),
    (["pareto", "{run}", "--top", "0"], "positive integer"),
    (["pareto", "{run}", "--energy-max", "cheap"], "expected a number"),
    (["pareto", "{run}", "--acc-min", "80"], "fraction"),
    (["pareto", "{run}", "--format", "xml"], "invalid choice"),
])
def test_cli_pareto_bad_inputs(tiny_run, args, needle, capsys):
    code, out, err = run_cli([a.replace("{run}", str(tiny_run)) for a in args], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert needle in lines[-1] and "Traceback" not in err
    if lines[-1].startswith("autosnn: error:"):  # our errors: one line, no usage
        assert len(lines) == 1


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autosnn.cli", "pareto", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"autosnn: error: {tmp_path} is not a run folder (no campaign.yaml)"
