"""The training step: the core loop, with epoch metrics streamed to the stack's MLflow tracker."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from zenml import ArtifactConfig, step
from zenml.enums import ArtifactType

from project import names
from steps.metadata import record_on_output
from tagger.config import Scaling, TrainConfig
from tagger.model import TextClassifier


def _log_epoch(epoch: int, metrics: dict[str, float]) -> None:
    mlflow.log_metrics(metrics, step=epoch)


@step(experiment_tracker=True)
def train_model(
    train_set: pd.DataFrame,
    val_set: pd.DataFrame,
    params: TrainConfig = TrainConfig(),
    scaling: Scaling = Scaling(),
) -> Annotated[
    TextClassifier, ArtifactConfig(name=names.CLASSIFIER, artifact_type=ArtifactType.MODEL)
]:
    """Fine-tune the classifier, on Ray Train workers when `scaling` asks for them."""
    # torch and transformers load here, when the step runs: a cached run only defines the step
    from tagger.distributed import train_on_frames

    recipe = params.model_dump(mode="json")
    mlflow.log_params(recipe | {"num_workers": scaling.num_workers})
    result = train_on_frames(params, train_set, val_set, scaling, on_epoch_end=_log_epoch)
    best = result.history[result.best_epoch - 1]
    record_on_output(
        {
            "training": {
                "base_model": params.base_model,
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "val_f1": best["val_f1"],
                "val_loss": best["val_loss"],
                "samples_per_second": result.samples_per_second,
                "params": recipe,
                "ray_train_workers": scaling.num_workers if scaling.distributed else 0,
                "trainings": result.members,  # a seed ensemble's every training
            },
            "mlflow_run_id": mlflow.active_run().info.run_id,
        }
    )
    return result.classifier
