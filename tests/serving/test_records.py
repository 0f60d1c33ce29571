"""What the served Bento records (real HTTP to the session's `bentoml serve`), and `/feedback`."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from serving.records import FEEDBACK, PREDICTIONS, read_records

pytestmark = [pytest.mark.serving, pytest.mark.slow]


@pytest.fixture(scope="module")
def records_dir() -> Path:
    # the session's Bento runs with this environment: its default records directory
    return Path(os.environ["TAGGER_ARTIFACT_ROOT"]) / "records"


def _recorded(directory: Path, kind: str, request_id: str, count: int = 1) -> list:
    """The records of one request, once the server's writer thread has put them on disk."""
    deadline = time.monotonic() + 15
    while True:
        found = [r for r in read_records(directory, kind) if r.request_id == request_id]
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found, key=lambda r: r.item)
        time.sleep(0.1)


def _predict(server: str, body: dict, request_id: str | None = None) -> requests.Response:
    headers = {"x-request-id": request_id} if request_id else {}
    return requests.post(f"{server}/predict", json=body, headers=headers, timeout=30)


def test_every_answer_is_recorded_with_the_callers_request_id(server, records_dir):
    request_id = f"test-{uuid.uuid4().hex}"
    projects = [
        {"title": "YOLO for drones", "description": "object detection"},
        {"title": "Feature store"},
    ]
    response = _predict(server, {"projects": projects, "threshold": 0.1}, request_id)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    answers = response.json()
    records = _recorded(records_dir, PREDICTIONS, request_id, count=2)
    assert [r.item for r in records] == [0, 1]
    first = records[0]
    assert first.source == "served" and first.model_version == "7"
    assert (first.title, first.description) == ("YOLO for drones", "object detection")
    assert (first.title_length, first.description_length) == (15, 16)
    assert first.threshold == 0.1 and first.latency_ms > 0
    assert [r.tag for r in records] == [a["tag"] for a in answers]
    assert records[1].probabilities == pytest.approx(answers[1]["probabilities"])


def test_a_request_without_an_id_gets_one(server):
    response = _predict(server, {"title": "BERT sentiment"}, request_id="bad id with spaces")
    assert response.status_code == 200
    made = response.headers["x-request-id"]
    assert len(made) == 32 and made != "bad id with spaces"


def test_feedback_is_stored_beside_the_predictions(server, records_dir, classifier):
    request_id = f"test-{uuid.uuid4().hex}"
    (answer,) = _predict(server, {"title": "Kubernetes serving"}, request_id).json()
    true_tag = next(label for label in classifier.labels if label != answer["tag"])
    response = requests.post(
        f"{server}/feedback", json={"request_id": request_id, "tag": true_tag}, timeout=30
    )
    assert response.status_code == 200
    assert response.json() == {
        "request_id": request_id,
        "item": 0,
        "tag": true_tag,
        "predicted": answer["tag"],
    }
    (feedback,) = _recorded(records_dir, FEEDBACK, request_id)
    assert (feedback.tag, feedback.item) == (true_tag, 0)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"request_id": "never-answered", "tag": "mlops"}, 404, "never-answered"),
        ({"request_id": "{known}", "tag": "robotics"}, 400, "tag: Input should be"),
        ({"request_id": "{known}", "tag": "mlops", "item": 3}, 404, "no item 3"),
        ({"request_id": "{known}"}, 400, "tag: Field required"),
        ({"request_id": "{known}", "tag": "mlops", "extra": 1}, 400, "extra_forbidden"),
        ({"request_id": "", "tag": "mlops"}, 400, "string_too_short"),
        ({"request_id": "{known}", "tag": "mlops", "item": "0"}, 400, "int_type"),
    ],
)
def test_bad_feedback_is_refused_with_the_reason(server, body, status, reason):
    known = _predict(server, {"title": "Some project"}).headers["x-request-id"]
    if body.get("request_id") == "{known}":
        body = {**body, "request_id": known}
    response = requests.post(f"{server}/feedback", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}
    assert reason in response.json()["detail"]


def test_the_spec_documents_feedback(server):
    spec = requests.get(f"{server}/docs.json", timeout=30).json()
    operation = spec["paths"]["/feedback"]["post"]
    assert {"200", "400", "404"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "request_id" in str(spec["components"]["schemas"]) and body
