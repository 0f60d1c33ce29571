"""The tuning step: a Ray Tune search, every trial recorded as a nested MLflow run."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from zenml import step

from project import names
from steps.metadata import record
from tagger import tuning
from tagger.config import TrainConfig, TuneConfig
from tagger.data import LABEL_COLUMN, texts_of


def _log_trials(result: tuning.TuneResult, metric: str) -> None:
    for row in result.trials.to_dict("records"):
        with mlflow.start_run(run_name=f"trial-{row['trial']}", nested=True):
            mlflow.log_params({k: v for k, v in row.items() if k not in (metric, "trial")})
            for epoch in result.histories[row["trial"]]:
                metrics = {k: v for k, v in epoch.items() if k != "epoch"}
                mlflow.log_metrics(metrics, step=int(epoch["epoch"]))
    mlflow.log_metric(f"best_{metric}", result.best_score)


@step(experiment_tracker=True, enable_cache=False)
def tune_hyperparameters(
    train_set: pd.DataFrame,
    val_set: pd.DataFrame,
    train_params: TrainConfig = TrainConfig(),
    tune_params: TuneConfig = TuneConfig(),
) -> tuple[
    Annotated[dict[str, Any], names.BEST_TRAIN_PARAMS],
    Annotated[pd.DataFrame, names.TUNING_TRIALS],
]:
    """Search around `train_params` (the known-good recipe); the best whole training config is
    an artifact that `python run.py train --config-from-tune RUN` feeds back into training."""
    result = tuning.tune_hyperparameters(
        train_params,
        texts_of(train_set),
        train_set[LABEL_COLUMN].tolist(),
        texts_of(val_set),
        val_set[LABEL_COLUMN].tolist(),
        tune_params,
    )
    _log_trials(result, tune_params.metric)
    record(
        {
            "tuning": {
                "trials": len(result.trials),
                "metric": tune_params.metric,
                "best_score": result.best_score,
                "best_params": {k: result.best_params[k] for k in tune_params.space},
            }
        }
    )
    return result.best_params, result.trials
