"""``autosnn run CONFIG --dry-run``: what a campaign will cost, measured before it starts.

On the present device and at the campaign's real sizes (its data, batch size, space and
training recipe) the dry run times a few real :meth:`~autosnn.supernet.training.Trainer.step`
calls of the largest, the smallest and sampled subnets (each with the campaign's passes:
its sampling and distillation), a BatchNorm recalibration and validation pass per
candidate (when the campaign recalibrates) on a slice of the validation split, and
projects every stage with :mod:`autosnn.pipeline.projection`. The first step or
evaluation of each kind is discarded (first-call overhead: allocator, kernels, worker
start-up). It writes nothing: not the run folder, not ``campaign.yaml``; the checks are
those of ``autosnn run`` (:func:`~autosnn.pipeline.run.checked_space`), with the same
one-line errors. With ``evaluator.kind: ray`` the cluster is checked for reachability
but candidates are evaluated in this process.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from spikingjelly.activation_based import functional
from tqdm.auto import tqdm

from autosnn.campaign import Campaign
from autosnn.data.splits import DataSplits, to_device
from autosnn.device import autocast, autocast_dtype, evaluation_precision, select_device
from autosnn.errors import ConfigError
from autosnn.fitness.energy import energy_model_from_config
from autosnn.fitness.evaluator import accuracy_and_energy, build_local_evaluator, is_out_of_memory
from autosnn.pipeline.projection import CostModel, Projection, fit_cost, project, search_evaluations, size_features
from autosnn.pipeline.run import checked_space, uses_ray
from autosnn.run_folder import RunFolder
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig
from autosnn.supernet.commands import campaign_data
from autosnn.supernet.recalibrate import bn_recalibrated, recalibration_batches
from autosnn.supernet.supernet import SpikformerSupernet
from autosnn.supernet.training import Trainer, subnets_for_step, train_loader

__all__ = ["dry_run", "check_ray", "DEFAULT_STEPS"]

#: Timed training steps per kind (largest, smallest, sampled), after one discarded warm-up step each.
DEFAULT_STEPS = 3
#: Draws of the campaign's sampling used to compute the expected size of a step / a candidate.
_SIZE_DRAWS = 2000


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory(device: torch.device) -> str:
    """CUDA: the peak allocated since the last reset; else the process's resident peak."""
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MB (CUDA max_memory_allocated)"
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    scale = 1 if sys.platform == "darwin" else 1024
    return f"{kb * scale / 2**20:,.0f} MB (process resident peak so far)"


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _available_bytes() -> float | None:
    """Memory the OS could give this process now (``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_ray(campaign: Campaign, timeout_s: float = 5.0) -> str | None:
    """With ``evaluator.kind: ray`` (and a supernet to evaluate), check that the cluster
    the campaign names answers, exactly as ``autosnn run`` does first
    (:func:`autosnn.distributed.cluster.reach`: one line, exit 2 if not); returns what was
    checked, or ``None`` for the in-process evaluator. A private local Ray
    (``address: null``) is started by the run itself: nothing to reach."""
    if not uses_ray(campaign):
        return None
    from autosnn.distributed.cluster import is_local, reach

    ev = campaign.evaluator
    if is_local(ev.address):
        return f"evaluator: ray, {ev.workers} workers on a private local Ray (started by the run; nothing to reach)"
    reach(ev.address, timeout_s=timeout_s)
    return f"evaluator: ray, the cluster at {ev.address} answers; {ev.workers} workers"


#: The clocks every unit is timed on: wall time (what a user waits; projected) and this
#: process's CPU time (what the work costs, whatever else the machine runs).
CLOCKS = ("wall", "cpu")


def _now() -> np.ndarray:
    return np.array([time.perf_counter(), time.process_time()])


@dataclass
class _Timings:
    """Measured units of one kind: their sizes (:func:`size_features`) and seconds on
    each clock, warm-up excluded."""

    sizes: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)

    def add(self, size: np.ndarray, seconds: np.ndarray) -> None:
        self.sizes.append(np.asarray(size, dtype=float))
        self.times.append(np.asarray(seconds, dtype=float))

    def seconds(self, clock: str = "wall") -> list[float]:
        return [float(t[CLOCKS.index(clock)]) for t in self.times]

    def mean(self, clock: str = "wall") -> float:
        return float(np.mean(self.seconds(clock))) if self.times else float("nan")


def _cycle(make: Callable[[], Iterator]) -> Iterator:
    while True:
        yielded = False
        for item in make():
            yielded = True
            yield item
        if not yielded:
            raise ValueError("the training split gives no full batch (fewer images than data.batch_size)")


def _expected(draw: Callable[[], np.ndarray], n: int = _SIZE_DRAWS) -> np.ndarray:
    return np.mean([draw() for _ in range(n)], axis=0)


def _resize_batch(x, n: int):
    """A batch of ``n`` inputs made by repeating ``x``'s (batch dim 0 for images, 1 for
    time-major frames; a dict of frames per T)."""
    if isinstance(x, dict):
        return {t: _resize_batch(v, n) for t, v in x.items()}
    dim = 1 if x.dim() == 5 else 0
    idx = torch.arange(n, device=x.device) % x.shape[dim]
    return x.index_select(dim, idx)


class DryRun:
    """One dry run: measure (:meth:`measure`), then :meth:`report` the projection."""

    def __init__(self, campaign: Campaign, space: SearchSpace, data: DataSplits, device: torch.device, *,
                 steps: int = DEFAULT_STEPS, progress: bool = True, out: Callable[[str], None] = print) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.campaign, self.space, self.data, self.device = campaign, space, data, device
        self.steps, self.progress, self.out = steps, progress, out
        self.training: dict[str, _Timings] = {}
        self.candidates = _Timings()           # projected seconds of one full evaluation, per measured candidate
        self.extremes: dict[str, np.ndarray] = {}   # whole-split check of the largest / smallest (print_extremes)
        self.memory: dict[str, str] = {}
        self.timed_batch = campaign.data.batch_size  # smaller on a CPU whose memory cannot hold the real batch

    # ------------------------------------------------------------ measuring
    def measure(self) -> None:
        c = self.campaign
        load_start = _load()
        torch.manual_seed(c.seed)
        supernet = SpikformerSupernet(self.space).to(self.device)
        self.supernet = supernet
        kinds = 3 if c.fitness.mode != "training-free" else 0
        n_eval = 2 + 2 + self.steps   # two warm-ups, largest, smallest, sampled
        total = kinds * (self.steps + 1) + n_eval
        self.bar = tqdm(total=total, desc="dry run", unit="step", disable=not self.progress, dynamic_ncols=True)
        try:
            if c.fitness.mode != "training-free":
                _reset_peak(self.device)
                self._measure_training(supernet)
                self.memory["supernet training"] = _peak_memory(self.device)
                self.max_batch = self._max_batch(supernet)
            _reset_peak(self.device)
            self._measure_evaluation(supernet)
            self.memory["search"] = _peak_memory(self.device)
        finally:
            self.bar.close()
            self.load = (load_start, _load())

    def _tick(self, what: str) -> None:
        self.bar.set_postfix_str(what)
        self.bar.update(1)

    def _measure_training(self, supernet: SpikformerSupernet) -> None:
        c, cfg, space = self.campaign, self.campaign.supernet, self.space
        bs, workers = c.data.batch_size, c.data.num_workers
        t0 = _now()
        loader = train_loader(self.data, bs, c.seed, 0, workers, device=self.device)
        self.steps_per_epoch = len(loader)
        if self.steps_per_epoch == 0:
            raise ValueError("the training split gives no full batch (fewer images than data.batch_size)")
        batches = _cycle(lambda: train_loader(self.data, bs, c.seed, 0, workers, device=self.device))
        first = next(batches)
        self.loader_start = _now() - t0  # a fresh epoch's loader, to its first batch
        buf = io.BytesIO()
        t0 = _now()
        torch.save({"model": supernet.state_dict()}, buf)  # the per-epoch checkpoint, in memory (written nowhere)
        self.checkpoint = _now() - t0
        trainer = Trainer(supernet, cfg, self.steps_per_epoch, self.device)
        self.trainer = trainer
        rng = np.random.default_rng(c.seed)  # the real run's sampler: the sampled steps are its first steps
        shape = lambda r: subnets_for_step(space, cfg.sampling, r, sandwich_random=cfg.sandwich_random,  # noqa: E731
                                           distillation=cfg.distillation)
        self.passes = len(shape(np.random.default_rng(0)))
        distill = cfg.distillation == "inplace"
        kinds: dict[str, Callable[[], list[SubnetConfig]]] = {
            "largest": lambda: [space.largest()] * self.passes,
            "smallest": lambda: [space.smallest()] * self.passes,
            "sampled": lambda: shape(rng),
        }
        supernet.train()
        self._fit_batch(supernet, trainer, first)
        b = self.timed_batch
        for kind, configs_of in kinds.items():
            timings = self.training[kind] = _Timings()
            for i in range(self.steps + 1):
                configs = configs_of()
                _sync(self.device)
                t0 = _now()
                x, y = next(batches)
                if b < bs:
                    x, y = _resize_batch(x, b), y[:b]
                x, y = to_device(x, self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                trainer.step(x, y, [lambda cf=cf: supernet.set_config(cf) for cf in configs], distill)
                _sync(self.device)
                if i > 0:  # the first step of each kind is the warm-up; a smaller batch is scaled to the real one
                    timings.add(size_features(configs), (_now() - t0) * (bs / b))
                self._tick(f"train {kind} {i}/{self.steps}")
        self.last_batch = (x, y)
        size_rng = np.random.default_rng(c.seed + 1)
        self.step_sizes = {
            "expected": _expected(lambda: size_features(shape(size_rng)), _SIZE_DRAWS // self.passes),
            "low": size_features([space.smallest()] * self.passes),
            "high": size_features([space.largest()] * self.passes)}

    def _fit_batch(self, supernet: SpikformerSupernet, trainer: Trainer, batch) -> None:
        """Measure the bytes autograd keeps per sample in a training pass of the largest
        subnet (on a batch of at most 4: cheap, whatever the campaign's batch), by address
        so that a view counts once (a lower bound: temporaries come on top). On the CPU, when
        the campaign's batch would need more than half the memory available now, time a
        batch that needs a fifth of it (a shared machine's other jobs grow too) and scale
        the times by batch size (the run itself would exhaust memory: said so)."""
        x, y = batch
        n = min(4, len(y))
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            saved[storage.data_ptr()] = storage.nbytes()
            return t

        largest = self.space.largest()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            trainer.step(to_device(_resize_batch(x, n), self.device), y[:n].to(self.device),
                         [lambda: supernet.set_config(largest)])
        self.per_sample_bytes = sum(saved.values()) / n
        self.available_bytes = _available_bytes()
        bs = self.campaign.data.batch_size
        if self.device.type == "cuda" or not self.available_bytes or not self.per_sample_bytes:
            return
        if bs * self.per_sample_bytes > 0.5 * self.available_bytes:  # passes run one after the other: one at a time
            self.timed_batch = max(1, min(bs, int(0.2 * self.available_bytes / self.per_sample_bytes)))

    def _max_batch(self, supernet: SpikformerSupernet) -> str:
        """On CUDA the largest batch whose training step of the largest subnet fits
        (doubling, then bisection, catching out-of-memory); on the CPU an estimate from
        the bytes autograd keeps per sample (:meth:`_fit_batch`) and the memory available."""
        x, y = self.last_batch
        bs = self.campaign.data.batch_size
        largest = self.space.largest()
        step = lambda n: self.trainer.step(_resize_batch(x, n), _resize_batch(y, n),  # noqa: E731
                                           [lambda: supernet.set_config(largest)])
        if self.device.type != "cuda":
            per_sample, avail = self.per_sample_bytes, self.available_bytes
            if not per_sample or avail is None:
                return "unknown (could not measure the memory per sample)"
            return (f"~{int(avail // per_sample):,} (estimate: {per_sample / 2**20:.2f} MB saved for backward per "
                    f"sample by the largest subnet, {avail / 2**30:.1f} GB available)")
        cap = max(bs, len(self.data.train))

        def fits(n: int) -> bool:
            try:
                step(n)
                _sync(self.device)
                return True
            except RuntimeError as exc:
                if not is_out_of_memory(exc):
                    raise
                self.trainer.optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                return False

        lo, hi = 0, bs
        while hi <= cap and fits(hi):
            lo, hi = hi, hi * 2
        if lo >= cap:
            return f">= {lo:,} (the whole training split fits in one batch)"
        hi = min(hi, cap + 1)
        while hi - lo > max(1, lo // 32):  # to within ~3 %
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        torch.cuda.empty_cache()
        if lo < bs:
            return f"{lo:,}: less than the campaign's batch {bs}, which does not fit (found by trying)"
        return f"{lo:,} (found by trying: a training step of the largest subnet)"

    def _eval_candidates(self) -> list[tuple[str, SubnetConfig]]:
        rng = np.random.default_rng(self.campaign.seed + 2)
        return ([("warm-up", self.space.largest()), ("warm-up", self.space.smallest()),
                 ("largest", self.space.largest()), ("smallest", self.space.smallest())]
                + [("sampled", self.space.sample(rng)) for _ in range(self.steps)])

    def _val_samples(self) -> int:
        n = len(self.data.val)
        cap = self.campaign.fitness.max_val_batches
        return min(n, cap * self.campaign.data.batch_size) if cap else n

    def _measure_evaluation(self, supernet: SpikformerSupernet) -> None:
        c = self.campaign
        bs, recal = c.data.batch_size, c.fitness.bn_recalibration_batches
        self.slice_batches = min(self.steps, max(1, -(-self._val_samples() // bs)))
        full = self._val_samples()
        if c.fitness.mode == "training-free":
            evaluator = build_local_evaluator(c, self.space, None, self.data, self.device)
            for label, config in self._eval_candidates():
                _sync(self.device)
                t0 = _now()
                evaluator.evaluate([config])
                _sync(self.device)
                if label != "warm-up":
                    self.candidates.add(size_features(config), _now() - t0)
                self._tick(f"score {label}")
            return
        costs = energy_model_from_config(c.fitness.energy)
        precision = evaluation_precision(c.supernet.precision)   # what the search's evaluator runs at
        supernet.eval()
        full_val = len(self.data.val)
        with torch.no_grad():
            for label, config in self._eval_candidates():
                supernet.set_config(config)
                data = self.data.for_time_steps(config.time_steps)
                _sync(self.device)
                t0 = _now()
                batches = recalibration_batches(data, bs, recal, device=self.device)
                with autocast(self.device, precision), bn_recalibrated(supernet, batches, recal, self.device):
                    _sync(self.device)
                    t1 = _now()
                    _, seen, _ = accuracy_and_energy(supernet, data.loader("val", bs, device=self.device), self.device,
                                                     costs, self.slice_batches)
                    _sync(self.device)
                    t2 = _now()
                functional.reset_net(supernet)
                self._tick(f"evaluate {label}")
                if label == "warm-up":
                    continue
                recal_s, per_sample = t1 - t0, (t2 - t1) / max(1, seen)
                self.candidates.add(size_features(config), recal_s + per_sample * full)
                if label in ("largest", "smallest"):  # after training, `run` checks both on the whole split
                    self.extremes[label] = recal_s + per_sample * full_val

    # ------------------------------------------------------------ projecting
    def projections(self, clock: str = "wall") -> list[Projection]:
        """Each stage's projection on ``clock`` (``wall``: what the user waits, printed;
        ``cpu``: this process's CPU time, which another process's load does not stretch)."""
        c, space, k = self.campaign, self.space, CLOCKS.index(clock)
        out: list[Projection] = []
        if c.fitness.mode != "training-free":
            timed = [t for t in self.training.values()]
            model = fit_cost([m for t in timed for m in t.sizes], [s for t in timed for s in t.seconds(clock)])
            self.training_model = model
            units = c.supernet.epochs * self.steps_per_epoch
            out.append(project("supernet training", model, units, self.step_sizes["expected"], self.step_sizes["low"],
                               self.step_sizes["high"], measured=sum(len(t.times) for t in timed),
                               fixed_s=c.supernet.epochs * float(self.loader_start[k] + self.checkpoint[k])))
            extremes = float(sum(v[k] for v in self.extremes.values()))
            out.append(Projection("extremes check", 2, extremes / 2, 0.0, extremes, extremes, 2, 0.0, False))
        model = fit_cost(self.candidates.sizes, self.candidates.seconds(clock))
        self.search_model = model
        size_rng = np.random.default_rng(c.seed + 3)
        expected = self.expected_candidate_size = _expected(lambda: size_features(space.sample(size_rng)))
        s = c.search
        units = search_evaluations(s.algorithm, s.population, s.generations, s.seed_extremes)
        out.append(project("search", model, units, expected, size_features(space.smallest()),
                           size_features(space.largest()),
                           measured=len(self.candidates.times)))
        return out

    def report(self, folder: RunFolder, ray_note: str | None) -> list[Projection]:
        c, say = self.campaign, self.out
        projections = self.projections()
        say(f"dry run of campaign '{c.name}' (seed {c.seed}) on {self.device} ({os.cpu_count()} cores, load "
            f"average {self.load[0]:.2f} -> {self.load[1]:.2f} while measuring); nothing was written to {folder.path}")
        say(f"data: {c.data.name}, {len(self.data.train):,} training / {len(self.data.val):,} validation samples, "
            f"batch {c.data.batch_size}")
        say("timing: the first step / evaluation of each kind is a discarded warm-up (first-call overhead); "
            "projections read a fitted 'seconds = a + b x MACs + c x layer-steps' at the expected size of what "
            "the campaign runs")
        if ray_note:
            say(ray_note + "; candidates were evaluated in this process")
        for p in projections:
            if p.stage == "supernet training":
                self._report_training(p)
            elif p.stage == "extremes check":
                say(f"extremes check: largest {self.extremes['largest'][0]:.3g} s + smallest "
                    f"{self.extremes['smallest'][0]:.3g} s on the whole validation split -> projected "
                    f"{_hms(p.seconds)}")
            else:
                self._report_search(p)
        total = sum(p.seconds for p in projections)
        recal = " and recalibrates it" if c.fitness.bn_recalibration_batches else ""
        if c.fitness.mode == "training-free":
            retrain = "nothing to retrain in training-free mode"
        else:  # one pass of the largest per step, the supernet's epochs
            each = self.training_model.seconds(size_features(self.space.largest()))
            retrain = (f"'autosnn retrain' of the largest subnet for {c.supernet.epochs} epochs would take about "
                       f"{_hms(c.supernet.epochs * self.steps_per_epoch * each)}")
        say(f"retraining: none in 'autosnn run' (its export only extracts the pick{recal}); {retrain}")
        say(f"total projected: {_hms(total)} (supernet training, extremes check and search; reports and export "
            "not included: seconds)")
        worst = max(projections, key=lambda p: p.uncertainty * p.seconds)
        say(f"least certain: {worst.stage} ({self._why(worst)})")
        return projections

    def _report_training(self, p: Projection) -> None:
        c, m, say = self.campaign, self.training_model, self.out
        say(f"supernet training: {self.steps} timed steps each of the largest / smallest / sampled subnets, "
            f"{self.passes} pass(es) per step (sampling {c.supernet.sampling}, distillation {c.supernet.distillation})")
        for kind, t in self.training.items():
            say(f"  {kind:<8} {t.mean():.4g} s/step ({_size(np.mean(t.sizes, axis=0))})")
        say(f"  cost model: {_model(m)} per step (fit residual {m.residual:.0%}); expected step "
            f"{p.seconds_each:.4g} s at {_size(self.step_sizes['expected'])}")
        say(f"supernet training projected: {c.supernet.epochs} epochs x {self.steps_per_epoch} steps = {p.units:,} "
            f"steps -> {_hms(p.seconds)} (all-smallest {_hms(p.low_s)}, all-largest {_hms(p.high_s)}; per epoch "
            f"{self.loader_start[0] + self.checkpoint[0]:.2g} s of loader start and checkpoint included)")
        say(f"  peak memory: {self.memory['supernet training']}; largest batch that fits: {self.max_batch}")
        if self.timed_batch < c.data.batch_size:
            need = c.data.batch_size * self.per_sample_bytes / 2**30
            say(f"  WARNING: data.batch_size {c.data.batch_size} needs ~{need:.1f} GB for a step of the largest subnet "
                f"and {self.available_bytes / 2**30:.1f} GB are available: the run would exhaust this machine's "
                f"memory; steps were timed at batch {self.timed_batch} and scaled x"
                f"{c.data.batch_size / self.timed_batch:.3g}")

    def _report_search(self, p: Projection) -> None:
        c, m, say = self.campaign, self.search_model, self.out
        s = c.search
        seeded = 2 if s.seed_extremes and s.algorithm in ("nsga2", "ga-aeb") else 0
        if c.fitness.mode == "training-free":
            say(f"search: {len(self.candidates.times)} candidates scored training-free (after 2 warm-ups)")
        else:
            recal = c.fitness.bn_recalibration_batches
            say(f"search: {len(self.candidates.times)} candidates evaluated (after 2 warm-ups), each "
                + (f"recalibrated on {recal} batches, " if recal else "")
                + f"validated on {self.slice_batches} batch(es), scaled to {self._val_samples():,} validation samples")
        say(f"  cost model: {_model(m)} per candidate (fit residual {m.residual:.0%}); expected candidate "
            f"{p.seconds_each:.4g} s at {_size(self.expected_candidate_size)}")
        parallel = ""
        if c.evaluator.kind == "ray" and c.fitness.mode != "training-free":
            parallel = f"; at best / {c.evaluator.workers} with {c.evaluator.workers} Ray workers in parallel"
        say(f"search projected: {p.units:,} evaluations ({s.population} x {s.generations} generations + 2 extremes"
            + (f" - {seeded} seeded extremes answered from memory" if seeded else "")
            + f"; duplicates are never evaluated) -> {_hms(p.seconds)} in this process{parallel} "
            f"(all-smallest {_hms(p.low_s)}, all-largest {_hms(p.high_s)})")
        say(f"  peak memory: {self.memory['search']}")

    def _why(self, p: Projection) -> str:
        parts = [f"{p.units:,} units projected from {p.measured} timed, x{p.factor:,.0f}",
                 f"fit residual {p.residual:.0%}",
                 f"could be {_hms(p.low_s)} to {_hms(p.high_s)} depending on the subnets run"]
        if p.stage == "search":
            parts.append("the search's later generations follow the front, not the uniform samples the "
                         "expected size assumes")
        if p.extrapolated:
            parts.append("the expected size lies outside the measured ones")
        load = max(self.load)
        if self.device.type == "cpu" and load > (os.cpu_count() or 1):
            parts.append(f"the machine was loaded ({load:.1f} on {os.cpu_count()} cores): times scale with load")
        return "; ".join(parts)


def _size(size: np.ndarray) -> str:
    return f"{size[0]:.3g} MACs per sample, {size[1]:.0f} layer-steps"


def _model(m: CostModel) -> str:
    return f"{m.intercept:.3g} s + {m.coefficients[0]:.3g} s/MAC + {m.coefficients[1]:.3g} s/layer-step"


def _hms(seconds: float) -> str:
    s = max(0.0, float(seconds))
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def dry_run(campaign: Campaign, folder: RunFolder, *, device: str = "auto", progress: bool = True,
            steps: int = DEFAULT_STEPS, out: Callable[[str], None] = print) -> list[Projection]:
    """Check ``campaign`` as ``autosnn run`` would for ``folder`` (same errors), measure
    a few steps and evaluations on ``device`` and print the projected cost of every
    stage; returns the projections. Writes nothing anywhere (the per-epoch checkpoint is
    timed into memory)."""
    space = checked_space(campaign, folder)
    ray_note = check_ray(campaign)
    dev = select_device(device)
    autocast_dtype(dev, campaign.supernet.precision)   # fp16 on the CPU: refused as by run
    data = campaign_data(campaign, space)
    if folder.campaign_yaml.is_file():
        out(f"note: {folder.path} already holds this campaign; 'autosnn run' would resume it, doing less than "
            "projected here (the projection is for the whole campaign from the start)")
    run = DryRun(campaign, space, data, dev, steps=steps, progress=progress, out=out)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        try:
            run.measure()
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            raise ConfigError(f"the campaign does not fit in {dev}'s memory at data.batch_size "
                              f"{campaign.data.batch_size} ({str(exc).splitlines()[0][:160]}); lower it") from None
    return run.report(folder, ray_note)
