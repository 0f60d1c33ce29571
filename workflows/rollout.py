"""`run.py rollout-status`: what each served version did with the requests it saw, from the
request records (`serving.records`): answered and shadowed counts, agreement with the version that
answered (shadow), mean confidence and, where feedback came back, live accuracy and weighted F1
(as the monitoring report scores them). `run.py promote` shows the same rows as online evidence."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def records_dir() -> Path:
    """Where the deployed service writes its records (`TAGGER_RECORD_DIRECTORY`, else under
    `TAGGER_ARTIFACT_ROOT`, else `.artifacts/records` in the project the deployer serves from)."""
    from project.paths import PROJECT_ROOT
    from serving.records import Recording

    return Recording.from_env(PROJECT_ROOT).directory


def rollout_status(directory: Path | None = None) -> dict[str, Any]:
    """Per version (ZenML version number) over every served record in `directory` (default:
    `records_dir()`)."""
    import pandas as pd

    from serving.records import FEEDBACK, PREDICTIONS, read_records
    from tagger.monitoring import live_scores

    directory = records_dir() if directory is None else directory
    warnings: list[str] = []
    served = [r for r in read_records(directory, PREDICTIONS, warnings) if r.source == "served"]
    truth = {(f.request_id, f.item): f.tag for f in read_records(directory, FEEDBACK, warnings)}
    answers = {(r.request_id, r.item): r for r in served if r.answered_by is None}

    arms: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for record in served:
        arm = arms[record.model_version or "-"]
        key = (record.request_id, record.item)
        arm["shadowed" if record.answered_by else "answered"].append(record.request_id)
        arm["confidence"].append(record.confidence)
        if record.answered_by and key in answers:
            arm["agrees"].append(answers[key].tag == record.tag)
        if key in truth:
            arm["true"].append(truth[key])
            arm["predicted"].append(record.tag)
    versions = {}
    for version, arm in sorted(arms.items()):
        labelled = pd.DataFrame({"true_tag": arm["true"], "tag": arm["predicted"]}, dtype=str)
        feedback, accuracy, f1 = live_scores(labelled)
        versions[version] = {
            "requests_answered": len(set(arm["answered"])),
            "requests_shadowed": len(set(arm["shadowed"])),
            "projects_scored": len(arm["confidence"]),
            "mean_confidence": round(sum(arm["confidence"]) / len(arm["confidence"]), 4),
            "agreement": round(sum(arm["agrees"]) / len(arm["agrees"]), 4)
            if arm["agrees"]
            else None,
            "feedback": feedback,
            "live_accuracy": None if accuracy is None else round(accuracy, 4),
            "live_f1": None if f1 is None else round(f1, 4),
        }
    return {"records": str(directory), "versions": versions, "warnings": warnings}


def status_table(status: dict[str, Any]) -> list[str]:
    header = "version  answered  shadowed  agreement  mean conf  feedback  live acc  live F1"
    lines = [header]
    for version, row in status["versions"].items():

        def show(value: Any) -> str:
            return "-" if value is None else str(value)

        lines.append(
            f"{version:<8} {row['requests_answered']:>8}  {row['requests_shadowed']:>8}  "
            f"{show(row['agreement']):>9}  {row['mean_confidence']:>9}  {row['feedback']:>8}  "
            f"{show(row['live_accuracy']):>8}  {show(row['live_f1']):>7}"
        )
    if len(lines) == 1:
        lines.append(f"no served requests recorded in {status['records']}")
    return lines + [f"warning: {w}" for w in status["warnings"]]
