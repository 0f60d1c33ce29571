"""Monitoring steps: the window of recorded traffic (or an input file), its report against the
production version's training split, the alarms sent to the stack's alerter, and the dataset a
retraining would use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, step
from zenml.logger import get_logger

from materializers import HashedDataFrameMaterializer, MonitoringReportMaterializer
from project import names
from steps.data import describe
from steps.metadata import record_on_output
from tagger.config import MonitorPolicy
from tagger.model import TextClassifier
from tagger.monitoring import MonitoringReport

logger = get_logger(__name__)


@step(enable_cache=False)
def load_window(
    records_dir: str | None = None, since_hours: float | None = 24.0, input_loc: str | None = None
) -> tuple[
    Annotated[pd.DataFrame, names.MONITORING_WINDOW],
    Annotated[dict[str, Any], names.MONITORING_WINDOW_INFO],
]:
    """The recorded answers of the last `since_hours` (with their feedback), or the projects of
    `input_loc` (CSV or JSON; a `tag` column counts as feedback). Corrupt lines and unreadable
    files are skipped, each named in the window's `skipped` and the log."""
    from project.paths import PROJECT_ROOT
    from serving.records import FEEDBACK, PREDICTIONS, Recording, now, read_records
    from tagger import data
    from tagger.monitoring import input_frame, window_frame

    if input_loc:
        if input_loc.endswith(".json"):
            frame = input_frame(pd.read_json(input_loc))
        else:
            frame = input_frame(data.read_csv(input_loc))
        info: dict[str, Any] = {"source": input_loc, "rows": len(frame), "skipped": []}
        return frame, info
    directory = Path(records_dir) if records_dir else Recording.from_env(PROJECT_ROOT).directory
    until = now()
    since = until - timedelta(hours=since_hours) if since_hours else None
    skipped: list[str] = []
    predictions = [
        r.model_dump()
        for r in read_records(directory, PREDICTIONS, skipped)
        if since is None or r.time >= since
    ]
    feedback = [r.model_dump() for r in read_records(directory, FEEDBACK, skipped)]
    frame = window_frame(predictions, feedback)
    info = {
        "source": str(directory),
        "since": since.isoformat() if since else None,
        "until": until.isoformat(),
        "rows": len(frame),
        "skipped": skipped,
    }
    for warning in skipped:
        logger.warning(warning)
    return frame, info


@step(experiment_tracker=True, output_materializers=MonitoringReportMaterializer)
def measure_window(
    window: pd.DataFrame,
    window_info: dict[str, Any],
    train_set: pd.DataFrame,
    val_set: pd.DataFrame,
    classifier: TextClassifier,
    policy: MonitorPolicy = MonitorPolicy(),
    server_url: str | None = None,
) -> Annotated[MonitoringReport, names.MONITORING_REPORT]:
    """The window against the production version's training split (its confidence against the
    validation split, rows the model never learnt from); metrics to MLflow."""
    import mlflow

    from tagger.monitoring import measure, server_metrics

    version = get_step_context().model_version
    server = server_metrics(server_url) if server_url else None
    report = measure(
        window,
        train_set,
        classifier,
        policy,
        window_info,
        version.model.name if version else "",
        version.number if version else None,
        server,
        val_set,
    )
    mlflow.log_metrics(report.metrics())
    for line in report.alarm_lines() or ["no alarm"]:
        logger.info(line)
    for note in report.notes:
        logger.info(note)
    return report


@step(enable_cache=False)
def notify_alarms(report: MonitoringReport) -> Annotated[list[str], names.ALARMS]:
    """One message to the stack's alerter when the window raised alarms (none: the log only)."""
    from zenml.client import Client

    lines = report.alarm_lines()
    if not lines:
        return []
    alerter = Client().active_stack.alerter
    message = (
        f"{report.model} v{report.model_version}: {len(lines)} monitoring alarm(s) on "
        f"{report.rows} answers ({report.window.get('source')})\n" + "\n".join(lines)
    )
    if alerter is None:
        logger.warning("no alerter on this stack; alarms:\n%s", message)
    else:
        alerter.post(message)
    return lines


@step(output_materializers=HashedDataFrameMaterializer)
def build_retraining_set(
    dataset: pd.DataFrame, window: pd.DataFrame
) -> Annotated[pd.DataFrame, names.RETRAINING_DATASET]:
    """The production version's dataset plus every answer with feedback (texts recorded), the
    true tag as label; a project already in the dataset keeps the dataset's row."""
    from tagger.data import LABEL_COLUMN

    labelled = window[window["true_tag"].notna() & window["title"].notna()]
    rows = pd.DataFrame(
        {
            "id": [
                f"feedback-{r}-{i}"
                for r, i in zip(labelled["request_id"], labelled["item"], strict=True)
            ],
            "created_on": pd.to_datetime(labelled.get("time"), utc=True, errors="coerce")
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .fillna(""),
            "title": labelled["title"].astype(str),
            "description": labelled["description"].fillna("").astype(str),
            LABEL_COLUMN: labelled["true_tag"].astype(str),
        }
    )
    key = ["title", "description"]
    rows = rows.drop_duplicates(subset=key, keep="last")
    known = dataset[key].fillna("").astype(str).agg("\n".join, axis=1)
    rows = rows[~rows[key].agg("\n".join, axis=1).isin(set(known))]
    combined = pd.concat([dataset.astype({"id": str}), rows], ignore_index=True)
    version = get_step_context().model_version
    source = (
        f"retraining: {version.model.name} v{version.number} dataset" if version else "retraining"
    )
    info = describe(combined, f"{source} + {len(rows)} feedback rows")
    info["feedback_rows"] = len(rows)
    record_on_output({"dataset": info})
    return combined
