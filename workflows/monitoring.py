"""`run.py monitor`: a window of traffic measured against production's training split; alarms;
on alarm (and enough feedback) a retraining, a promotion decision and, if production changed,
a redeploy."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from project import names
from project.paths import MONITOR_CONFIG, PROJECT_ROOT, TRAIN_CONFIG
from tagger.config import RetrainPolicy
from workflows.runs import WorkflowError, output, read_config, run_pipeline

ON_ALARM = ("report", "retrain")


@dataclass
class MonitorOutcome:
    """What a monitoring command did: its report and, when it retrained, what came of it."""

    run_id: str
    report: Any  # tagger.monitoring.MonitoringReport
    retraining: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 3 if self.report.alarms else 0

    def lines(self) -> list[str]:
        report = self.report
        window = report.window
        lines = [
            f"monitoring run {self.run_id}: {report.model} v{report.model_version}, "
            f"{report.rows} answers ({window.get('labelled', 0)} with feedback) from {window.get('source')}"
        ]
        lines += list(window.get("skipped", []))
        if report.rows == 0:
            lines.append("no data: no recorded answer in the window, nothing to measure")
        lines += [n for n in report.notes if not n.startswith("no data")]
        lines += report.alarm_lines() or ([] if report.rows == 0 else ["no alarm"])
        return lines + self.messages


def parse_since(text: str) -> float:
    """`24h`, `90m`, `7d` or a number of hours."""
    units = {"m": 1 / 60, "h": 1.0, "d": 24.0}
    text = text.strip().lower()
    try:
        unit = units.get(text[-1:], 0.0)
        hours = float(text[:-1]) * unit if unit else float(text)
    except ValueError as exc:
        raise WorkflowError(f"--since {text!r}: give a duration such as 24h, 90m or 7d") from exc
    if hours <= 0:
        raise WorkflowError(f"--since {text!r}: the window must be longer than zero")
    return hours


def monitor(
    since: str | None = None,
    input_loc: str | None = None,
    retrain: bool | None = None,
    config: Path = MONITOR_CONFIG,
    train_config: Path = TRAIN_CONFIG,
    records_dir: str | None = None,
    server_url: str | None = None,
) -> MonitorOutcome:
    """Run the monitoring pipeline on the production version; retrain when asked (flag or
    `on_alarm: retrain`), an alarm fired and enough answers have feedback."""
    settings = read_config(config)
    parameters = dict(settings.get("parameters") or {})
    if since is not None:
        parameters["since_hours"] = parse_since(since)
    if input_loc is not None:
        parameters["input_loc"] = input_loc
    if records_dir is not None:
        parameters["records_dir"] = records_dir
    if server_url is not None:
        parameters["server_url"] = server_url
    on_alarm = settings.get("on_alarm", "report")
    if on_alarm not in ON_ALARM:
        raise WorkflowError(f"{config}: on_alarm {on_alarm!r} is not one of {ON_ALARM}")
    retrain = on_alarm == "retrain" if retrain is None else retrain
    policy = RetrainPolicy.model_validate(settings.get("retrain") or {})
    parameters["retrain"] = retrain
    run = run_pipeline(configured_pipeline(settings, parameters, train_config))
    outcome = MonitorOutcome(str(run.id), output(run, names.MONITORING_REPORT))
    if retrain and outcome.report.alarms:
        _retrain(run, outcome, policy, train_config)
    return outcome


def configured_pipeline(
    settings: dict[str, Any],
    parameters: dict[str, Any],
    train_config: Path = TRAIN_CONFIG,
    schedule: Any = None,
) -> Any:
    """The monitoring pipeline on the version the config names, with the training config's
    settings (the cluster's image and pods) under the monitoring config's own."""
    from zenml import Model
    from zenml.utils.dict_utils import recursive_update

    from pipelines import monitoring_pipeline

    model = settings["model"]
    cluster = read_config(train_config).get("settings") or {}  # a fresh copy: updated in place
    return monitoring_pipeline.with_options(
        model=Model(name=model["name"], version=model.get("version", "production")),
        parameters=parameters,
        settings=recursive_update(cluster, settings.get("settings") or {}),
        schedule=schedule,
    )


def schedule(
    cron: str | None = None, config: Path = MONITOR_CONFIG, train_config: Path = TRAIN_CONFIG
) -> str:
    """Put the monitoring pipeline on the active stack's schedule (kubernetes: a CronJob that
    measures the last `schedule.since_hours` of records each time); returns the schedule's name.

    Alarms reach the stack's alerter from inside the run; a retraining stays `run.py monitor
    --retrain`'s (a person's or CI's call), since it trains, promotes and deploys from a client.
    """
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    orchestrator = Client().active_stack.orchestrator
    settings = read_config(config)
    plan = dict(settings.get("schedule") or {})
    cron = cron or plan.get("cron_expression")
    since_hours = float(plan.get("since_hours", 1))
    if not orchestrator.config.is_schedulable:
        raise WorkflowError(
            f"the {orchestrator.flavor} orchestrator of this stack runs no schedules; on this "
            f"machine add a cron line instead: `{cron or '0 * * * *'} cd {PROJECT_ROOT} && "
            f"{Path(sys.executable)} run.py monitor --since {since_hours:g}h`"
        )
    if not cron:
        raise WorkflowError(f"{config}: no schedule.cron_expression and no --schedule given")
    parameters = dict(settings.get("parameters") or {})
    parameters |= {"since_hours": since_hours, "retrain": False}
    name = plan.get("name", "project-tagger-monitoring")
    pipeline = configured_pipeline(
        settings, parameters, train_config, Schedule(name=name, cron_expression=cron)
    )
    pipeline()
    return name


def _retrain(run: Any, outcome: MonitorOutcome, policy: RetrainPolicy, train_config: Path) -> None:
    from workflows import deployment, training

    artifact = _output_version(run, names.RETRAINING_DATASET)
    feedback = int(artifact.run_metadata.get("dataset", {}).get("feedback_rows", 0))
    if feedback < policy.min_feedback:
        outcome.messages.append(
            f"not retrained: {feedback} new labelled answers with texts, "
            f"fewer than retrain.min_feedback {policy.min_feedback}"
        )
        return
    outcome.retraining = training.train(train_config, dataset_artifact_id=str(artifact.id))
    stage = outcome.retraining["stage"]
    number = outcome.retraining["model_version"]
    outcome.messages.append(
        f"retrained on {artifact.name} v{artifact.version} ({feedback} feedback rows): "
        f"version {number} is {stage or 'not staged'}"
    )
    if stage == "production" and policy.redeploy:
        outcome.deployment = deployment.deploy("production")
        outcome.messages.append(f"redeployed: {outcome.deployment['endpoint']}")
    elif stage == "production":
        outcome.messages.append("not redeployed (retrain.redeploy is false)")
    else:
        outcome.messages.append("production unchanged: nothing redeployed")


def _output_version(run: Any, name: str) -> Any:
    for step in run.steps.values():
        if name in step.outputs:
            return step.outputs[name][0]
    raise WorkflowError(f"run {run.name} produced no artifact named {name!r}")
