"""Shadow and canary rollouts: one real Bento holding two versions' bundles, served by
`bentoml serve`, queried over HTTP; its request records read back as `run.py rollout-status` does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from serving.package import build_bento, save_model
from serving.rollout import VERSION_HEADER, bucket
from stacks.sandbox import serve_bento
from tagger.data import LABELS, join_text
from tagger.inference import choose_tag
from tagger.model import TextClassifier
from tests.serving.conftest import REQUIREMENTS
from workflows.rollout import rollout_status

pytestmark = pytest.mark.serving

PRODUCTION, CANDIDATE = "3", "4"


@pytest.fixture(scope="module")
def bundles(classifier: TextClassifier, tiny_model_dir: Path) -> dict[str, TextClassifier]:
    """Production: the session's trained bundle; candidate: an untrained one (answers differ)."""
    return {
        PRODUCTION: classifier,
        CANDIDATE: TextClassifier.from_base(str(tiny_model_dir), LABELS, 64),
    }


def _serve(bundles, strategy: str, fraction: float, directory: Path):
    production = save_model(bundles[PRODUCTION], zenml_version=int(PRODUCTION))
    candidate = save_model(bundles[CANDIDATE], zenml_version=int(CANDIDATE))
    bento = build_bento(production, REQUIREMENTS, candidate, strategy, fraction)
    env = {**os.environ, "TAGGER_RECORD_DIRECTORY": str(directory / "records")}
    return serve_bento(str(bento.tag), directory / "serve.log", env)


def _local_tag(bundle: TextClassifier, project: dict) -> str:
    row = bundle.predict_proba([join_text(project["title"], project["description"])])[0]
    return choose_tag(list(bundle.labels), row.tolist(), 0.0)[0]


def _records(directory: Path, wanted: int) -> dict:
    """rollout-status of the records once `wanted` projects are on disk (written off the path)."""
    deadline = time.monotonic() + 30
    while True:
        status = rollout_status(directory / "records")
        scored = sum(v["projects_scored"] for v in status["versions"].values())
        if scored >= wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _projects(projects, n: int) -> list[dict]:
    rows = projects.drop_duplicates("title").head(n)
    return [
        {"title": t, "description": d}
        for t, d in zip(rows["title"], rows["description"].fillna(""), strict=True)
    ]


def test_shadow_answers_with_production_and_records_both(bundles, projects, tmp_path):
    sent = _projects(projects, 20)
    with _serve(bundles, "shadow", 0.1, tmp_path) as served:
        meta = requests.post(f"{served.url}/metadata", json={}, timeout=30).json()
        assert meta["rollout"]["strategy"] == "shadow"
        assert meta["rollout"]["candidate_zenml_version"] == CANDIDATE
        for i, project in enumerate(sent):
            answer = requests.post(
                f"{served.url}/predict",
                json=project,
                headers={"x-request-id": f"s-{i}"},
                timeout=30,
            )
            assert answer.status_code == 200
            assert answer.headers[VERSION_HEADER] == PRODUCTION
            assert answer.json()[0]["tag"] == _local_tag(bundles[PRODUCTION], project)
        status = _records(tmp_path, 2 * len(sent))
    production, candidate = status["versions"][PRODUCTION], status["versions"][CANDIDATE]
    assert production["requests_answered"] == len(sent) and production["requests_shadowed"] == 0
    assert candidate["requests_answered"] == 0 and candidate["requests_shadowed"] == len(sent)
    agreeing = sum(
        _local_tag(bundles[PRODUCTION], p) == _local_tag(bundles[CANDIDATE], p) for p in sent
    )
    assert candidate["agreement"] == pytest.approx(agreeing / len(sent), abs=1e-4)


def test_canary_splits_by_a_stable_hash_of_the_request(bundles, projects, tmp_path):
    fraction = 0.5
    sent = _projects(projects, 200)
    answered: dict[str, str] = {}
    with _serve(bundles, "canary", fraction, tmp_path) as served:
        for i, project in enumerate(sent):
            answer = requests.post(
                f"{served.url}/predict",
                json=project,
                headers={"x-request-id": f"c-{i}"},
                timeout=30,
            )
            assert answer.status_code == 200
            version = answer.headers[VERSION_HEADER]
            assert version == (CANDIDATE if bucket(f"c-{i}") < fraction else PRODUCTION)
            assert answer.json()[0]["tag"] == _local_tag(bundles[version], project)
            answered[f"c-{i}"] = version
        # the same request, the same version: by its request id, and by its text without one
        for i in range(0, 200, 20):
            again = requests.post(
                f"{served.url}/predict",
                json=sent[i],
                headers={"x-request-id": f"c-{i}"},
                timeout=30,
            )
            assert again.headers[VERSION_HEADER] == answered[f"c-{i}"]
        by_text = {
            requests.post(f"{served.url}/predict", json=sent[7], timeout=30).headers[VERSION_HEADER]
            for _ in range(5)
        }
        assert len(by_text) == 1
        status = _records(tmp_path, 200 + 10 + 5)
    counts = {v: list(answered.values()).count(v) for v in (PRODUCTION, CANDIDATE)}
    assert counts[PRODUCTION] > 50 and counts[CANDIDATE] > 50
    versions = status["versions"]
    # repeated request ids count once; the five requests without one each got their own id
    assert (
        versions[PRODUCTION]["requests_answered"] + versions[CANDIDATE]["requests_answered"] == 205
    )
    assert (
        versions[PRODUCTION]["requests_shadowed"] == versions[CANDIDATE]["requests_shadowed"] == 0
    )
    repeated_by_text = by_text.pop()
    for version in (PRODUCTION, CANDIDATE):
        assert versions[version]["requests_answered"] == counts[version] + (
            5 if version == repeated_by_text else 0
        )
