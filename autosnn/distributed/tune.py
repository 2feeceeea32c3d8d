"""``tune_retrain``: a Ray Tune sweep over the fine-tuning of an exported subnet.

Each trial fine-tunes the export's inherited weights (``model.safetensors``) with the
campaign's training recipe (``autosnn.supernet.training``: AdamW, cosine schedule, label
smoothing, gradient clipping), its own learning rate, weight decay and number of epochs,
and reports validation accuracy after every epoch; the ASHA scheduler stops the weak
trials early. The best trial's best epoch (validation accuracy) is kept in the export:

    EXPORT_DIR/tune/best.safetensors   weights (same format as model.safetensors)
    EXPORT_DIR/tune/result.json        best hyper-parameters and metrics, every trial
    EXPORT_DIR/tune/ray_results/       Ray Tune's own folder (trial logs, checkpoints)

A trial's checkpoint (Ray Tune's, one per epoch) holds its full training state, so a trial
that Tune restarts after a failure (``FailureConfig(max_failures=1)``) resumes from its
last epoch (``tune.get_checkpoint()``) on whichever node and device it lands.

Selection uses the validation split only; the test accuracy of the chosen model is
measured once, afterwards, and only reported.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["tune_retrain", "TUNE_DIR", "BEST_FILE", "RESULT_FILE"]

TUNE_DIR = "tune"
BEST_FILE = "best.safetensors"
RESULT_FILE = "result.json"
METRIC = "val_accuracy"
TRIAL_FILE = "trial.pt"
TRIAL_KIND = "autosnn-tune-trial"


def _train_trial(config: dict[str, Any], export_dir: str, seed: int, threads: int) -> None:
    """One Ray Tune trial (runs in a Ray worker process): resumes from the trial's latest
    checkpoint when Tune restarts it (``tune.get_checkpoint()``), reports after every epoch."""
    from ray import tune

    def report(metrics: dict[str, Any], directory: str) -> None:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    _run_trial(config, export_dir, seed, threads, restored=tune.get_checkpoint(), report=report)


def _run_trial(config: dict[str, Any], export_dir: str, seed: int, threads: int, *, restored: Any,
               report: Callable[[dict[str, Any], str], None]) -> None:
    """Fine-tune the export's inherited weights with ``config``'s lr, weight decay and
    epochs; after every epoch call ``report(metrics, directory)`` with a directory holding
    ``model.safetensors`` (what the sweep keeps) and ``trial.pt`` (weights, optimiser,
    schedule, loss scaler, RNG states and the epoch: what a restarted trial resumes from).
    ``restored``: a ``ray.tune.Checkpoint`` of such a directory, or ``None`` for a fresh trial."""
    from safetensors.torch import save_file

    from autosnn.checkpoint import load_checkpoint, save_checkpoint
    from autosnn.device import evaluation_precision
    from autosnn.export.evaluate import export_data
    from autosnn.export.files import load_subnet
    from autosnn.supernet.resume import restore_rng, rng_state
    from autosnn.supernet.training import Trainer, accuracy, train_loader

    torch.set_num_threads(threads)
    device = torch.device("cuda") if torch.cuda.is_available() and config.get("gpu") else torch.device("cpu")
    cfg, _, _, campaign, data = export_data(Path(export_dir))
    epochs = int(config["epochs"])
    recipe = dataclasses.replace(campaign.supernet, lr=float(config["lr"]), weight_decay=float(config["weight_decay"]),
                                 epochs=epochs, warmup_epochs=0)
    batch_size = campaign.data.batch_size
    torch.manual_seed(seed)
    model = load_subnet(export_dir, device)
    trainer = Trainer(model, recipe, len(train_loader(data, batch_size, seed, 0, 0, device=device)), device)
    start = 0
    if restored is not None:
        with restored.as_directory() as ckpt_dir:
            state = load_checkpoint(Path(ckpt_dir) / TRIAL_FILE, kind=TRIAL_KIND)   # on the CPU, placed below
        model.load_state_dict(state["model"])
        trainer.load_state_dict(state["trainer"])
        restore_rng(state)
        start = int(state["epoch"])
    val = data.loader("val", batch_size, device=device)
    for epoch in range(start, epochs):
        loss = trainer.epoch(train_loader(data, batch_size, seed, epoch, 0, device=device), f"epoch {epoch + 1}", False)
        acc = accuracy(model, val, device, precision=evaluation_precision(recipe.precision))
        with tempfile.TemporaryDirectory() as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(Path(tmp) / "model.safetensors"))
            save_checkpoint({"kind": TRIAL_KIND, "model": model.state_dict(), "trainer": trainer.state_dict(),
                             "epoch": epoch + 1, **rng_state()}, Path(tmp) / TRIAL_FILE)
            report({METRIC: acc, "train_loss": loss, "epoch": epoch + 1}, tmp)


def tune_retrain(export_dir: str | Path, *, num_samples: int = 4, max_epochs: int = 3, seed: int | None = None,
                 address: str | None = None, init_kwargs: dict[str, Any] | None = None,
                 lr_range: tuple[float, float] = (1e-4, 1e-2),
                 weight_decay_range: tuple[float, float] = (1e-3, 0.1)) -> dict[str, Any]:
    """Sweep lr (log-uniform in ``lr_range``), weight decay (log-uniform) and epochs
    (1..``max_epochs``) of fine-tuning the export at ``export_dir``; ASHA stops weak trials
    early. Writes ``tune/best.safetensors`` and ``tune/result.json`` into the export and
    returns the result dict (best hyper-parameters, validation and test accuracy).

    ``address`` as in the campaign's ``evaluator.address`` (``None``: a local Ray,
    stopped again at the end). ``seed``: trials' training seed and the sampler's
    (default: the campaign's seed).
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from autosnn.atomic import write_json
    from autosnn.distributed.cluster import connect
    from autosnn.errors import ConfigError
    from autosnn.export.evaluate import export_data, measure
    from autosnn.export.files import EXPORT_KIND, load_weights, save_weights
    from autosnn.supernet.spikformer import Spikformer

    if num_samples <= 0 or max_epochs <= 0:
        raise ConfigError(f"tune: num_samples and max_epochs must be > 0, got {num_samples} and {max_epochs}")
    export_dir = Path(export_dir).resolve()
    cfg, config, _, campaign, data = export_data(export_dir)   # validates the export before Ray starts
    seed = campaign.seed if seed is None else seed
    out = export_dir / TUNE_DIR
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    # one checkpoint per epoch is the point here; Tune's "snapshotting too often" warning is noise
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = connect(address, init_kwargs=init_kwargs)
    try:
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        concurrent = max(1, min(num_samples, int(cpus)))
        threads = max(1, int(cpus // concurrent))
        resources = {"cpu": threads, "gpu": min(1.0, gpus / concurrent) if gpus else 0}
        trainable = tune.with_resources(
            tune.with_parameters(_train_trial, export_dir=str(export_dir), seed=seed, threads=threads), resources)
        space = {
            "lr": tune.loguniform(*lr_range),
            "weight_decay": tune.loguniform(*weight_decay_range),
            "epochs": tune.randint(1, max_epochs + 1),
            "gpu": bool(gpus),
        }
        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(
                metric=METRIC, mode="max", num_samples=num_samples, max_concurrent_trials=concurrent,
                scheduler=ASHAScheduler(time_attr="training_iteration", max_t=max_epochs, grace_period=1,
                                        reduction_factor=2),
                search_alg=BasicVariantGenerator(random_state=seed)),
            run_config=tune.RunConfig(
                name="sweep", storage_path=str(out / "ray_results"), verbose=0,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=METRIC,
                                                        checkpoint_score_order="max"),
                failure_config=tune.FailureConfig(max_failures=1)),
        )
        grid = tuner.fit()
        trials = []
        for r in grid:
            df = r.metrics_dataframe
            best_epoch_acc = float(df[METRIC].max()) if df is not None and METRIC in df else float("nan")
            trials.append({"config": {k: r.config[k] for k in ("lr", "weight_decay", "epochs")},
                           "epochs_run": int(r.metrics.get("training_iteration", 0)) if r.metrics else 0,
                           "best_val_accuracy": best_epoch_acc,
                           "error": None if r.error is None else str(r.error).splitlines()[0][:200]})
        best = grid.get_best_result(metric=METRIC, mode="max", scope="all")
        if best is None or best.error is not None and not best.best_checkpoints:
            raise RuntimeError(f"every Ray Tune trial failed: {[t['error'] for t in trials]}")
        checkpoint, best_metrics = max(best.best_checkpoints, key=lambda cm: cm[1][METRIC])
        with checkpoint.as_directory() as ckpt_dir:
            tensors, _ = load_weights(Path(ckpt_dir) / "model.safetensors")
    finally:
        if started:
            import ray

            ray.shutdown()

    model = Spikformer(cfg)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    save_weights(model, out / BEST_FILE, {"kind": EXPORT_KIND, "id": str(config["id"]),
                                          "space_fingerprint": str(config.get("space_fingerprint")),
                                          "arch": str(cfg), "tuned": "true"})
    dev = torch.device("cpu")
    val = measure(model, data.loader("val", campaign.data.batch_size, device=dev), dev, campaign)
    test = measure(model, data.loader("test", campaign.data.batch_size, device=dev), dev, campaign)
    result = {
        "export_id": str(config["id"]), "metric": METRIC, "num_samples": num_samples, "max_epochs": max_epochs,
        "seed": seed, "scheduler": "ASHA(grace_period=1, reduction_factor=2)",
        "best": {"lr": float(best.config["lr"]), "weight_decay": float(best.config["weight_decay"]),
                 "epochs": int(best.config["epochs"]), "epoch_kept": int(best_metrics.get("epoch", 0)),
                 "val_accuracy": float(best_metrics[METRIC])},
        "val_accuracy": val["accuracy"], "val_energy_mj": val["energy_mj"],
        "test_accuracy": test["accuracy"], "test_energy_mj": test["energy_mj"],
        "weights": f"{TUNE_DIR}/{BEST_FILE}", "trials": trials, "seconds": time.perf_counter() - t0,
    }
    write_json(out / RESULT_FILE, _plain(result))
    return result


def _plain(v: Any) -> Any:
    """Strict-JSON values: non-finite floats become null, unknown objects their string."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if hasattr(v, "item"):  # numpy / torch scalars
        return _plain(v.item())
    return str(v)
