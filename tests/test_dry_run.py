"""``autosnn run CONFIG --dry-run``: the projection's arithmetic on synthetic timings, the
printed stages, nothing written, and every bad input refused exactly as ``run`` does."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch

from autosnn.campaign import Campaign
from autosnn.data import load_data
from autosnn.fitness.flops import ann_macs
from autosnn.fitness.synthetic import SyntheticEvaluator
from autosnn.pipeline.dry_run import DryRun, _Timings
from autosnn.pipeline.projection import fit_cost, project, search_evaluations, size_features
from autosnn.run_folder import RunFolder
from autosnn.search.search import run_search
from tests.conftest import TINY_CAMPAIGN, run_cli

NUM = r"[0-9][0-9,.]*(?:e[+-]?[0-9]+)?"


# ------------------------------------------------------------------ the arithmetic
def test_cost_fit_recovers_a_line_and_projects_it():
    macs = [1e6, 1e6, 4e6, 9e6, 2e7]
    seconds = [0.2 + 3e-8 * m for m in macs]
    model = fit_cost(macs, seconds)
    assert model.intercept == pytest.approx(0.2, rel=1e-9) and model.coefficients[0] == pytest.approx(3e-8, rel=1e-9)
    assert model.residual == pytest.approx(0.0, abs=1e-9)
    assert (model.size_min, model.size_max, model.n) == ((1e6,), (2e7,), 5)
    p = project("supernet training", model, 1000, expected=5e6, low=1e6, high=2e7, measured=5, fixed_s=7.0)
    assert p.seconds_each == pytest.approx(0.35)
    assert p.seconds == pytest.approx(1000 * 0.35 + 7.0)
    assert p.low_s == pytest.approx(1000 * 0.23 + 7.0) and p.high_s == pytest.approx(1000 * 0.8 + 7.0)
    assert p.factor == pytest.approx(200) and not p.extrapolated
    assert project("s", model, 10, 4e7, 1e6, 4e7, 5).extrapolated  # beyond the largest measured size


def test_cost_fit_separates_arithmetic_from_per_layer_cost():
    """Two sizes at once: MACs and layer-steps, each with its own price."""
    sizes = np.array([[2e7, 76], [2e6, 24], [5e6, 76], [8e6, 38], [2e7, 24]])
    seconds = 0.1 + 2e-8 * sizes[:, 0] + 0.01 * sizes[:, 1]
    model = fit_cost(sizes, seconds)
    assert model.intercept == pytest.approx(0.1, rel=1e-6)
    assert model.coefficients == pytest.approx((2e-8, 0.01), rel=1e-6)
    assert model.seconds([1e7, 50]) == pytest.approx(0.1 + 0.2 + 0.5)
    assert not model.extrapolates([1e7, 50]) and model.extrapolates([1e7, 80])


def test_cost_fit_never_lets_a_larger_subnet_be_cheaper_or_a_time_negative():
    flat = fit_cost([1e6, 2e6, 3e6], [0.5, 0.4, 0.3])  # noise that says bigger is cheaper
    assert flat.coefficients == (0.0,) and flat.intercept == pytest.approx(0.4)
    origin = fit_cost([1e6, 2e6, 3e6], [0.1, 0.5, 0.9])  # least squares would give a < 0
    assert origin.intercept == 0 and origin.coefficients[0] == pytest.approx((0.1e6 + 1e6 + 2.7e6) / 14e12)
    one_size = fit_cost([5e6, 5e6], [1.0, 2.0])
    assert (one_size.intercept, one_size.coefficients) == (1.5, (0.0,)) and one_size.residual == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        fit_cost([1.0], [1.0, 2.0])


def test_size_features_count_macs_and_layer_steps(space):
    big, small = space.largest(), space.smallest()
    assert size_features(big).tolist() == [ann_macs(big), 4 * (5 + 7 * 2)]
    assert size_features(small).tolist() == [ann_macs(small), 2 * (5 + 7 * 1)]
    assert size_features([big, small, small]).tolist() == (size_features(big) + 2 * size_features(small)).tolist()


@pytest.mark.parametrize("search", [
    {"algorithm": "nsga2"}, {"algorithm": "nsga2", "seed_extremes": False}, {"algorithm": "random"},
    {"algorithm": "ga-aeb"}])
def test_evaluation_count_is_what_a_real_search_evaluates(tmp_path, search):
    """The count the projection multiplies by is the number of candidates a real search
    hands its evaluator (extremes included, seeded extremes and duplicates not)."""
    c = Campaign.from_dict({"name": "t", "seed": 3, "search": {"population": 6, "generations": 3, **search}})
    space = c.resolve_space()
    ev = SyntheticEvaluator(space)
    run_search(c, space, ev, tmp_path / "run", log=lambda m: None)
    handed = sum(len(call) for call in ev.calls)
    assert search_evaluations(c.search.algorithm, 6, 3, c.search.seed_extremes) == handed


def test_projection_of_synthetic_timings(space, data):
    """A DryRun fed exact synthetic timings projects epochs x steps x (the cost model at
    the expected step size) + per-epoch costs, and (population x generations) x the
    candidate model at the expected candidate size."""
    c = Campaign.from_dict({"name": "t", "supernet": {"epochs": 7}, "search": {"population": 5, "generations": 4}})
    run = DryRun(c, space, data, torch.device("cpu"), steps=2, progress=False, out=lambda s: None)
    a, b, k = 0.05, 2e-8, 0.004
    step = lambda m, ls: a + b * m + k * ls  # noqa: E731
    run.training = {}
    for kind, size in (("largest", (2e7, 76)), ("smallest", (2e6, 24)), ("sampled", (8e6, 57))):
        t = run.training[kind] = _Timings()
        for _ in range(2):
            t.add(np.array(size), np.array([step(*size), 0.5 * step(*size)]))
    run.steps_per_epoch, run.passes = 30, 1
    run.step_sizes = {"expected": np.array([6e6, 40.0]), "low": np.array([2e6, 24.0]), "high": np.array([2e7, 76.0])}
    run.loader_start, run.checkpoint = np.array([0.3, 0.1]), np.array([0.2, 0.2])
    for size in ((2e7, 76), (2e6, 24), (5e6, 57)):
        run.candidates.add(np.array(size), np.array([1.0 + 1e-7 * size[0], 1.0]))
    run.extremes = {"largest": np.array([3.0, 1.0]), "smallest": np.array([1.0, 1.0])}
    wall = {p.stage: p for p in run.projections("wall")}
    assert wall["supernet training"].seconds == pytest.approx(7 * 30 * step(6e6, 40) + 7 * 0.5)
    assert wall["supernet training"].low_s == pytest.approx(7 * 30 * step(2e6, 24) + 7 * 0.5)
    assert wall["supernet training"].measured == 6
    assert wall["extremes check"].seconds == pytest.approx(4.0)
    rng = np.random.default_rng(c.seed + 3)  # the expected candidate: the mean size of uniform samples
    expected = np.mean([ann_macs(space.sample(rng)) for _ in range(2000)])
    search = wall["search"]
    assert search.units == 5 * 4 and search.measured == 3
    assert run.search_model.intercept == pytest.approx(1.0)
    assert run.search_model.coefficients == pytest.approx((1e-7, 0.0), abs=1e-12)
    assert search.seconds == pytest.approx(20 * (1.0 + 1e-7 * expected))
    assert search.low_s == pytest.approx(20 * (1.0 + 1e-7 * ann_macs(space.smallest())))
    cpu = {p.stage: p for p in run.projections("cpu")}
    assert cpu["supernet training"].seconds == pytest.approx(0.5 * 7 * 30 * step(6e6, 40) + 7 * 0.3)
    assert cpu["search"].seconds == pytest.approx(20 * 1.0)


# ------------------------------------------------------------------ the command
@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CAMPAIGN)
    return path


def _tree(path):
    """Every file under ``path`` with its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_dry_run_prints_every_stage_and_writes_nothing(tiny_yaml, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run folder would be runs/tiny here
    runs = []
    report = DryRun.report
    monkeypatch.setattr(DryRun, "report", lambda self, *a: runs.append(self) or report(self, *a))
    before = _tree(tmp_path)
    code, out, err = run_cli(["run", str(tiny_yaml), "--dry-run", "--dry-run-steps", "1", "--no-progress"], capsys)
    assert code == 0, err
    run = runs[0]  # one timed step per kind and 3 timed candidates: the warm-ups were run and left out
    assert {k: len(t.times) for k, t in run.training.items()} == {"largest": 1, "smallest": 1, "sampled": 1}
    assert len(run.candidates.times) == 3 and run.bar.total == 3 * 2 + 5
    assert _tree(tmp_path) == before and not (tmp_path / "runs").exists()
    assert "nothing was written to runs/tiny" in out
    for kind in ("largest", "smallest", "sampled"):
        assert re.search(rf"^  {kind} +{NUM} s/step \({NUM} MACs per sample, {NUM} layer-steps\)", out, re.M), kind
    m = re.search(rf"^supernet training projected: 1 epochs x ({NUM}) steps = ({NUM}) steps -> ({NUM}) (s|min)", out,
                  re.M)
    assert m and m.group(1) == m.group(2) and float(m.group(3)) > 0
    assert int(m.group(1)) == len(load_data("digits", image_size=16).train) // 64
    m = re.search(rf"^search projected: ({NUM}) evaluations \(4 x 2 generations .*-> ({NUM}) (s|min)", out, re.M)
    assert m and m.group(1) == "8" and float(m.group(2)) > 0
    assert re.search(rf"^extremes check: largest {NUM} s \+ smallest {NUM} s .* projected {NUM} s", out, re.M)
    assert len(re.findall(rf"peak memory: {NUM} MB", out)) == 2
    assert re.search(rf"largest batch that fits: ~{NUM} \(estimate: {NUM} MB saved for backward per sample", out)
    assert re.search(rf"^total projected: {NUM} (s|min)", out, re.M)
    assert re.search(r"^least certain: (supernet training|search|extremes check) \(.*x[0-9]", out, re.M)
    assert "discarded warm-up" in out


@pytest.mark.slow
def test_dry_run_leaves_an_existing_run_folder_as_it_is(tiny_yaml, tmp_path, capsys):
    folder = RunFolder(tmp_path / "run")
    campaign = Campaign.from_yaml(tiny_yaml)
    folder.prepare(campaign)
    (folder.path / "campaign.yaml").write_text((folder.path / "campaign.yaml").read_text())
    time.sleep(0.01)
    before = _tree(folder.path)
    code, out, err = run_cli(["run", str(tiny_yaml), "--out", str(folder.path), "--dry-run", "--dry-run-steps", "1",
                              "--no-progress"], capsys)
    assert code == 0, err
    assert "already holds this campaign" in out
    assert _tree(folder.path) == before


def _bad_inputs(tmp_path, tiny_yaml):
    """(name, extra CLI args) of inputs `run` refuses before writing anything."""
    cases = []
    bad = tmp_path / "bad_lr.yaml"
    bad.write_text(TINY_CAMPAIGN.replace("supernet: {epochs: 1}", "supernet: {epochs: 1, lr: -1}"))
    cases.append(("negative lr", [str(bad)]))
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(TINY_CAMPAIGN + "colour: blue\n")
    cases.append(("unknown key", [str(unknown)]))
    cases.append(("missing file", [str(tmp_path / "nope.yaml")]))
    cifar = tmp_path / "cifar.yaml"
    cifar.write_text(f"name: c\nspace: spikformer-cifar10\ndata: {{name: cifar10, root: {tmp_path / 'none'}}}\n")
    cases.append(("missing dataset", [str(cifar)]))
    other = RunFolder(tmp_path / "other")
    c = Campaign.from_yaml(tiny_yaml)
    c.seed = 5
    other.prepare(c)
    cases.append(("folder of another campaign", [str(tiny_yaml), "--out", str(other.path)]))
    corrupt = RunFolder(tmp_path / "corrupt")
    corrupt.prepare(Campaign.from_yaml(tiny_yaml))
    corrupt.supernet.write_bytes(b"not a checkpoint")
    cases.append(("corrupt supernet.pt", [str(tiny_yaml), "--out", str(corrupt.path)]))
    notrun = tmp_path / "notrun"
    notrun.mkdir()
    (notrun / "x.txt").write_text("mine")
    cases.append(("non-empty foreign folder", [str(tiny_yaml), "--out", str(notrun)]))
    cases.append(("bad seed", [str(tiny_yaml), "--seed", "-3"]))
    cases.append(("bad device", [str(tiny_yaml), "--device", "tpu"]))
    cases.append(("absent cuda device", [str(tiny_yaml), "--device", "cuda:7"]))
    return cases


def test_bad_inputs_are_refused_exactly_as_run_refuses_them(tmp_path, tiny_yaml, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, args in _bad_inputs(tmp_path, tiny_yaml):
        before = _tree(tmp_path)
        run_code, run_out, run_err = run_cli(["run", *args, "--no-progress"], capsys)
        assert run_code == 2, (name, run_err)
        assert _tree(tmp_path) == before, name
        code, out, err = run_cli(["run", *args, "--no-progress", "--dry-run"], capsys)
        assert (code, err) == (run_code, run_err), name
        assert err.startswith("autosnn: error: ") and err.count("\n") == 1, (name, err)
        assert out == "" and _tree(tmp_path) == before, name


def test_dry_run_steps_alone_is_refused(tiny_yaml, capsys):
    code, out, err = run_cli(["run", str(tiny_yaml), "--dry-run-steps", "2"], capsys)
    assert code == 2 and err == "autosnn: error: --dry-run-steps needs --dry-run\n"


def test_an_unreachable_ray_cluster_is_refused_in_seconds(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "ray.yaml"
    path.write_text(TINY_CAMPAIGN + f"evaluator: {{kind: ray, address: '127.0.0.1:{port}'}}\n")
    t0 = time.perf_counter()
    code, out, err = run_cli(["run", str(path), "--out", str(tmp_path / "run"), "--dry-run"], capsys)
    assert time.perf_counter() - t0 < 10
    assert code == 2 and err.count("\n") == 1
    assert f"Ray cluster at 127.0.0.1:{port} does not answer" in err
    assert not (tmp_path / "run").exists()
