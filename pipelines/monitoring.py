"""Recorded traffic (or an input file) -> report against production's training split -> alarms
to the stack's alerter (-> the dataset a retraining would use), attached to the production version."""

from __future__ import annotations

from zenml import get_pipeline_context, pipeline

from project import names
from steps.monitoring import build_retraining_set, load_window, measure_window, notify_alarms
from tagger.config import MonitorPolicy


@pipeline
def monitoring_pipeline(
    records_dir: str | None = None,
    since_hours: float | None = 24.0,
    input_loc: str | None = None,
    policy: MonitorPolicy = MonitorPolicy(),
    server_url: str | None = None,
    retrain: bool = False,
) -> None:
    model = get_pipeline_context().model
    window, window_info = load_window(records_dir, since_hours, input_loc)
    report = measure_window(
        window,
        window_info,
        model.get_artifact(names.TRAIN_SET),
        model.get_artifact(names.VAL_SET),
        model.get_model_artifact(names.CLASSIFIER),
        policy,
        server_url,
    )
    notify_alarms(report)
    if retrain:
        build_retraining_set(model.get_artifact(names.DATASET), window, after=report)
