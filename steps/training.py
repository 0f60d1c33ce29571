"""The training step: the core loop, with epoch metrics streamed to the stack's MLflow tracker."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from zenml import ArtifactConfig, step
from zenml.enums import ArtifactType

from steps.metadata import record_on_output
from tagger.distributed import Scaling
from tagger.model import TextClassifier
from tagger.training import TrainConfig, train_on_frames


def _log_epoch(epoch: int, metrics: dict[str, float]) -> None:
    mlflow.log_metrics(metrics, step=epoch)


@step(experiment_tracker=True)
def train_model(
    train_set: pd.DataFrame,
    val_set: pd.DataFrame,
    params: dict[str, Any] | None = None,
    scaling: dict[str, Any] | None = None,
) -> Annotated[TextClassifier, ArtifactConfig(name="classifier", artifact_type=ArtifactType.MODEL)]:
    """Fine-tune the classifier; `params` are `TrainConfig` fields, `scaling` are `Scaling`
    fields (Ray Train when `num_workers > 1` or `use_ray`); unknown keys are an error."""
    config = TrainConfig.from_dict(params or {})
    workers = Scaling.from_dict(scaling)
    mlflow.log_params(config.to_dict() | {"num_workers": workers.num_workers})
    result = train_on_frames(config, train_set, val_set, on_epoch_end=_log_epoch, scaling=workers)
    best = result.history[result.best_epoch - 1]
    record_on_output(
        {
            "training": {
                "base_model": config.base_model,
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "val_f1": best["val_f1"],
                "val_loss": best["val_loss"],
                "samples_per_second": result.samples_per_second,
                "params": config.to_dict(),
                "ray_train_workers": workers.num_workers if workers.distributed else 0,
            },
            "mlflow_run_id": mlflow.active_run().info.run_id,
        }
    )
    return result.classifier
