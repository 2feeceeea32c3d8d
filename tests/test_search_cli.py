"""``autosnn run`` / ``autosnn search``: bad input is one line and exit 2 with the run
folder untouched; the whole pipeline on a tiny campaign (slow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_CAMPAIGN

from autosnn.cli import main
from autosnn.campaign import Campaign
from autosnn.run_folder import RunFolder



def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("text, words", [
    ("name: x\nsearch: {population: 4\n", "not valid YAML"),
    ("name: x\nsearch: {populaton: 4}\n", "unknown key 'search.populaton'"),
    ("name: x\nsearch: {population: many}\n", "search.population must be an integer"),
    ("name: x\nspace: broken.yaml\n", "dimensions"),
    ("name: x\nseed: 1\n", "made by another campaign"),
])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(tmp_path, capsys, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    Path("broken.yaml").write_text("name: b\nfixed: {in_channels: 1, image_size: 16, num_classes: 10, patch_size: 4}\n"
                                   "dimensions: {depth: [1]}\n")
    run_dir = tmp_path / "runs" / "x"
    RunFolder(run_dir).prepare(Campaign.from_dict({"name": "x"}))
    (run_dir / "evaluations.parquet").write_bytes(b"precious")
    before = _snapshot(run_dir)
    Path("c.yaml").write_text(text)
    capsys.readouterr()
    assert main(["run", "c.yaml", "--out", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("autosnn: error:") and words in err, err
    assert _snapshot(run_dir) == before


def test_search_needs_a_run_folder(tmp_path, capsys):
    assert main(["search", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["search", str(tmp_path / "empty")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def _tiny_folder(tmp_path: Path) -> Path:
    """A run folder of TINY_CAMPAIGN holding only its campaign.yaml."""
    (tmp_path / "c.yaml").write_text(TINY_CAMPAIGN)
    run_dir = tmp_path / "run"
    RunFolder(run_dir).prepare(Campaign.from_yaml(tmp_path / "c.yaml"))
    return run_dir


def _refused(args: list[str], run_dir: Path, words: str, capsys) -> None:
    """``autosnn ARGS`` ends in one line naming ``words``, exit 2, the folder untouched."""
    before = _snapshot(run_dir)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("autosnn: error:") and words in err, err
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize("weights", ["none", "misshapen", "not a dict"])
def test_supernet_without_fitting_weights_is_refused_before_anything_is_written(tmp_path, capsys, weights):
    import json

    import torch

    from autosnn.checkpoint import save_checkpoint
    from autosnn.supernet import SpikformerSupernet
    from autosnn.supernet.training import SUPERNET_KIND

    run_dir = _tiny_folder(tmp_path)
    space = RunFolder(run_dir).load_campaign().resolve_space()
    ckpt = {"kind": SUPERNET_KIND, "space": json.dumps(space.to_dict()), "epoch": 1}
    if weights == "misshapen":
        ckpt["model"] = {**SpikformerSupernet(space).state_dict(), "head.weight": torch.zeros(3, 3)}
    elif weights == "not a dict":
        ckpt["model"] = torch.zeros(3)
    save_checkpoint(ckpt, run_dir / "supernet.pt")
    # --generations would rewrite campaign.yaml: refused first, it stays as it was
    _refused(["search", str(run_dir), "--generations", "5", "--no-progress"], run_dir,
             "supernet.pt: weights do not fit the space", capsys)
    _refused(["run", str(tmp_path / "c.yaml"), "--out", str(run_dir), "--no-progress"], run_dir,
             "supernet.pt: weights do not fit the space", capsys)
    _refused(["train-supernet", str(tmp_path / "c.yaml"), "--out", str(run_dir), "--no-progress"], run_dir,
             "supernet.pt: weights do not fit the space", capsys)


@pytest.mark.parametrize("text, words", [
    (b"\x00\x93garbage\xff\n\x01", "history.csv: "),
    (b"generation,evaluations\n1,4\n", "history.csv: not a search history (missing columns ['hypervolume'])"),
    (b"generation,evaluations,hypervolume\n1,4,0.5\n2,eight,0.6\n", "non-numeric values in ['evaluations']"),
    (b"generation,evaluations,hypervolume\n1,4,0.5\n3,8,0.6\n", "generations [1, 3] are not consecutive"),
])
def test_garbage_history_is_one_line_exit_2_and_kept(tmp_path, capsys, text, words):
    run_dir = _tiny_folder(tmp_path)
    (run_dir / "history.csv").write_bytes(text)
    _refused(["search", str(run_dir), "--no-progress"], run_dir, words, capsys)


@pytest.mark.slow
def test_run_whole_pipeline_then_rerun_then_extend(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_CAMPAIGN)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "search: 2 generations, 8 evaluations" in text and "pick (aeb)" in text
    for name in ("campaign.yaml", "supernet.pt", "evaluations.parquet", "pareto.csv", "pareto.png", "report.html",
                 "history.csv", "search_state/gen_0002.json"):
        assert (out / name).is_file(), name
    df = pd.read_parquet(out / "evaluations.parquet")
    assert len(df) == 8 and df["id"].is_unique and (df["status"] == "ok").all()
    assert df["accuracy"].between(0, 1).all() and (df["energy_mj"] > 0).all()
    exports = [p for p in (out / "exports").iterdir() if p.is_dir()]
    assert len(exports) == 1 and exports[0].name in set(df["id"])

    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out

    assert main(["search", str(out), "--generations", "3", "--no-progress"]) == 0
    assert "3 generations, 12 evaluations (12 ok, 4 new)" in capsys.readouterr().out
    assert len(pd.read_parquet(out / "evaluations.parquet")) == 12

    # a finished run whose history.csv was damaged is refused, not "nothing to do"
    history = (out / "history.csv").read_bytes()
    (out / "history.csv").write_bytes(history.replace(b"\n2,", b"\ntwo,"))
    _refused(["run", str(cfg), "--out", str(out), "--no-progress"], out, "history.csv: not a search history", capsys)


@pytest.mark.slow
def test_training_free_campaign_runs_without_a_supernet(tmp_path, capsys):
    cfg = tmp_path / "tf.yaml"
    cfg.write_text(TINY_CAMPAIGN.replace("fitness: {max_val_batches: 2}", "fitness: {mode: training-free}"))
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "pick (aeb): none (training-free" in text
    assert not (out / "supernet.pt").exists() and (out / "pareto.csv").is_file()
    df = pd.read_parquet(out / "evaluations.parquet")
    assert (df["status"] == "ok").all() and df["score"].between(0, 1).all() and df["accuracy"].isna().all()
    assert main(["pareto", str(out), "--no-write"]) == 0
    assert "score" in capsys.readouterr().out.splitlines()[0]
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out
