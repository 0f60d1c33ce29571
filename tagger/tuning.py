"""Hyperparameter search with Ray Tune: Optuna proposes, ASHA stops the weak trials early.

The search starts from the known-good recipe (the training config it is given), so a short
search can only match or improve on it; each trial is the ordinary training loop reporting
once per epoch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tagger.config import TrainConfig, TuneConfig


@dataclass
class TuneResult:
    best_params: dict[str, Any]  # a whole TrainConfig, ready for `train_params`
    best_score: float
    trials: pd.DataFrame  # one row per trial: its params, best score, epochs run, status
    histories: dict[str, list[dict[str, float]]]  # trial id -> per-epoch metrics


def _search_space(space: dict[str, dict[str, list]]) -> dict[str, Any]:
    from ray import tune

    kinds = {"loguniform": tune.loguniform, "uniform": tune.uniform, "choice": tune.choice}
    spaces = {}
    for name, spec in space.items():
        ((kind, args),) = spec.items()
        spaces[name] = kinds[kind](args) if kind == "choice" else kinds[kind](*args)
    return spaces


def _trial(trial_params: dict[str, Any], base: dict[str, Any], data: tuple) -> None:
    from ray import tune

    from tagger.training import train  # torch: in the trial's process, not in every importer

    config = TrainConfig.model_validate({**base, **trial_params})
    train(
        config, *data, on_epoch_end=lambda epoch, metrics: tune.report({"epoch": epoch, **metrics})
    )


def tune_hyperparameters(
    base: TrainConfig,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    tune_config: TuneConfig,
) -> TuneResult:
    """Search around `base` on the Ray cluster this process reaches (or a local instance)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    base_dict = base.model_dump(mode="json")
    known_good = {name: base_dict[name] for name in tune_config.space}
    searcher = OptunaSearch(
        metric=tune_config.metric,
        mode=tune_config.mode,
        points_to_evaluate=[known_good],
        seed=tune_config.seed,
    )
    max_epochs = max([base.epochs, *tune_config.space.get("epochs", {}).get("choice", [])])
    scheduler = ASHAScheduler(
        time_attr="epoch",
        max_t=max_epochs,
        grace_period=min(tune_config.grace_period, max_epochs),
    )
    data = (list(train_texts), list(train_labels), list(val_texts), list(val_labels))
    trainable = tune.with_resources(
        tune.with_parameters(_trial, base=base_dict, data=data),
        {"cpu": tune_config.cpus_per_trial, "gpu": tune_config.gpus_per_trial},
    )
    with tempfile.TemporaryDirectory(prefix="ray-tune-") as local_storage:
        tuner = tune.Tuner(
            trainable,
            param_space=_search_space(tune_config.space),
            tune_config=tune.TuneConfig(
                metric=tune_config.metric,
                mode=tune_config.mode,
                num_samples=tune_config.num_runs,
                search_alg=ConcurrencyLimiter(searcher, max_concurrent=tune_config.max_concurrent),
                scheduler=scheduler,
            ),
            run_config=tune.RunConfig(
                storage_path=tune_config.storage_path or local_storage, verbose=1
            ),
        )
        grid = tuner.fit()
    return _summarise(grid, base_dict, tune_config)


def _summarise(grid: Any, base: dict[str, Any], tune_config: TuneConfig) -> TuneResult:
    pick = max if tune_config.mode == "max" else min
    rows, histories = [], {}
    for index, result in enumerate(grid):
        history = result.metrics_dataframe
        trial_id = str((result.metrics or {}).get("trial_id", index))
        epochs = history.to_dict("records") if history is not None else []
        histories[trial_id] = [
            {
                k: float(row[k])
                for k in ("epoch", "train_loss", "val_loss", "val_f1", "val_accuracy")
            }
            for row in epochs
        ]
        scores = [row[tune_config.metric] for row in epochs]
        rows.append(
            {
                "trial": trial_id,
                **{name: result.config[name] for name in tune_config.space},
                tune_config.metric: pick(scores) if scores else None,
                "epochs_run": len(epochs),
                "error": str(result.error) if result.error else "",
            }
        )
    trials = pd.DataFrame(rows)
    scored = trials.dropna(subset=[tune_config.metric])
    if scored.empty:
        raise RuntimeError(f"no trial finished an epoch; first error: {rows[0]['error']}")
    best_row = scored.loc[pick(scored.index, key=lambda i: scored.at[i, tune_config.metric])]
    best_params = {**base, **{name: _plain(best_row[name]) for name in tune_config.space}}
    return TuneResult(best_params, float(best_row[tune_config.metric]), trials, histories)


def _plain(value: Any) -> Any:
    """numpy scalars from the trials frame back to plain Python, for YAML and JSON."""
    return value.item() if hasattr(value, "item") else value
