"""``RayEvaluator``: the ``evaluator: {kind: ray}`` back end.

A pool of ``campaign.evaluator.workers`` Ray actors. The supernet's weights are put in
the object store ONCE, as a dict of numpy arrays (zero-copy for readers on the same
node), and the data splits once; every actor rebuilds ``SpikformerSupernet(space)``
(with the supernet's ``per_mixer_bn`` layout),
loads the weights and builds its own local evaluator once (the same one
``autosnn.fitness.build_local_evaluator`` gives, so answers are the same).
Candidates are handed out one at a time as actors free up (``ray.wait``); results come
back in input order.

Faults: actors are created with ``max_restarts=0`` and ``max_task_retries=0`` on
purpose: this class replaces a dead actor itself (killed, out of memory, node lost) and
re-queues its candidate, so that it can count attempts per candidate. A candidate whose
worker dies more than ``campaign.evaluator.max_retries`` times is recorded as
``EvalResult.failed`` (reason: how the worker died) and the campaign goes on. An
exception raised while evaluating a candidate is a failed result at once (it would fail
again).

Hung workers: with ``campaign.evaluator.timeout_s`` set, a candidate whose actor is alive
but has not answered ``timeout_s`` seconds after it was handed the candidate is treated
like a death: the actor is killed (an actor task cannot be interrupted any other way),
replaced, and the candidate retried up to ``max_retries`` times, then recorded failed
with the reason (``no answer within ... s``). A replacement's start-up (loading the
supernet) never counts against a candidate's time: the clock of work queued on it starts
when it is ready.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from typing import Any, Callable, Sequence

import numpy as np
import ray
import torch
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from autosnn.campaign import Campaign
from autosnn.data.splits import DataSplits
from autosnn.distributed.cluster import connect
from autosnn.distributed.errors import RayStartError
from autosnn.errors import ConfigError
from autosnn.fitness.result import EvalResult
from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import SubnetConfig

__all__ = ["RayEvaluator", "connect", "state_to_numpy", "state_from_numpy", "local_evaluator_factory"]

#: ``factory(campaign, space, supernet, data, device) -> Evaluator``, called once per actor.
EvaluatorFactory = Callable[[Campaign, SearchSpace, torch.nn.Module, DataSplits, torch.device], Any]


# ----------------------------------------------------------------- weights
def state_to_numpy(module: torch.nn.Module) -> dict[str, Any]:
    """A module's state dict as numpy arrays (plus dtypes numpy lacks, e.g. bfloat16)."""
    arrays, dtypes = {}, {}
    for name, t in module.state_dict().items():
        t = t.detach().cpu()
        if t.dtype in (torch.bfloat16,):
            dtypes[name] = str(t.dtype).removeprefix("torch.")
            t = t.float()
        arrays[name] = t.contiguous().numpy()
    return {"arrays": arrays, "dtypes": dtypes}


def state_from_numpy(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    out = {}
    for name, a in payload["arrays"].items():
        t = torch.from_numpy(np.array(a))  # copy: arrays from the object store are read-only
        if name in payload["dtypes"]:
            t = t.to(getattr(torch, payload["dtypes"][name]))
        out[name] = t
    return out


def local_evaluator_factory(campaign: Campaign, space: SearchSpace, supernet: torch.nn.Module, data: DataSplits,
                            device: torch.device):
    """The evaluator a ``kind: local`` campaign would use (``autosnn.fitness.build_local_evaluator``)."""
    from autosnn.fitness import build_local_evaluator

    return build_local_evaluator(campaign, space, supernet, data, device)


# ------------------------------------------------------------------ actor
class _Worker:
    """One evaluation process: its own supernet copy and local evaluator, built once."""

    def __init__(self, slot: int, campaign: dict, space: dict, state: dict, data: DataSplits, use_gpu: bool,
                 threads: int, factory: EvaluatorFactory | None, per_mixer_bn: bool = False) -> None:
        torch.set_num_threads(threads)
        from autosnn.supernet.supernet import SpikformerSupernet

        t0 = time.perf_counter()
        self.campaign = Campaign.from_dict(campaign, source="campaign (ray worker)")
        self.space = SearchSpace.from_dict(space, source="space (ray worker)")
        self.device = torch.device("cuda") if use_gpu and torch.cuda.is_available() else torch.device("cpu")
        supernet = SpikformerSupernet(self.space, per_mixer_bn=per_mixer_bn)
        supernet.load_state_dict(state_from_numpy(state))
        supernet.to(self.device).eval()
        self.evaluator = (factory or local_evaluator_factory)(self.campaign, self.space, supernet, data, self.device)
        self.name = f"ray-{slot}@{ray.util.get_node_ip_address()}/{os.getpid()}"
        self.setup_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "pid": os.getpid(), "threads": torch.get_num_threads(),
                "device": str(self.device), "setup_seconds": self.setup_seconds}

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, config: SubnetConfig) -> EvalResult:
        t0 = time.perf_counter()
        try:
            result = self.evaluator.evaluate([config])[0]
        except Exception as exc:  # noqa: BLE001 - one bad candidate never stops the campaign
            result = EvalResult.failed(config, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                                       seconds=time.perf_counter() - t0)
        result.worker = self.name
        return result

    def close(self) -> None:
        close = getattr(self.evaluator, "close", None)
        if close is not None:
            close()


