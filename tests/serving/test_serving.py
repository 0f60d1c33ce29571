"""A real Bento, built from a trained bundle and served by `bentoml serve`, queried over HTTP."""

from __future__ import annotations

import pytest
import requests

from serving.service import MAX_ITEMS, to_prediction
from tagger.data import join_text

pytestmark = [pytest.mark.serving, pytest.mark.slow]


def _predict(url: str, body) -> requests.Response:
    return requests.post(f"{url}/predict", json=body, timeout=30)


def test_single_project_matches_the_in_process_prediction(server, classifier):
    title, description = "YOLO object detection", "Bounding boxes on traffic camera images."
    response = _predict(server, {"title": title, "description": description})
    assert response.status_code == 200
    (answer,) = response.json()
    expected = to_prediction(
        list(classifier.labels),
        classifier.predict_proba([join_text(title, description)])[0].tolist(),
        0.0,
    )
    assert answer["tag"] == expected.tag
    assert answer["probabilities"] == pytest.approx(expected.probabilities, abs=1e-5)


def test_a_list_of_projects_answers_in_order(server, classifier):
    projects = [
        {"title": "BERT sentiment analysis"},
        {"title": "Kubernetes serving", "description": "deploy"},
    ]
    answers = _predict(server, {"projects": projects}).json()
    texts = [join_text(p["title"], p.get("description", "")) for p in projects]
    assert [a["tag"] for a in answers] == classifier.predict(texts)
    assert all(sum(a["probabilities"].values()) == pytest.approx(1.0, abs=1e-4) for a in answers)


def test_threshold_turns_unsure_answers_into_other(server):
    (answer,) = _predict(server, {"title": "Something vague", "threshold": 1.0}).json()
    assert answer["tag"] == "other" and answer["confidence"] < 1.0


def test_metadata(server, classifier):
    info = requests.post(f"{server}/metadata", json={}, timeout=30).json()
    assert info["model"] == "project-tagger"
    assert info["zenml_model_version"] == "7"
    assert info["labels"] == list(classifier.labels)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"description": "no title"}, "projects: Field required"),
        ({"title": ""}, "string_too_short"),
        ({"title": "   "}, "string_pattern_mismatch"),
        ({"title": 42}, "string_type"),
        ({"title": "ok", "description": "x" * 5001}, "string_too_long"),
        ({"projects": []}, "too_short"),
        ({"projects": [{"title": "t"}] * (MAX_ITEMS + 1)}, "too_long"),
        ({"title": "ok", "threshold": 2}, "less_than_equal"),
    ],
)
def test_bad_requests_get_a_400_with_the_reason(server, body, reason):
    response = _predict(server, body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert _predict(server, {"title": "still serving"}).status_code == 200


def test_a_body_that_is_not_json_is_rejected(server):
    response = requests.post(
        f"{server}/predict",
        data=b"\x00not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "json_invalid" in response.json()["detail"]


def test_concurrent_requests_are_batched_and_all_answered(server, classifier):
    from concurrent.futures import ThreadPoolExecutor

    titles = [
        f"Project {i}: {'object detection' if i % 2 else 'text summarization'}" for i in range(96)
    ]
    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(lambda t: _predict(server, {"title": t}), titles))
    assert [r.status_code for r in responses] == [200] * len(titles)
    assert [r.json()[0]["tag"] for r in responses] == classifier.predict(titles)
