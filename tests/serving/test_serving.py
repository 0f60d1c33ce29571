"""A real Bento, built from a trained bundle and served by `bentoml serve`, queried over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from project.waiting import wait_for_http
from serving.package import build_bento, save_model
from serving.service import MAX_ITEMS, to_prediction
from stacks.sandbox import free_port
from tagger.config import TrainConfig
from tagger.data import join_text, split
from tagger.distributed import train_on_frames
from tagger.model import TextClassifier

pytestmark = [pytest.mark.serving, pytest.mark.slow]

BIN = Path(sys.executable).parent
REQUIREMENTS = ["torch==2.13.0", "transformers==5.23.0", "pandas==3.1.1", "scikit-learn"]


@pytest.fixture(scope="module")
def classifier(projects, tiny_params) -> TextClassifier:
    train_df, val_df, _ = split(projects, val_size=0.1, test_size=0.2, seed=11)
    return train_on_frames(TrainConfig.model_validate(tiny_params), train_df, val_df).classifier


@pytest.fixture(scope="module")
def server(classifier: TextClassifier, tmp_path_factory: pytest.TempPathFactory):
    bento = build_bento(save_model(classifier, zenml_version=7), REQUIREMENTS)
    port = free_port()
    # the server logs every request: a file, never an unread pipe that would fill up and block it
    log = tmp_path_factory.mktemp("bento") / "serve.log"
    process = subprocess.Popen(
        [BIN / "bentoml", "serve", str(bento.tag), "--port", str(port), "--host", "127.0.0.1"],
        env=os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/readyz", 180, process)
        except RuntimeError as exc:
            pytest.fail(f"{exc}: {log.read_text()[-3000:]}")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


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
        ({"description": "no title"}, "projects"),
        ({"title": ""}, "string_too_short"),
        ({"title": "   "}, "string_pattern_mismatch"),
        ({"title": 42}, "string_type"),
        ({"title": "ok", "description": "x" * 5001}, "string_too_long"),
        ({"projects": []}, "too_short"),
        ({"projects": [{"title": "t"}] * (MAX_ITEMS + 1)}, "too_long"),
        ({"title": "ok", "threshold": 2}, "less_than_equal"),
    ],
)
def test_bad_requests_get_a_4xx_with_the_reason(server, body, reason):
    response = _predict(server, body)
    assert 400 <= response.status_code < 500
    assert reason in response.text
    assert _predict(server, {"title": "still serving"}).status_code == 200


def test_a_body_that_is_not_json_is_rejected(server):
    response = requests.post(
        f"{server}/predict",
        data=b"\x00not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert 400 <= response.status_code < 500


def test_concurrent_requests_are_batched_and_all_answered(server, classifier):
    from concurrent.futures import ThreadPoolExecutor

    titles = [
        f"Project {i}: {'object detection' if i % 2 else 'text summarization'}" for i in range(96)
    ]
    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(lambda t: _predict(server, {"title": t}), titles))
    assert [r.status_code for r in responses] == [200] * len(titles)
    assert [r.json()[0]["tag"] for r in responses] == classifier.predict(titles)
