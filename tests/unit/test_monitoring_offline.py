"""Monitoring without a server: the record writer and reader, the checks and drift tests on a
tiny model, the server-metrics parser, and the local stacks' file alerter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.records import (
    FEEDBACK,
    PREDICTIONS,
    FeedbackRecord,
    PredictionRecord,
    Recorder,
    Recording,
    now,
    read_records,
    record_files,
)
from tagger.config import MonitorPolicy
from tagger.data import LABELS
from tagger.model import TextClassifier
from tagger.monitoring import Check, judge_drift, measure, parse_server_metrics, window_frame


def _record(request_id: str, item: int = 0, tag: str = "mlops") -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        item=item,
        time=now(),
        title_length=5,
        description_length=0,
        title="title",
        description="",
        tag=tag,
        confidence=0.9,
        probabilities=dict.fromkeys(LABELS, 0.25),
    )


def test_records_rotate_within_their_bound_and_read_back(tmp_path: Path):
    settings = Recording(directory=tmp_path, max_bytes=4000, backup_count=2)
    recorder = Recorder(settings, "unit")
    for i in range(300):
        recorder.write(PREDICTIONS, [_record(f"r{i}")])
    recorder.flush()
    files = record_files(tmp_path, PREDICTIONS)
    assert len(files) == 3  # the live file and two rotated ones, the oldest dropped
    assert all(f.stat().st_size <= 4000 for f in files)
    kept = [r.request_id for r in read_records(tmp_path, PREDICTIONS)]
    assert kept[-1] == "r299" and "r0" not in kept


def test_texts_can_be_left_out(tmp_path: Path):
    recorder = Recorder(Recording(directory=tmp_path, texts=False), "unit")
    recorder.write(PREDICTIONS, [_record("r1")])
    recorder.flush()
    line = json.loads(record_files(tmp_path, PREDICTIONS)[0].read_text())
    assert "title" not in line and line["title_length"] == 5


def test_recording_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    recorder = Recorder(Recording(directory=blocked), "unit")
    recorder.write(PREDICTIONS, [_record("r1")])  # no exception
    assert "not recorded" in caplog.text


def test_corrupt_lines_and_files_are_skipped_and_named(tmp_path: Path):
    recorder = Recorder(Recording(directory=tmp_path), "unit")
    recorder.write(PREDICTIONS, [_record("a"), _record("b")])
    recorder.flush()
    live = record_files(tmp_path, PREDICTIONS)[0]
    live.write_text(live.read_text() + "{cut off\n")
    (tmp_path / PREDICTIONS / "predictions.bad.jsonl").write_bytes(b"\xff\xfe\x00")
    warnings: list[str] = []
    assert [r.request_id for r in read_records(tmp_path, PREDICTIONS, warnings)] == ["a", "b"]
    assert len(warnings) == 2
    assert any("predictions.bad.jsonl" in w for w in warnings)
    assert any("1 corrupt line(s)" in w and live.name in w for w in warnings)


def test_the_window_takes_each_answers_latest_feedback():
    predictions = [_record("a", 0).model_dump(), _record("a", 1).model_dump()]
    feedback = [
        FeedbackRecord(request_id="a", item=1, tag="other", time=now()).model_dump(),
        FeedbackRecord(request_id="a", item=1, tag="mlops", time=now()).model_dump(),
    ]
    frame = window_frame(predictions, feedback)
    assert frame["true_tag"].isna().tolist() == [True, False]
    assert frame["true_tag"].iloc[1] == "mlops"
    assert frame["p_mlops"].tolist() == [0.25, 0.25]


def test_bonferroni_and_minimum_effect():
    policy = MonitorPolicy(alpha=0.05, min_ks=0.2)
    checks = [
        Check("a", "input", 1.0, 1.0, "ks", p_value=0.03, effect=0.5),  # 0.03 > 0.05 / 2 tests
        Check("b", "input", 1.0, 1.0, "ks", p_value=0.001, effect=0.1),  # effect too small
    ]
    assert [c.alarm for c in judge_drift(checks, policy)] == [False, False]
    checks[1] = Check("b", "input", 1.0, 1.0, "ks", p_value=0.001, effect=0.3)
    assert [c.alarm for c in judge_drift(checks, policy)] == [False, True]


@pytest.fixture(scope="module")
def untrained(tiny_model_dir: Path) -> TextClassifier:
    return TextClassifier.from_base(str(tiny_model_dir), LABELS, max_length=64)


def _served(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as the window has them before predictions (an input batch)."""
    from tagger.monitoring import input_frame

    return input_frame(frame)