_RemoteWorker = ray.remote(_Worker)


# -------------------------------------------------------------- evaluator
class RayEvaluator:
    """Evaluate candidates on a pool of Ray actors (see the module docstring).

    ``RayEvaluator(campaign, space, supernet, data, device)``; the keyword-only extras
    are for tests and benchmarks: ``factory`` replaces the per-actor evaluator,
    ``init_kwargs`` go to ``ray.init`` when a local Ray is started, ``connect_timeout_s``
    bounds the probe of a remote address, ``start_timeout_s`` bounds waiting for the
    actors to come up (e.g. a cluster without room for them).
    """

    def __init__(self, campaign: Campaign, space: SearchSpace, supernet: torch.nn.Module, data: DataSplits,
                 device: torch.device | str = "cpu", *, factory: EvaluatorFactory | None = None,
                 init_kwargs: dict[str, Any] | None = None, connect_timeout_s: float = 5.0,
                 start_timeout_s: float = 300.0) -> None:
        cfg = campaign.evaluator
        self.workers = int(cfg.workers)
        self.max_retries = int(cfg.max_retries)
        self.timeout_s = None if cfg.timeout_s is None else float(cfg.timeout_s)
        if self.timeout_s is not None and not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ConfigError(f"evaluator.timeout_s must be a finite number of seconds > 0 (or null), got {cfg.timeout_s}")
        self.start_timeout_s = float(start_timeout_s)
        self.restarts = 0
        self._actors: list[Any] = []
        self._names: list[str] = []
        t0 = time.perf_counter()
        self._started_ray = connect(cfg.address, timeout_s=connect_timeout_s, init_kwargs=init_kwargs)
        try:
            self._plan_resources(cfg, torch.device(device))
            campaign_dict = campaign.to_dict()
            self._args = (campaign_dict, space.to_dict(), ray.put(state_to_numpy(supernet)), ray.put(data),
                          self.use_gpu, self.threads, factory, bool(getattr(supernet, "per_mixer_bn", False)))
            self._actors = [self._spawn(i) for i in range(self.workers)]
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------ set-up
    def _plan_resources(self, cfg, device: torch.device) -> None:
        # Plan on what is free now (another pool or Tune may hold part of the cluster).
        res = ray.available_resources()
        cpus, gpus = float(res.get("CPU", 0.0)), float(res.get("GPU", 0.0))
        per = cpus / self.workers
        self.num_cpus = float(int(per)) if per >= 1 else math.floor(per * 1e4) / 1e4  # fractional: workers > CPUs
        self.threads = max(1, int(per))
        gpw = float(cfg.gpus_per_worker)
        if gpw == 0 and device.type == "cuda" and gpus > 0:
            gpw = min(1.0, gpus / self.workers)
        self.use_gpu = gpw > 0 and gpus > 0
        self.num_gpus = gpw if self.use_gpu else 0.0

    def _spawn(self, slot: int):
        actor_cls = _RemoteWorker.options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=0, max_task_retries=0,
            name=None, lifetime=None)
        return actor_cls.remote(slot, *self._args)

    def _wait_ready(self, timeout_s: float) -> None:
        refs = [a.info.remote() for a in self._actors]
        try:
            infos = ray.get(refs, timeout=timeout_s)
        except GetTimeoutError:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            raise RayStartError(f"only {len(ready)} of {self.workers} Ray workers started within {timeout_s:g} s "
                                f"(each asks for {self.num_cpus:g} CPU, {self.num_gpus:g} GPU; cluster has "
                                f"{ray.cluster_resources()}); lower evaluator.workers or add nodes") from None
        except RayActorError as exc:
            raise RayStartError(f"a Ray worker could not start: {_reason(exc)}") from None
        self.infos = infos
        self._names = [i["name"] for i in infos]

    def _replace(self, slot: int):
        """Kill the actor of ``slot`` and spawn its replacement; returns the replacement's
        readiness ref (``info()``), which completes once it has loaded the supernet."""
        try:
            ray.kill(self._actors[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._actors[slot] = self._spawn(slot)
        self.restarts += 1
        return self._actors[slot].info.remote()

    def _replacement_ready(self, slot: int, ref) -> bool:
        """Wait for a replacement's ``info()``; False when it died already (the candidate
        handed to it then fails like any other and is retried or recorded failed)."""
        try:
            info = ray.get(ref, timeout=self.start_timeout_s)
        except GetTimeoutError:
            raise RayStartError(f"a replacement Ray worker did not start within {self.start_timeout_s:g} s") from None
        except RayError:
            return False
        self._names[slot] = info["name"]
        return True

    # ------------------------------------------------------------ evaluation
    def evaluate(self, configs: Sequence[SubnetConfig]) -> list[EvalResult]:
        configs = list(configs)
        if not self._actors:
            raise RuntimeError("RayEvaluator is closed")
        results: list[EvalResult | None] = [None] * len(configs)
        queue: deque[tuple[int, int]] = deque((i, 0) for i in range(len(configs)))  # (index, failed tries so far)
        idle = list(range(len(self._actors)))[::-1]
        inflight: dict[Any, tuple[int, int, int, float]] = {}   # ref -> (slot, index, tries, handed out at)
        starting: dict[Any, tuple[int, float]] = {}              # replacement's info() ref -> (slot, spawned at)
        ready_at: dict[int, float] = {}                          # slot -> when its replacement became ready

        def retry_or_fail(slot: int, i: int, tries: int, t0: float, why: Callable[[int], str]) -> None:
            for old in [ref for ref, (s, _) in starting.items() if s == slot]:
                del starting[old]   # an earlier replacement of this slot that died too
            starting[self._replace(slot)] = (slot, time.perf_counter())
            idle.append(slot)   # the replacement queues work behind its start-up
            if tries < self.max_retries:
                queue.appendleft((i, tries + 1))
            else:
                results[i] = EvalResult.failed(configs[i], why(tries + 1), seconds=time.perf_counter() - t0,
                                               worker=self._names[slot])

        while queue or inflight:
            while queue and idle:
                slot = idle.pop()
                i, tries = queue.popleft()
                inflight[self._actors[slot].evaluate.remote(configs[i])] = (slot, i, tries, time.perf_counter())
            timeout = self._wait_s(inflight, starting, ready_at)
            done, _ = ray.wait(list(inflight) + list(starting), num_returns=1, timeout=timeout)
            for ref in done:
                if ref in starting:
                    slot, _ = starting.pop(ref)
                    if self._replacement_ready(slot, ref):
                        ready_at[slot] = time.perf_counter()
                    continue
                slot, i, tries, t0 = inflight.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except RayTaskError as exc:  # raised in the actor outside the guarded evaluation
                    results[i] = EvalResult.failed(configs[i], _reason(exc), seconds=time.perf_counter() - t0,
                                                   worker=self._names[slot])
                    idle.append(slot)
                except RayError as exc:  # the actor process is gone: replace it, retry the candidate
                    reason = _reason(exc)
                    retry_or_fail(slot, i, tries, t0, lambda n: f"worker died {n} time(s) evaluating it: {reason}")
                else:
                    idle.append(slot)
            now = time.perf_counter()
            for ref, (slot, t0) in starting.items():
                if now - t0 >= self.start_timeout_s:
                    raise RayStartError(f"a replacement Ray worker did not start within {self.start_timeout_s:g} s")
            for ref, (slot, i, tries, t0) in list(inflight.items()):
                deadline = self._deadline(slot, t0, starting, ready_at)
                if deadline is not None and now >= deadline:   # alive but silent: kill, replace, retry
                    del inflight[ref]
                    retry_or_fail(slot, i, tries, t0, lambda n: f"no answer within evaluator.timeout_s="
                                  f"{self.timeout_s:g} s, {n} time(s) (the hung worker was replaced each time)")
        for ref, (slot, _) in starting.items():   # a full, ready pool for the next call
            self._replacement_ready(slot, ref)
        return results  # type: ignore[return-value]

    def _deadline(self, slot: int, t0: float, starting: dict, ready_at: dict[int, float]) -> float | None:
        """When a candidate handed to ``slot`` at ``t0`` counts as hung: ``timeout_s`` after
        it was handed out or after the slot's replacement became ready, whichever is later
        (``None``: no time limit, or the replacement is still starting)."""
        if self.timeout_s is None or any(s == slot for s, _ in starting.values()):
            return None
        return max(t0, ready_at.get(slot, t0)) + self.timeout_s

    def _wait_s(self, inflight: dict, starting: dict, ready_at: dict[int, float]) -> float | None:
        """Seconds until the next deadline of a candidate or a starting replacement (``None``: none)."""
        deadlines = [t0 + self.start_timeout_s for _, t0 in starting.values()]
        deadlines += [d for slot, _, _, t0 in inflight.values()
                      if (d := self._deadline(slot, t0, starting, ready_at)) is not None]
        return max(0.0, min(deadlines) - time.perf_counter()) if deadlines else None

    # ------------------------------------------------------------ inspection / teardown
    def actor(self, slot: int):
        """The actor handle of ``slot`` (tests kill its process through ``actor(i).pid``)."""
        return self._actors[slot]

    def close(self) -> None:
        actors, self._actors = self._actors, []
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self._args = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    def __enter__(self) -> "RayEvaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    """One line saying why a Ray call failed."""
    if isinstance(exc, RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[-1] if text else ''}"[:300]
    kind = type(exc).__name__
    text = str(exc)
    for marker in ("killed", "out of memory", "OOM", "SIGKILL", "exit", "unexpectedly", "crash"):
        for line in text.splitlines():
            if marker.lower() in line.lower():
                return f"{kind}: {line.strip()}"[:300]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{kind}: {first}"[:300]
