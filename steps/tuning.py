"""The tuning step: a Ray Tune search, every trial recorded as a nested MLflow run."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from zenml import step

from steps.metadata import record
from tagger.data import LABEL_COLUMN, texts_of
from tagger.training import TrainConfig
from tagger.tuning import TuneConfig, TuneResult, tune_hyperparameters


def _log_trials(result: TuneResult, metric: str) -> None:
    for row in result.trials.to_dict("records"):
        with mlflow.start_run(run_name=f"trial-{row['trial']}", nested=True):
            mlflow.log_params({k: v for k, v in row.items() if k not in (metric, "trial")})
            for epoch in result.histories[row["trial"]]:
                metrics = {k: v for k, v in epoch.items() if k != "epoch"}
                mlflow.log_metrics(metrics, step=int(epoch["epoch"]))
    mlflow.log_metric(f"best_{metric}", result.best_score)


@step(experiment_tracker=True, enable_cache=False)
def tune_hyperparameters_step(
    train_set: pd.DataFrame,
    val_set: pd.DataFrame,
    train_params: dict[str, Any] | None = None,
    tune_params: dict[str, Any] | None = None,
) -> tuple[
    Annotated[dict[str, Any], "best_train_params"],
    Annotated[pd.DataFrame, "tuning_trials"],
]:
    """Search around `train_params` (the known-good recipe); the best whole training config is
    an artifact that `python run.py train --config-from-tune RUN` feeds back into training."""
    tune_config = TuneConfig.from_dict(tune_params)
    result = tune_hyperparameters(
        TrainConfig.from_dict(train_params or {}),
        texts_of(train_set),
        train_set[LABEL_COLUMN].tolist(),
        texts_of(val_set),
        val_set[LABEL_COLUMN].tolist(),
        tune_config,
    )
    _log_trials(result, tune_config.metric)
    record(
        {
            "tuning": {
                "trials": len(result.trials),
                "metric": tune_config.metric,
                "best_score": result.best_score,
                "best_params": {k: result.best_params[k] for k in tune_config.space},
            }
        }
    )
    return result.best_params, result.trials