def test_same_data_no_alarm_longer_texts_alarm(projects: pd.DataFrame, untrained: TextClassifier):
    shuffled = projects.sample(frac=1.0, random_state=0)
    reference, current = shuffled.iloc[:300], shuffled.iloc[300:400]
    # an untrained head is unsure of everything: only the drift tests are the point here
    policy = MonitorPolicy(permutations=100, max_low_confidence_share=1.0, min_live_f1=0.0)
    report = measure(_served(current), reference, untrained, policy, {"rows": 100}, "m", 1)
    assert report.alarms == [], report.alarm_lines()
    names = {c.name for c in report.checks}
    assert {
        "title_length",
        "rare_token_share",
        "embedding_mean_shift",
        "predicted_tag_mix",
    } <= names

    longer = current.assign(description=(current["description"] + " ") * 8)
    report = measure(_served(longer), reference, untrained, policy, {"rows": 100}, "m", 1)
    assert "description_length" in {c.name for c in report.alarms}
    assert report.to_dict()["checks"] and report.metrics()["alarms"] >= 1


def test_confidence_is_compared_with_the_validation_split(
    projects: pd.DataFrame, untrained: TextClassifier
):
    from tagger.monitoring import texts

    train, val, current = projects.iloc[:200], projects.iloc[200:260], projects.iloc[300:360]
    policy = MonitorPolicy(permutations=50)
    report = measure(_served(current), train, untrained, policy, {"rows": 60}, "m", 1, None, val)
    confidence = next(c for c in report.checks if c.name == "confidence")
    on_val = untrained.predict_proba(texts(_served(val))).max(axis=1).mean()
    assert confidence.reference == pytest.approx(on_val)
    without = measure(_served(current), train, untrained, policy, {"rows": 60}, "m", 1)
    on_train = next(c for c in without.checks if c.name == "confidence").reference
    assert on_train == pytest.approx(untrained.predict_proba(texts(_served(train))).max(1).mean())


def test_an_empty_window_is_no_data(projects: pd.DataFrame, untrained: TextClassifier):
    empty = window_frame([], [])
    report = measure(empty, projects.head(50), untrained, MonitorPolicy(), {"rows": 0}, "m", 1)
    assert report.rows == 0 and report.alarms == []
    assert report.notes == ["no data: the window holds no recorded answer"]


def test_server_metrics_from_bentoml_prometheus_text():
    text = "\n".join(
        [
            "# TYPE bentoml_api_server_request_total counter",
            'bentoml_api_server_request_total{endpoint="/predict",http_response_code="200"} 95.0',
            'bentoml_api_server_request_total{endpoint="/predict",http_response_code="500"} 5.0',
            'bentoml_api_server_request_total{endpoint="/readyz",http_response_code="200"} 50.0',
            "# TYPE bentoml_api_server_request_duration_seconds histogram",
            'bentoml_api_server_request_duration_seconds_bucket{endpoint="/predict",le="0.1"} 50.0',
            'bentoml_api_server_request_duration_seconds_bucket{endpoint="/predict",le="0.5"} 96.0',
            'bentoml_api_server_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"} 100.0',
        ]
    )
    found = parse_server_metrics(text)
    assert found["requests"] == 100 and found["error_rate"] == pytest.approx(0.05)
    assert found["latency_p50_ms"] == pytest.approx(100) and found["latency_p95_ms"] == 500
    assert "latency_p99_ms" not in found  # beyond the last finite bucket: unknown


def test_the_local_stack_alerter_writes_to_its_file(zenml_stack):
    from zenml.client import Client

    alerter = Client().active_stack.alerter
    assert alerter is not None and alerter.flavor == "file"
    assert alerter.post("drift on title_length") is True
    lines = (Path(os.environ["TAGGER_ARTIFACT_ROOT"]) / "alerts.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["message"] == "drift on title_length"


def test_embedding_test_sees_a_shift_and_not_noise():
    from tagger.monitoring import embedding_check

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, 8))
    policy = MonitorPolicy(permutations=200)
    assert embedding_check(reference, rng.normal(size=(80, 8)), policy).p_value > 0.05
    assert embedding_check(reference, rng.normal(0.5, 1, size=(80, 8)), policy).p_value < 0.01
    assert FEEDBACK == "feedback"
